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
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from babel.dates import format_date
from sqlalchemy import Connection, Engine, and_, insert, or_, select, update

from kljourney import Shop, i18n
from kljourney.i18n import current_locale
from kljourney.i18n import gettext as _
from kljourney.model import Discount, Journey, Product
from kljourney.money import quantize, tax_included

from . import db, discounts
from .clock import now, shown
from .hooks import events
from .periods import current_period, period_boundary
from .pricing import PricedLine
from .proration import days_between
from .tables import orders, subscription_history, subscriptions

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
    "scheduled_change",
    "discount",
)

#: How a change is announced: the event each action raises.
EVENTS = {
    "renewed": "subscription_renewed",
    "cancel_scheduled": "subscription_cancel_scheduled",
    "cancelled": "subscription_cancelled",
    "reactivated": "subscription_reactivated",
    "paused": "subscription_paused",
    "resumed": "subscription_resumed",
    "changed": "subscription_changed",
    "change_scheduled": "subscription_change_scheduled",
    "change_unscheduled": "subscription_changed",
    "discounted": "subscription_changed",
}


class Refused(Exception):
    """A change the subscription's state does not allow; the message says why, for people
    (the customer, in the language of their request; support, in the CLI)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Changed(Refused):
    """Someone else changed the subscription since it was read: look again."""

    def __init__(self) -> None:
        super().__init__(_("The subscription changed meanwhile; look at it again and retry."))


def _day(moment: datetime | str) -> str:
    """A date in a refusal: as customers read it in the language of their request
    (Babel), the ISO date for support (the CLI, which speaks no language)."""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    locale = current_locale()
    if not locale:
        return moment.date().isoformat()
    return format_date(moment.date(), format="medium", locale=locale.replace("-", "_"))


@dataclass(frozen=True)
class Owner:
    """Who may see and change subscriptions: a signed-in customer owns those of their
    account; a guest signed in by an emailed link owns those bought as a guest with
    that email (``customer_id`` None)."""

    customer_id: int | None
    email: str

    def clause(self) -> Any:
        if self.customer_id is not None:
            return subscriptions.c.customer_id == self.customer_id
        return and_(
            subscriptions.c.customer_id.is_(None),
            subscriptions.c.email == self.email.strip().lower(),
        )


def owned(connection: Connection, public_id: str, owner: Owner | None) -> Any:
    """The subscription if ``owner`` owns it; None for another's, a missing or a guessed id
    alike, so nobody learns which ids exist."""
    if owner is None or not public_id:
        return None
    return connection.execute(
        select(subscriptions).where(subscriptions.c.public_id == public_id, owner.clause())
    ).first()


def of_owner(connection: Connection, owner: Owner) -> list[Any]:
    """The owner's subscriptions, newest first."""
    query = select(subscriptions).where(owner.clause()).order_by(subscriptions.c.id.desc())
    return list(connection.execute(query.limit(200)))


def plan_of(product: Product, quantity: int, currency: str) -> dict[str, Any]:
    """A plan at today's catalog price, as a subscription keeps it (a snapshot)."""
    total = quantize(product.price * quantity, currency)
    return {
        "product": product.id,
        "name": product.name,
        "billing": product.billing,
        "unit_price": str(quantize(product.price, currency)),
        "line_total": str(total),
        "tax_rate": str(product.tax_rate),
        "tax": str(tax_included(total, product.tax_rate, currency)),
    }


def charge_of(row: Any, plan: dict[str, Any] | None = None) -> Decimal:
    """What one period of ``plan`` (default: the subscription's own) costs this subscription,
    its discount taken off if the discount covers that plan and has periods left."""
    product = plan["product"] if plan else row.product
    total = Decimal(plan["line_total"] if plan else row.line_total)
    kept = row.discount
    if discounts.covers(kept, product) and (
        kept.get("periods_left") is None or kept["periods_left"] > 0
    ):
        return discounts.reduce(total, kept, row.currency)
    return total


def next_charge(row: Any) -> Decimal:
    """What the next renewal charges: the scheduled plan's price when one takes over."""
    return charge_of(row, row.scheduled_change)


def condition_values(row: Any, moment: datetime) -> dict[str, Any]:
    """A subscription as conditions read it (README, "Conditions and rules")."""
    until = row.cancelled_at or moment
    cancelled_days = None
    if row.cancelled_at is not None:
        cancelled_days = max(0, days_between(row.cancelled_at, moment))
    return {
        "id": row.public_id,
        "status": row.status,
        "product": row.product,
        "name": row.name,
        "billing": row.billing,
        "quantity": row.quantity,
        "price": Decimal(row.line_total),
        "period_start": row.current_period_start,
        "period_end": row.current_period_end,
        "days_left": max(0, days_between(moment, row.current_period_end)),
        "months_active": months_between(row.started_at, until),
        "cancelled_days": cancelled_days,
        "paused_until": row.resume_at,
        "discount": (row.discount or {}).get("id", ""),
        "scheduled_change": (row.scheduled_change or {}).get("product", ""),
        "won_back": bool(row.won_back_by),
    }


def months_between(start: datetime, until: datetime) -> int:
    """Whole months from ``start`` to ``until``, counted like monthly renewals (``periods``):
    started January 31, a month is full on February 28."""
    if until <= start:
        return 0
    end = current_period(start, "monthly", until)[1]
    return period_index(start, "monthly", end) - 1


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
            "line_total": str(line.full_total),
            "tax_rate": str(line.product.tax_rate),
            "tax": str(tax_included(line.full_total, line.product.tax_rate, currency)),
            "status": "active",
            "started_at": moment,
            "current_period_start": moment,
            "current_period_end": period_boundary(moment, billing, 1),
            "cancel_at": None,
            "cancelled_at": None,
            "resume_at": None,
            "scheduled_change": None,
            # The first period was ordered at the reduced price: one period used.
            "discount": discounts.record(line.discount, 1) if line.discount else None,
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
        raise Refused(_("%(subscription)s is cancelled already.") % {"subscription": row.public_id})
    if immediately:
        values = {"status": "cancelled", "cancelled_at": moment, "cancel_at": None}
        action = "cancelled"
    elif row.status == "cancelling":
        raise Refused(
            _("%(subscription)s ends on %(date)s already.")
            % {"subscription": row.public_id, "date": _day(row.cancel_at)}
        )
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
        raise Refused(
            _("%(subscription)s is %(status)s: only a cancelling subscription goes on.")
            % {"subscription": row.public_id, "status": row.status}
        )
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
        raise Refused(
            _("%(subscription)s is %(status)s: only an active subscription pauses.")
            % {"subscription": row.public_id, "status": row.status}
        )
    if not 1 <= periods <= 24:
        raise Refused(_("Pause for 1 to 24 periods, not %(periods)d.") % {"periods": periods})
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
        raise Refused(
            _("%(subscription)s is %(status)s: only a paused subscription resumes.")
            % {"subscription": row.public_id, "status": row.status}
        )
    values: dict[str, Any] = {"status": "active", "resume_at": None}
    if moment >= row.current_period_end:  # a new period begins now, and is billed
        values.update(_new_period(row, *current_period(row.started_at, row.billing, moment)))
    after = change(
        connection, row, values, action="resumed", actor=actor, reason=reason, moment=moment
    )
    return "resumed", after


def _must_be_active(row: Any) -> None:
    if row.status != "active":
        raise Refused(
            _("%(subscription)s is %(status)s: only an active subscription changes plan.")
            % {"subscription": row.public_id, "status": row.status}
        )


def _must_have_no_scheduled_change(row: Any) -> None:
    if row.scheduled_change:
        change = row.scheduled_change
        raise Refused(
            _(
                "A change to %(plan)s on %(date)s is scheduled already; "
                "keep the current plan first to choose another."
            )
            % {"plan": change["name"], "date": _day(change["at"])}
        )


def _may_change_to(row: Any, plan: dict[str, Any]) -> None:
    """An active subscription changes plan, to another plan, one change at a time."""
    _must_be_active(row)
    _must_have_no_scheduled_change(row)
    if plan["product"] == row.product:
        raise Refused(
            _("%(subscription)s is on %(plan)s already.")
            % {"subscription": row.public_id, "plan": row.name}
        )


def _with_plan(row: Any, plan: dict[str, Any]) -> dict[str, Any]:
    """The values that put ``plan`` in place; a discount that does not cover it ends."""
    values = {key: plan[key] for key in ("product", "name", "unit_price", "line_total")}
    values.update(tax_rate=plan["tax_rate"], tax=plan["tax"], scheduled_change=None)
    if row.discount and not discounts.covers(row.discount, plan["product"]):
        values["discount"] = None
    return values


def change_plan(
    connection: Connection,
    row: Any,
    plan: dict[str, Any],
    *,
    actor: str,
    reason: str,
    moment: datetime,
) -> tuple[str, dict[str, Any]]:
    """Put ``plan`` in place now (what it charges or credits is the caller's order)."""
    _may_change_to(row, plan)
    values = _with_plan(row, plan)
    return "changed", change(
        connection, row, values, action="changed", actor=actor, reason=reason, moment=moment
    )


def schedule_change(
    connection: Connection,
    row: Any,
    plan: dict[str, Any],
    *,
    actor: str,
    reason: str,
    moment: datetime,
) -> tuple[str, dict[str, Any]]:
    """Put ``plan`` in place at the end of the current period; one change at a time."""
    _may_change_to(row, plan)
    values = {"scheduled_change": {**plan, "at": shown(row.current_period_end)}}
    return "change_scheduled", change(
        connection,
        row,
        values,
        action="change_scheduled",
        actor=actor,
        reason=reason,
        moment=moment,
    )


def unschedule_change(
    connection: Connection, row: Any, *, actor: str, reason: str, moment: datetime
) -> tuple[str, dict[str, Any]]:
    """Keep the current plan: the scheduled change is dropped."""
    if not row.scheduled_change:
        raise Refused(
            _("%(subscription)s has no scheduled plan change.") % {"subscription": row.public_id}
        )
    return "change_unscheduled", change(
        connection,
        row,
        {"scheduled_change": None},
        action="change_unscheduled",
        actor=actor,
        reason=reason,
        moment=moment,
    )


def give_discount(
    connection: Connection,
    row: Any,
    discount: Discount,
    *,
    actor: str,
    reason: str,
    moment: datetime,
) -> tuple[str, dict[str, Any]]:
    """Reduce the next renewals (a retention offer): ``discount.periods`` of them."""
    if row.status not in ("active", "cancelling"):
        raise Refused(
            _("%(subscription)s is %(status)s: a discount needs a running subscription.")
            % {"subscription": row.public_id, "status": row.status}
        )
    if not discounts.covers(discounts.record(discount, 0), row.product):
        raise Refused(
            _("%(discount)s does not apply to %(plan)s.")
            % {"discount": discount.name, "plan": row.name}
        )
    values = {"discount": discounts.record(discount, 0)}
    return "discounted", change(
        connection, row, values, action="discounted", actor=actor, reason=reason, moment=moment
    )


def won_back(
    connection: Connection, row: Any, *, order_number: str, new_id: str, moment: datetime
) -> dict[str, Any]:
    """Note on a cancelled subscription that its customer ordered again (the new order
    made a new subscription, ``new_id``; this one stays cancelled, and is won back once)."""
    if row.status != "cancelled":
        raise Refused(
            _("%(subscription)s is %(status)s: only a cancelled one is won back.")
            % {"subscription": row.public_id, "status": row.status}
        )
    if row.won_back_by:
        raise Refused(
            _("You ordered again already: your new subscription is %(subscription)s.")
            % {"subscription": row.won_back_by}
        )
    return change(
        connection,
        row,
        {"won_back_by": new_id},
        action="won_back",
        actor="customer",
        reason=f"ordered again: {order_number}",
        moment=moment,
    )


def period_index(anchor: datetime, billing: str, boundary: datetime) -> int:
    """Which boundary after ``anchor`` this is (0 for the anchor)."""
    count = 0
    while period_boundary(anchor, billing, count) < boundary:
        count += 1
    return count


def announce(
    connection: Connection,
    shop: Shop,
    row: Any,
    action: str,
    subscription: dict[str, Any],
    extra: dict[str, Any] | None = None,
    *,
    via: Journey | None = None,
) -> None:
    """Queue the event of ``action`` for the hooks of the journey the subscription came
    from, and of the journey the change was made in (``via``), if another."""
    heard = [shop.journeys.get(row.journey_key)]  # None: gone from the files, no hook hears
    if via is not None and via.key != row.journey_key:
        heard.append(via)
    data = {"action": action, "subscription": subscription, **(extra or {})}
    # A hook's condition reads the subscription as the change left it.
    values = {**condition_values(row, now()), "status": subscription["status"]}
    values["product"] = subscription["product"]
    for journey in heard:
        if journey is None:
            continue
        context = events.condition_context(
            journey, customer={"email": row.email}, subscription=values
        )
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
                    action, after, extra = _apply_one(connection, row, moment)
                    # Its events (and the emails of their hooks) are in the language the
                    # subscription was ordered in, though no customer is here to ask.
                    with i18n.speaking(_ordered_in(connection, row, shop)):
                        announce(connection, shop, row, action, after, extra)
            except Changed:
                continue  # another worker got there first
            applied.append((row.public_id, action))
            progress = True
        if not progress:
            return applied


def _ordered_in(connection: Connection, row: Any, shop: Shop) -> str:
    """The language of the order that created the subscription (the shop's default for
    an order from before orders recorded it)."""
    locale = connection.execute(select(orders.c.locale).where(orders.c.id == row.order_id)).scalar()
    return locale or shop.site.locale


def _new_period(row: Any, start: datetime, end: datetime) -> dict[str, Any]:
    """The values of a new period billed: its bounds, and a discount's periods counted down
    (the period is charged at the reduced price, ``charge_of``, while some are left)."""
    values: dict[str, Any] = {"current_period_start": start, "current_period_end": end}
    kept = row.discount
    if kept and kept.get("periods_left") is not None and discounts.covers(kept, row.product):
        left = kept["periods_left"] - 1
        values["discount"] = {**kept, "periods_left": left} if left > 0 else None
    return values


def billed(row: Any, after: dict[str, Any]) -> dict[str, Any]:
    """What an event adds when a change began a new period (a renewal, a pause that ended):
    the amount it charges and the period; nothing for other changes."""
    if after["current_period_start"] == shown(row.current_period_start):
        return {}
    return {
        "charged": str(charge_of(row)),
        "period": {"start": after["current_period_start"], "end": after["current_period_end"]},
    }


def _apply_one(
    connection: Connection, row: Any, moment: datetime
) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """The one change due first; (action, the subscription after, what the event adds)."""
    if row.status == "paused":  # the pause is over: billed again from its end
        values = {"status": "active", "resume_at": None}
        values.update(_new_period(row, *current_period(row.started_at, row.billing, row.resume_at)))
        action = "resumed"
    elif row.status == "cancelling":
        values = {"status": "cancelled", "cancelled_at": row.cancel_at, "cancel_at": None}
        action = "cancelled"
    elif row.scheduled_change:  # the new plan takes over before the period renews
        values = _with_plan(row, row.scheduled_change)
        action = "changed"
    else:
        period = current_period(row.started_at, row.billing, row.current_period_end)
        values = _new_period(row, *period)
        action = "renewed"
    after = change(connection, row, values, action=action, actor="system", reason="", moment=moment)
    return action, after, billed(row, after)
