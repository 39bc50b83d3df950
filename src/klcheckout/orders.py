"""Placing orders, exactly once per checkout, and reading them back for operators.

``place`` writes the order, its lines with price snapshots and the answers in
one transaction. The unique ``checkout_id`` makes a second confirmation of the
same checkout (a double click, a replay, two concurrent requests) find the first
order instead of creating another; the unique ``confirm_token`` keeps one page
view from confirming twice.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, bindparam, func, insert, select
from sqlalchemy.exc import IntegrityError

from kljourney.i18n import gettext as _
from kljourney.i18n import ngettext
from kljourney.model import Journey, Product, StepBase
from kljourney.money import quantize, tax_included

from . import audit, checkouts, conditions, subscriptions
from .answers import by_target
from .clock import now, shown
from .hooks import events
from .tables import order_lines, orders, quotes, staff
from .visit import Visit

#: Crockford's base 32: no I, L, O or U, so a number read over the phone is unambiguous.
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


class OrderRefused(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Placed:
    number: str
    checkout_id: str
    created: bool
    #: The public ids of the subscriptions the order made (when this request placed it).
    subscriptions: tuple[str, ...] = ()


def new_number() -> str:
    """'KL-2026-4F7Q-9K2M': the year, then 40 random bits in two groups of four."""
    code = "".join(secrets.choice(ALPHABET) for _ in range(8))
    return f"KL-{now().year}-{code[:4]}-{code[4:]}"


NUMBER_FOR = select(orders.c.number).where(orders.c.checkout_id == bindparam("checkout_id"))
TOKEN_USED = select(orders.c.id).where(orders.c.confirm_token == bindparam("token"))
INSERT_ORDER = insert(orders).returning(orders.c.id)
INSERT_LINES = insert(order_lines)
#: The events placing an order raises, at the confirmation step.
EVENTS = ("subscription_created", "order_placed")


def placed_for(connection: Connection, checkout_id: str) -> Placed | None:
    number = connection.execute(NUMBER_FOR, {"checkout_id": checkout_id}).scalar()
    return Placed(number, checkout_id, False) if number else None


def place(
    connection: Connection, visit: Visit, step: StepBase, confirm_token: str | None
) -> Placed:
    """Place the order for this visit's checkout at its confirmation ``step``, inside the
    caller's transaction, or return the one a concurrent request placed first.

    Each attempt runs in a savepoint, so a unique key that was taken meanwhile (the
    checkout's order, the confirmation token, rarely the random number) rolls back
    that attempt only, and the transaction goes on to find out which.
    """
    if not visit.cart.lines:
        raise OrderRefused(_("Your cart is empty: choose a product first."))
    for _attempt in range(5):
        try:
            with connection.begin_nested():
                number, made = _insert(connection, visit, step, confirm_token)
            return Placed(number, visit.cart.checkout_id, True, made)
        except IntegrityError:
            found = placed_for(connection, visit.cart.checkout_id)
            if found is not None:
                return found
            if confirm_token and _token_used(connection, confirm_token):
                raise OrderRefused(
                    _("This confirmation was already used. Reload the page to confirm again.")
                ) from None
    raise OrderRefused(_("The order could not be placed. Please try again."))


def _token_used(connection: Connection, token: str) -> bool:
    return connection.execute(TOKEN_USED, {"token": token}).first() is not None


def _insert(
    connection: Connection, visit: Visit, step: StepBase, confirm_token: str | None
) -> tuple[str, tuple[str, ...]]:
    shop, journey = visit.shop, visit.journey
    entity = shop.entity(journey)
    priced = visit.priced_cart
    figures = priced.totals()
    # The order holds the answers from now on: the checkout's copy goes with this statement.
    checkout = checkouts.take(connection, visit.cart.checkout_id)
    saved = (checkout.answers or {}) if checkout is not None else {}
    # A skipped form step's answers (from before the branch changed) are not ordered.
    answers = by_target(journey, saved, only=conditions.of(visit).applies)
    payment = dict((checkout.payment or {}) if checkout is not None else {})
    method = payment.pop("method", "") or "none"
    email = visit.email or _email_from(answers)
    member = visit.staff  # the member of staff ordering on the customer's behalf, or None
    stamp = now()
    number = new_number()
    order_id = connection.execute(
        INSERT_ORDER,
        {
            "number": number,
            "checkout_id": visit.cart.checkout_id,
            "confirm_token": confirm_token,
            "journey_key": journey.key,
            "journey_version": journey.version,
            "business_entity": entity.id,
            "order_channel": journey.order_channel,
            "customer_id": visit.customer.id if visit.customer is not None else None,
            "email": email,
            "currency": entity.currency,
            "totals": figures,
            "answers": answers,
            "payment_method": method,
            "payment": payment,
            "status": "placed",
            "locale": shop.site.locale,
            "seconds_to_order": _seconds_since(visit.cart.started, stamp),
            "placed_by_staff_id": member.id if member is not None else None,
            "partner": member.partner if member is not None else None,
            "created_at": stamp,
            "updated_at": stamp,
        },
    ).scalar_one()
    connection.execute(
        INSERT_LINES,
        [
            {
                "order_id": order_id,
                "position": position,
                "product": line.product.id,
                "name": line.product.name,
                "quantity": line.quantity,
                "billing": line.product.billing,
                "unit_price": str(line.unit_price),
                "line_total": str(line.line_total),
                "tax_rate": str(line.product.tax_rate),
                "tax": str(line.tax),
            }
            for position, line in enumerate(priced.lines, start=1)
        ],
    )
    created = subscriptions.create_for_order(
        connection,
        order_id=order_id,
        lines=priced.lines,
        currency=entity.currency,
        customer_id=visit.customer.id if visit.customer is not None else None,
        email=email,
        journey_key=journey.key,
        business_entity=entity.id,
        moment=stamp,
    )
    actor, who = audit.by(visit)
    placed_by = {"staff": member.email, "partner": member.partner} if member else {}
    audit.record(connection, "order", number, "created", actor=actor, who=who, detail=placed_by)
    heard = {e for e in EVENTS if events.listeners(journey, e, step)}
    context = conditions.context(visit) if heard else None  # built only for a listener
    if "subscription_created" in heard:
        for subscription in created:
            data = {"subscription": subscription, "order_number": number}
            events.enqueue(
                connection, journey, "subscription_created", data, step=step, context=context
            )
    if "order_placed" in heard:
        order = {
            "number": number,
            "email": email,
            "customer_id": visit.customer.id if visit.customer is not None else None,
            "business_entity": entity.id,
            "order_channel": journey.order_channel,
            "currency": entity.currency,
            "totals": figures,
            "lines": priced.lines_json(),
            # The totals and the method as the customer saw them, in their language.
            "formatted": priced.formatted_totals(),
            "answers": answers,
            "placed_by": {"email": member.email, "role": member.role} if member else None,
            "partner": member.partner if member is not None else None,
            "payment_method": method,
            "payment_label": shop.payment_methods[method].label
            if method in shop.payment_methods
            else "",
            "locale": shop.site.locale,
        }
        # Who sells, and the terms the order was placed under: the confirmation email
        # carries the contract's content.
        seller = {
            key: getattr(entity, key)
            for key in ("name", "address", "vat_id", "terms_url", "withdrawal_url", "privacy_url")
        }
        events.enqueue(
            connection,
            journey,
            "order_placed",
            {"order": order, "seller": seller},
            step=step,
            context=context,
        )
    return number, tuple(subscription["public_id"] for subscription in created)


def place_proration(
    connection: Connection,
    *,
    row: Any,
    journey: Journey,
    product: Product,
    amount: Decimal,
    days: tuple[int, int],
    moment: datetime,
) -> str:
    """The order of an immediate plan change: one one-time line, the prorated difference
    (negative: a credit). Its number; the caller's transaction holds it."""
    currency = row.currency
    tax = tax_included(amount, product.tax_rate, currency)
    net = quantize(amount - tax, currency)
    left, total = days
    zero = {"net": "0.00", "tax": "0.00", "gross": "0.00"}
    figures = {
        "one_time": {"net": str(net), "tax": str(tax), "gross": str(amount)},
        "recurring": {"monthly": zero, "yearly": zero},
        "taxes": [{"rate": str(product.tax_rate), "amount": str(tax)}],
        "net": str(net),
        "tax": str(tax),
        "gross": str(amount),
    }
    number = new_number()
    order_id = connection.execute(
        INSERT_ORDER,
        {
            "number": number,
            # No checkout of its own: a random id keeps the column's promise of one order each.
            "checkout_id": "change-" + secrets.token_urlsafe(12),
            # A replay of the change is known by its checkout (``applied``), not here.
            "confirm_token": None,
            "journey_key": journey.key,
            "journey_version": journey.version,
            "business_entity": row.business_entity,
            "order_channel": journey.order_channel,
            "customer_id": row.customer_id,
            "email": row.email,
            "currency": currency,
            "totals": figures,
            "answers": {
                "subscription": {"id": row.public_id, "from": row.product, "to": product.id}
            },
            "payment_method": _payment_method_of(connection, row.order_id),
            "payment": {},
            "status": "placed",
            "created_at": moment,
            "updated_at": moment,
        },
    ).scalar_one()
    connection.execute(
        INSERT_LINES,
        [
            {
                "order_id": order_id,
                "position": 1,
                "product": product.id,
                "name": proration_line(row.name, product.name, amount, left, total),
                "quantity": 1,
                "billing": "one_time",
                "unit_price": str(amount),
                "line_total": str(amount),
                "tax_rate": str(product.tax_rate),
                "tax": str(tax),
            }
        ],
    )
    return number


def proration_line(plan: str, new_plan: str, amount: Decimal, left: int, total: int) -> str:
    """The name of a plan change's order line, as the customer's orders show it (in the
    language of the request that made it): 'Starter to Pro: charge for 12 of 30 days'."""
    values = {"plan": plan, "new_plan": new_plan, "left": left, "count": total}
    if amount > 0:
        return (
            ngettext(
                "%(plan)s to %(new_plan)s: charge for %(left)d of %(count)d day",
                "%(plan)s to %(new_plan)s: charge for %(left)d of %(count)d days",
                total,
            )
            % values
        )
    return (
        ngettext(
            "%(plan)s to %(new_plan)s: credit for %(left)d of %(count)d day",
            "%(plan)s to %(new_plan)s: credit for %(left)d of %(count)d days",
            total,
        )
        % values
    )


def _seconds_since(started: int, stamp: datetime) -> int | None:
    """How long the walk that placed this order took (the funnel report's median time to
    complete); None when its cookie did not know when it started."""
    if not started:
        return None
    return max(0, int(stamp.timestamp()) - started)


def _payment_method_of(connection: Connection, order_id: int) -> str:
    """The payment method of the order a subscription came from (the change is paid alike)."""
    query = select(orders.c.payment_method).where(orders.c.id == order_id)
    return connection.execute(query).scalar() or "none"


def _email_from(answers: dict[str, dict[str, Any]]) -> str:
    for target in ("sold_to_account", "ship_to", "order_notes"):
        value = answers.get(target, {}).get("email")
        if isinstance(value, str):
            return value
    return ""


def find(connection: Connection, number: str) -> dict[str, Any] | None:
    """One order with its lines and its history (the audit trail), as plain data for the CLI."""
    row = connection.execute(select(orders).where(orders.c.number == number)).first()
    if row is None:
        return None
    found = _with_lines(connection, [row])[0]
    subjects = [("checkout", row.checkout_id), ("order", row.number)]
    # An order placed from a quote: the quote's history (sent, viewed, accepted) too.
    quote = connection.execute(
        select(quotes.c.number).where(quotes.c.order_number == row.number)
    ).scalar()
    if quote:
        subjects.append(("quote", quote))
    found["history"] = [entry.as_json() for entry in audit.trail(connection, subjects)]
    return found


def of_owner(connection: Connection, owner: Any, limit: int = 50) -> list[dict[str, Any]]:
    """A customer's orders, newest first: an account's, or a link-signed-in guest's (by
    email, only orders placed without an account)."""
    if owner.customer_id is not None:
        mine = orders.c.customer_id == owner.customer_id
    else:
        email = func.lower(orders.c.email) == owner.email.strip().lower()
        mine = orders.c.customer_id.is_(None) & email
    query = select(orders).where(mine).order_by(orders.c.created_at.desc(), orders.c.id.desc())
    return _with_lines(connection, list(connection.execute(query.limit(limit))))


def recent(
    connection: Connection, limit: int = 50, journey: str | None = None
) -> list[dict[str, Any]]:
    query = select(orders).order_by(orders.c.created_at.desc(), orders.c.id.desc()).limit(limit)
    if journey:
        query = query.where(orders.c.journey_key == journey)
    return _with_lines(connection, list(connection.execute(query)))


def _with_lines(connection: Connection, rows: list[Any]) -> list[dict[str, Any]]:
    ids = [row.id for row in rows]
    lines: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
    if ids:
        query = (
            select(order_lines)
            .where(order_lines.c.order_id.in_(ids))
            .order_by(order_lines.c.order_id, order_lines.c.position)
        )
        for line in connection.execute(query):
            data = dict(line._mapping)
            data.pop("id")
            lines[data.pop("order_id")].append(data)
    result = []
    staff_ids = {row.placed_by_staff_id for row in rows if row.placed_by_staff_id is not None}
    placers = {}
    if staff_ids:
        query = select(staff.c.id, staff.c.email).where(staff.c.id.in_(staff_ids))
        placers = {row.id: row.email for row in connection.execute(query)}
    for row in rows:
        data = dict(row._mapping)
        # Who placed it on the customer's behalf, by email (None: the customer did).
        data["placed_by"] = placers.get(row.placed_by_staff_id)
        data["created_at"] = shown(data["created_at"])
        data["updated_at"] = shown(data["updated_at"])
        data["lines"] = lines[row.id]
        result.append(data)
    return result
