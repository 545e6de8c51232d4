"""``daofu users …`` (placeholder until accounts lands)."""

import typer

app = typer.Typer(help="维护人员账户 Accounts: add, list, disable.", no_args_is_help=True)
