"""``daofu sites …`` (placeholder until stewardship lands)."""

import typer

app = typer.Typer(help="场所数据维护 Sites: upload, review, publish, export.", no_args_is_help=True)
