"""Subscriptions: what a customer has from the recurring lines of their orders.

Placing an order creates one subscription per monthly or yearly line, in the
order's own transaction: its product, quantity, price and tax as ordered (a later
catalog change does not alter them), the billing period and the current period,
owned by the customer's account or, for a guest, by the order's email. Every
change is kept in ``subscription_history``: who, what, when, from and to.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select

from .clock import shown
from .periods import period_boundary
from .pricing import PricedLine
from .tables import subscription_history, subscriptions

#: What the customer sees of a subscription and events report, in this order.
PUBLIC = (
    "public_id",
    "email",
    "product",
    "name",
    "quantity",
    "billing",
    "currency",
    "unit_price",
    "line_total",
    "tax_rate",
    "tax",
    "status",
    "started_at",
    "current_period_start",
    "current_period_end",
)


def new_public_id() -> str:
    """``sub_`` and 96 random bits: it stands in URLs, so it must not be guessable."""
    return "sub_" + secrets.token_urlsafe(12)


def create_for_order(
    connection: Connection,
    *,
    order_id: int,
    lines: list[PricedLine],
    currency: str,
    customer_id: int | None,
    email: str,
    journey_key: str,
    business_entity: str,
    moment: datetime,
) -> list[dict[str, Any]]:
    """A subscription for each recurring line of the order, started now; their public view."""
    created = []
    for line in lines:
        billing = line.product.billing
        if billing == "one_time":
            continue
        values = {
            "public_id": new_public_id(),
            "order_id": order_id,
            "customer_id": customer_id,
            "email": email.strip().lower(),
            "journey_key": journey_key,
            "business_entity": business_entity,
            "product": line.product.id,
            "name": line.product.name,
            "quantity": line.quantity,
            "billing": billing,
            "currency": currency,
            "unit_price": str(line.unit_price),
            "line_total": str(line.line_total),
            "tax_rate": str(line.product.tax_rate),
            "tax": str(line.tax),
            "status": "active",
            "started_at": moment,
            "current_period_start": moment,
            "current_period_end": period_boundary(moment, billing, 1),
            "created_at": moment,
            "updated_at": moment,
            "version": 0,
        }
        subscription_id = connection.execute(
            insert(subscriptions).returning(subscriptions.c.id), values
        ).scalar_one()
        public = _public(values)
        connection.execute(
            insert(subscription_history),
            {
                "subscription_id": subscription_id,
                "at": moment,
                "actor": "customer",
                "action": "created",
                "before": None,
                "after": public,
                "reason": "",
            },
        )
        created.append(public)
    return created


def _public(row: Any) -> dict[str, Any]:
    """A subscription as customers, operators and events see it, times with their offset."""
    data = row if isinstance(row, dict) else dict(row._mapping)
    return {
        name: shown(data[name]) if isinstance(data[name], datetime) else data[name]
        for name in PUBLIC
    }


def find(connection: Connection, public_id: str) -> dict[str, Any] | None:
    """One subscription with its history, for operators."""
    row = connection.execute(
        select(subscriptions).where(subscriptions.c.public_id == public_id)
    ).first()
    if row is None:
        return None
    history = connection.execute(
        select(subscription_history)
        .where(subscription_history.c.subscription_id == row.id)
        .order_by(subscription_history.c.id)
    )
    return {
        **_public(row),
        "history": [
            {
                "at": shown(entry.at),
                "actor": entry.actor,
                "action": entry.action,
                "before": entry.before,
                "after": entry.after,
                "reason": entry.reason,
            }
            for entry in history
        ],
    }


def recent(
    connection: Connection, limit: int = 50, status: str | None = None, email: str | None = None
) -> list[dict[str, Any]]:
    """The newest subscriptions, for operators."""
    query = select(subscriptions).order_by(subscriptions.c.id.desc()).limit(limit)
    if status:
        query = query.where(subscriptions.c.status == status)
    if email:
        query = query.where(subscriptions.c.email == email.strip().lower())
    return [_public(row) for row in connection.execute(query)]
