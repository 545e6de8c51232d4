"""road network: a stored contraction hierarchy per version and mode replaces the stored order

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "road_network_hierarchies",
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("mode", sa.Text(), nullable=False),
        sa.Column("part", sa.Integer(), nullable=False),
        sa.Column("arcs", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("method", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["version_id"], ["road_network_versions.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("version_id", "mode", "part"),
    )
    # RoutingKit's node orders served its CCH only; versions without a hierarchy get one
    # built when the engine loads them (`daofu roads hierarchies` stores them)
    op.drop_table("road_network_orders")


def downgrade() -> None:
    op.create_table(
        "road_network_orders",
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("node_order", sa.LargeBinary(), nullable=False),
        sa.Column("method", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["version_id"], ["road_network_versions.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("version_id"),
    )
    op.drop_table("road_network_hierarchies")
