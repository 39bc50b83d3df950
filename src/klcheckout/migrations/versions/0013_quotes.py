"""quotes staff send a customer, one row per version

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30 19:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    moment = sa.DateTime(timezone=True)
    op.create_table(
        "quotes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("token_prefix", sa.String(length=8), nullable=False),
        sa.Column("token_nonce", sa.String(length=32), nullable=False),
        sa.Column("checkout_id", sa.String(length=32), nullable=False),
        sa.Column("confirm_token", sa.String(length=64), nullable=True),
        sa.Column("journey_key", sa.String(length=64), nullable=False),
        sa.Column("journey_version", sa.String(length=32), nullable=False),
        sa.Column("step_id", sa.String(length=200), nullable=False),
        sa.Column("business_entity", sa.String(length=64), nullable=False),
        sa.Column("order_channel", sa.String(length=200), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=True),
        sa.Column("partner", sa.String(length=200), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("lines", sa.JSON(), nullable=False),
        sa.Column("totals", sa.JSON(), nullable=False),
        sa.Column("shown", sa.JSON(), nullable=False),
        sa.Column("discount_percent", sa.String(length=8), nullable=False),
        sa.Column("answers", sa.JSON(), nullable=False),
        sa.Column("payment_method", sa.String(length=32), nullable=False),
        sa.Column("payment", sa.JSON(), nullable=False),
        sa.Column("seller", sa.JSON(), nullable=False),
        sa.Column("locale", sa.String(length=35), nullable=False),
        sa.Column("valid_until", moment, nullable=False),
        sa.Column("created_at", moment, nullable=False),
        sa.Column("sent_at", moment, nullable=True),
        sa.Column("viewed_at", moment, nullable=True),
        sa.Column("decided_at", moment, nullable=True),
        sa.Column("accepted_name", sa.String(length=200), nullable=True),
        sa.Column("decline_reason", sa.Text(), nullable=True),
        sa.Column("order_number", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_quotes_customer_id_customers"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["staff_id"], ["staff.id"], name=op.f("fk_quotes_staff_id_staff"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quotes")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_quotes_token_hash")),
        sa.UniqueConstraint("confirm_token", name=op.f("uq_quotes_confirm_token")),
        sa.UniqueConstraint("order_number", name=op.f("uq_quotes_order_number")),
        sa.UniqueConstraint("number", "version", name=op.f("uq_quotes_number")),
    )
    op.create_index(op.f("ix_quotes_number"), "quotes", ["number"], unique=False)
    op.create_index(op.f("ix_quotes_checkout_id"), "quotes", ["checkout_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_quotes_checkout_id"), table_name="quotes")
    op.drop_index(op.f("ix_quotes_number"), table_name="quotes")
    op.drop_table("quotes")
