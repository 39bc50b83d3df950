"""Subscriptions: what a customer has from the recurring lines of their orders.

Placing an order creates one subscription per monthly or yearly line, in the
order's own transaction: its product, quantity, price and tax as ordered (a later
catalog change does not alter them), the billing period and the current period,
owned by the customer's account or, for a guest, by the order's email. Every
change is kept in ``subscription_history``: who, what, when, from and to.

A change is one ``UPDATE ... WHERE version = <the version read>``: of two requests
or workers changing the same subscription at once, exactly one does, and the
other is told it changed meanwhile (``Changed``), whatever the database.

Statuses: ``active``; ``paused`` (billing stops from the end of the period already
paid, for a number of periods, until ``resume_at``); ``cancelling`` (ends at the
end of its period, and can be reactivated until then); ``cancelled``. Periods are
always counted from the start, so a pause does not move the renewal day. Time
moves on in ``apply_due``: a period that ended is renewed (recorded, and announced
for a billing system to charge), a pause that is over resumes, a cancellation
that is due takes effect.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, and_, insert, or_, select, update

from kljourney import Shop

from . import db
from .clock import shown
from .hooks import events
from .periods import current_period, period_boundary
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
    "cancel_at",
    "cancelled_at",
    "resume_at",
)

#: How a change is announced: the event each action raises.
EVENTS = {
    "renewed": "subscription_renewed",
    "cancel_scheduled": "subscription_cancel_scheduled",
    "cancelled": "subscription_cancelled",
    "reactivated": "subscription_reactivated",
    "paused": "subscription_paused",
    "resumed": "subscription_resumed",
}


class Refused(Exception):
    """A change the subscription's state does not allow; the message says why, for people."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Changed(Refused):
    """Someone else changed the subscription since it was read: look again."""

    def __init__(self) -> None:
        super().__init__("The subscription changed meanwhile; look at it again and retry.")


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
            "cancel_at": None,
            "cancelled_at": None,
            "resume_at": None,
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


# -- changes ---------------------------------------------------------------------------------


def row_of(connection: Connection, public_id: str) -> Any:
    return connection.execute(
        select(subscriptions).where(subscriptions.c.public_id == public_id)
    ).first()


def change(
    connection: Connection,
    row: Any,
    values: dict[str, Any],
    *,
    action: str,
    actor: str,
    reason: str,
    moment: datetime,
) -> dict[str, Any]:
    """Change ``row`` (as read) to ``values`` and keep it in its history, in the caller's
    transaction; the subscription afterwards. ``Changed`` if it changed since it was read."""
    result = connection.execute(
        update(subscriptions)
        .where(subscriptions.c.id == row.id, subscriptions.c.version == row.version)
        .values(**values, updated_at=moment, version=subscriptions.c.version + 1)
    )
    if result.rowcount != 1:
        raise Changed()
    after = _public({**dict(row._mapping), **values})
    connection.execute(
        insert(subscription_history),
        {
            "subscription_id": row.id,
            "at": moment,
            "actor": actor,
            "action": action,
            "before": _public(row),
            "after": after,
            "reason": reason,
        },
    )
    return after


def cancel(
    connection: Connection,
    row: Any,
    *,
    immediately: bool,
    actor: str,
    reason: str,
    moment: datetime,
) -> tuple[str, dict[str, Any]]:
    """End a subscription now, or at the end of its period; (action, the subscription after)."""
    if row.status == "cancelled":
        raise Refused(f"{row.public_id} is cancelled already.")
    if immediately:
        values = {"status": "cancelled", "cancelled_at": moment, "cancel_at": None}
        action = "cancelled"
    elif row.status == "cancelling":
        raise Refused(f"{row.public_id} ends on {shown(row.cancel_at)} already.")
    else:  # a paused one ends with the period it paid for, or now if that is over
        ends = max(row.current_period_end, moment)
        values = {"status": "cancelling", "cancel_at": ends, "resume_at": None}
        action = "cancel_scheduled"
    after = change(
        connection, row, values, action=action, actor=actor, reason=reason, moment=moment
    )
    return action, after


def reactivate(
    connection: Connection, row: Any, *, actor: str, reason: str, moment: datetime
) -> tuple[str, dict[str, Any]]:
    """Take back a cancellation that has not taken effect yet."""
    if row.status != "cancelling":
        raise Refused(f"{row.public_id} is {row.status}: only a cancelling subscription goes on.")
    values = {"status": "active", "cancel_at": None}
    return "reactivated", change(
        connection, row, values, action="reactivated", actor=actor, reason=reason, moment=moment
    )


def pause(
    connection: Connection,
    row: Any,
    *,
    periods: int,
    actor: str,
    reason: str,
    moment: datetime,
) -> tuple[str, dict[str, Any]]:
    """Stop billing for ``periods`` periods after the one already paid; it resumes then."""
    if row.status != "active":
        raise Refused(f"{row.public_id} is {row.status}: only an active subscription pauses.")
    if not 1 <= periods <= 24:
        raise Refused(f"Pause for 1 to 24 periods, not {periods}.")
    start, end = current_period(row.started_at, row.billing, row.current_period_end)
    paid = period_index(row.started_at, row.billing, start)
    values = {
        "status": "paused",
        "resume_at": period_boundary(row.started_at, row.billing, paid + periods),
    }
    after = change(
        connection, row, values, action="paused", actor=actor, reason=reason, moment=moment
    )
    return "paused", after


def resume(
    connection: Connection, row: Any, *, actor: str, reason: str, moment: datetime
) -> tuple[str, dict[str, Any]]:
    """Bill a paused subscription again: from the period it is in now, or, if the period
    paid for before the pause is not over yet, simply from its end."""
    if row.status != "paused":
        raise Refused(f"{row.public_id} is {row.status}: only a paused subscription resumes.")
    values: dict[str, Any] = {"status": "active", "resume_at": None}
    if moment >= row.current_period_end:
        start, end = current_period(row.started_at, row.billing, moment)
        values.update(current_period_start=start, current_period_end=end)
    after = change(
        connection, row, values, action="resumed", actor=actor, reason=reason, moment=moment
    )
    return "resumed", after


def period_index(anchor: datetime, billing: str, boundary: datetime) -> int:
    """Which boundary after ``anchor`` this is (0 for the anchor)."""
    count = 0
    while period_boundary(anchor, billing, count) < boundary:
        count += 1
    return count


def announce(
    connection: Connection, shop: Shop, row: Any, action: str, subscription: dict[str, Any]
) -> None:
    """Queue the event of ``action`` for the hooks of the journey the subscription came from."""
    journey = shop.journeys.get(row.journey_key)
    if journey is None:  # the journey is gone from the files: no hook can hear of it
        return
    context = events.condition_context(journey, customer={"email": row.email})
    data = {"action": action, "subscription": subscription}
    events.enqueue(connection, journey, EVENTS[action], data, context=context)


# -- time moves on -----------------------------------------------------------------------------


def _due(moment: datetime) -> Any:
    return or_(
        and_(subscriptions.c.status == "active", subscriptions.c.current_period_end <= moment),
        and_(subscriptions.c.status == "cancelling", subscriptions.c.cancel_at <= moment),
        and_(subscriptions.c.status == "paused", subscriptions.c.resume_at <= moment),
    )


def due(connection: Connection, moment: datetime, limit: int = 500) -> list[Any]:
    """Subscriptions with something due by ``moment``: a renewal, a cancellation."""
    query = select(subscriptions).where(_due(moment)).order_by(subscriptions.c.id).limit(limit)
    return list(connection.execute(query))


def apply_due(engine: Engine, shop: Shop, moment: datetime) -> list[tuple[str, str]]:
    """Apply what is due by ``moment``, each change in a durable transaction of its own;
    (public id, action) of each change made here.

    Several workers may run this at once: each change is made by one of them
    (``change``), the others pass over it. A subscription several periods behind
    is renewed once per period, each renewal recorded and announced.
    """
    applied: list[tuple[str, str]] = []
    while True:
        with engine.connect() as connection:
            rows = due(connection, moment)
        if not rows:
            return applied
        progress = False
        for row in rows:
            try:
                with db.writing(engine) as connection:
                    action, after = _apply_one(connection, row, moment)
                    announce(connection, shop, row, action, after)
            except Changed:
                continue  # another worker got there first
            applied.append((row.public_id, action))
            progress = True
        if not progress:
            return applied


def _apply_one(connection: Connection, row: Any, moment: datetime) -> tuple[str, dict[str, Any]]:
    if row.status == "paused":  # the pause is over: billed again from its end
        start, end = current_period(row.started_at, row.billing, row.resume_at)
        values = {
            "status": "active",
            "resume_at": None,
            "current_period_start": start,
            "current_period_end": end,
        }
        action = "resumed"
    elif row.status == "cancelling":
        values = {"status": "cancelled", "cancelled_at": row.cancel_at, "cancel_at": None}
        action = "cancelled"
    else:
        start, end = current_period(row.started_at, row.billing, row.current_period_end)
        values = {"current_period_start": start, "current_period_end": end}
        action = "renewed"
    after = change(connection, row, values, action=action, actor="system", reason="", moment=moment)
    return action, after
