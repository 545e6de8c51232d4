"""road network: roundabout flag on edges, contraction order per version (routing)

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "road_edges",
        sa.Column("roundabout", sa.Boolean(), server_default="false", nullable=False),
    )
    op.create_table(
        "road_network_orders",
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("node_order", sa.LargeBinary(), nullable=False),
        sa.Column("method", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["version_id"], ["road_network_versions.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("version_id"),
    )


def downgrade() -> None:
    op.drop_table("road_network_orders")
    op.drop_column("road_edges", "roundabout")
