"""checkouts.version: a write based on an earlier read can tell the row changed since

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 15:10:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("checkouts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("checkouts", schema=None) as batch_op:
        batch_op.drop_column("version")
