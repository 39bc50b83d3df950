"""orders placed by staff on a customer's behalf, and invitations to new customers

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 17:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sign_in_links", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("purpose", sa.String(length=16), nullable=False, server_default="sign_in")
        )
    with op.batch_alter_table("checkouts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("customer_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_checkouts_customer_id_customers"),
            "customers",
            ["customer_id"],
            ["id"],
            ondelete="SET NULL",
        )
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("placed_by_staff_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("partner", sa.String(length=200), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_orders_placed_by_staff_id_staff"),
            "staff",
            ["placed_by_staff_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_orders_placed_by_staff_id_staff"), type_="foreignkey"
        )
        batch_op.drop_column("partner")
        batch_op.drop_column("placed_by_staff_id")
    with op.batch_alter_table("checkouts", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_checkouts_customer_id_customers"), type_="foreignkey"
        )
        batch_op.drop_column("customer_id")
    with op.batch_alter_table("sign_in_links", schema=None) as batch_op:
        batch_op.drop_column("purpose")
