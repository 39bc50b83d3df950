"""subscription journeys: scheduled changes, discounts, the bound subscription, sign-in links

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 08:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("scheduled_change", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("discount", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("won_back_by", sa.String(length=32), nullable=True))
    with op.batch_alter_table("checkouts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("subscription", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("applied", sa.JSON(), nullable=True))
    op.create_table(
        "sign_in_links",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("token_hash"),
    )
    op.create_table(
        "email_sessions",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("token_hash"),
    )


def downgrade() -> None:
    op.drop_table("email_sessions")
    op.drop_table("sign_in_links")
    with op.batch_alter_table("checkouts", schema=None) as batch_op:
        batch_op.drop_column("applied")
        batch_op.drop_column("subscription")
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.drop_column("won_back_by")
        batch_op.drop_column("discount")
        batch_op.drop_column("scheduled_change")
