"""Hand-overs: a step staff give to the customer to complete (its ``actor`` is "customer").

Some answers only the customer may give: a SEPA mandate is the account holder's,
not a partner's. When staff walking a journey for a customer reach such a step,
they send it to the customer: an email with a link (a random token whose SHA-256
alone is stored) that opens the same checkout at that step, for that customer
only, until it expires (``KEYLIGHT_HANDOVER_DAYS``), is revoked, or is replaced by
a newer link for the same step. The customer completes that step and nothing
else (``Visit.handover``, ``steps.wrong_actor``); then the member of staff is told
by email and event, and their journey goes on with the customer's answers.

Each of these writes happens in the transaction of what it reports, with its row
in the audit trail (under the checkout's id, so ``orders show`` lists it with the
order the checkout becomes) and its hook event.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from flask import request
from sqlalchemy import Connection, and_, delete, insert, select, update

from kljourney import Shop, i18n
from kljourney.i18n import gettext as _
from kljourney.model import Journey, StepBase

from . import audit, customer_mail, security
from .accounts import token_hash
from .clock import now
from .hooks import events
from .tables import customers, handovers, orders, staff

Status = Literal["open", "completed", "revoked", "expired"]

#: How many of the token's characters are kept in the clear, for operators to name a
#: link (``handovers revoke``): 48 of its 256 bits, the rest cannot be guessed.
PREFIX_LENGTH = 8
#: The template names of the two emails (``templates/emails/<name>.html`` and ``.txt``).
CUSTOMER_EMAIL, STAFF_EMAIL = "handover", "handover_completed"


class HandoverError(Exception):
    """An operator's command that cannot be done; the message says why and what to do."""


@dataclass(frozen=True)
class Sent:
    """A hand-over just sent: its row id, the link's token, until when it works, and how
    many open links of the same step it replaced."""

    id: int
    token: str
    expires_at: datetime
    replaced: int


def status(row: Any, moment: datetime | None = None) -> Status:
    """Where a hand-over stands; completed or revoked wins over expired."""
    if row.completed_at is not None:
        return "completed"
    if row.revoked_at is not None:
        return "revoked"
    if row.expires_at <= (moment or now()):
        return "expired"
    return "open"


def find(connection: Connection, token: str) -> Any:
    """The hand-over of a link's token, whatever its status; None for an unknown token."""
    if not token or len(token) > 100:
        return None
    query = select(handovers).where(handovers.c.token_hash == token_hash(token))
    return connection.execute(query).first()


def latest(connection: Connection, checkout_id: str, step_id: str) -> Any:
    """The newest hand-over of a checkout's step (what the member's page shows), or None."""
    query = (
        select(handovers)
        .where(handovers.c.checkout_id == checkout_id, handovers.c.step_id == step_id)
        .order_by(handovers.c.id.desc())
        .limit(1)
    )
    return connection.execute(query).first()


def last_completed(connection: Connection, checkout_id: str, step_id: str) -> Any:
    """The newest hand-over of a checkout's step that the customer completed, or None."""
    query = (
        select(handovers)
        .where(
            handovers.c.checkout_id == checkout_id,
            handovers.c.step_id == step_id,
            handovers.c.completed_at.is_not(None),
        )
        .order_by(handovers.c.id.desc())
        .limit(1)
    )
    return connection.execute(query).first()


def same_lines(row: Any, lines: Mapping[str, int]) -> bool:
    """Whether ``lines`` is the cart the customer of the hand-over ``row`` saw."""
    return {str(k): int(v) for k, v in (row.lines or {}).items()} == dict(lines)


def customer_language(connection: Connection, shop: Shop, customer_id: int) -> str:
    """The language to write to a customer in: that of the pages of their latest order,
    if the shop still speaks it; else the language of this request (the member's)."""
    query = (
        select(orders.c.locale)
        .where(orders.c.customer_id == customer_id, orders.c.locale.is_not(None))
        .order_by(orders.c.id.desc())
        .limit(1)
    )
    found = connection.execute(query).scalar()
    return found if found in shop.site.languages else i18n.current_locale()


def link_url(site: Any, token: str) -> str:
    """The link's address, from the shop's own URLs like an invitation's."""
    return security.backend_address(site, f"/handover/{token}")


def thanks_url(site: Any) -> str:
    """The page a customer sees once they completed the step handed to them."""
    return security.backend_address(site, "/handover/done")


def send(
    connection: Connection,
    *,
    shop: Shop,
    folders: Any,
    journey: Journey,
    step: StepBase,
    checkout_id: str,
    customer: Any,
    member: Any,
    lines: Mapping[str, int],
    days: int,
) -> Sent:
    """Hand ``step`` of the checkout to ``customer``: revoke any open link of the same
    step, store the new one, email it to the customer in their language, and record
    ``handed_over`` and ``handover_sent``; all in the caller's transaction."""
    moment = now()
    replaced = _revoke_open(connection, checkout_id, step.id, moment)
    token = secrets.token_urlsafe(32)
    locale = customer_language(connection, shop, customer.id)
    staff_locale = i18n.current_locale()
    expires = moment + timedelta(days=days)
    handover_id = connection.execute(
        insert(handovers)
        .values(
            token_hash=token_hash(token),
            token_prefix=token[:PREFIX_LENGTH],
            checkout_id=checkout_id,
            journey_key=journey.key,
            step_id=step.id,
            customer_id=customer.id,
            staff_id=member.id,
            lines=dict(lines),
            locale=locale,
            staff_locale=staff_locale,
            created_at=moment,
            expires_at=expires,
        )
        .returning(handovers.c.id)
    ).scalar_one()
    spoken = shop.in_language(locale)
    with i18n.speaking(locale, folders):
        customer_mail.queue(
            connection,
            to=customer.email,
            template=CUSTOMER_EMAIL,
            subject=_("%(shop)s: please complete “%(step)s”")
            % {"shop": spoken.site.title, "step": _step_name(spoken, journey, step)},
            data={
                "link": link_url(spoken.site, token),
                "days": days,
                "shop": spoken.site.title,
                "sent_by": member.email,
                "step": _step_name(spoken, journey, step),
            },
            journey=journey,
        )
    data = _event_data(handover_id, journey, step, checkout_id, customer, member, expires)
    detail = {"handover": handover_id, "step": step.id, "customer": customer.email}
    if replaced:
        detail["replaced"] = replaced
    audit.record(
        connection,
        "checkout",
        checkout_id,
        "handed_over",
        actor="staff",
        who=member.email,
        detail=detail,
        at=moment,
    )
    _enqueue(connection, journey, "handover_sent", data, step, customer)
    return Sent(handover_id, token, expires, replaced)


def complete(
    connection: Connection,
    row: Any,
    *,
    shop: Shop,
    folders: Any,
    journey: Journey,
    step: StepBase,
) -> bool:
    """Mark an open hand-over completed, tell the member (email and ``handover_completed``)
    and record it; False, and nothing written, when it is no longer open (completed by
    another request meanwhile, revoked, expired)."""
    moment = now()
    done = connection.execute(
        update(handovers)
        .where(
            and_(
                handovers.c.id == row.id,
                handovers.c.completed_at.is_(None),
                handovers.c.revoked_at.is_(None),
                handovers.c.expires_at > moment,
            )
        )
        .values(completed_at=moment)
    )
    if done.rowcount != 1:
        return False
    customer = connection.execute(select(customers).where(customers.c.id == row.customer_id)).one()
    member = None
    if row.staff_id is not None:
        member = connection.execute(select(staff).where(staff.c.id == row.staff_id)).first()
    audit.record(
        connection,
        "checkout",
        row.checkout_id,
        "handover_completed",
        actor="customer",
        who=customer.email,
        detail={"handover": row.id, "step": step.id},
        at=moment,
    )
    data = _event_data(row.id, journey, step, row.checkout_id, customer, member, row.expires_at)
    data["handover"]["completed_at"] = events.stamp(moment)
    _enqueue(connection, journey, "handover_completed", data, step, customer)
    if member is not None:
        spoken = shop.in_language(row.staff_locale)
        with i18n.speaking(row.staff_locale, folders):
            customer_mail.queue(
                connection,
                to=member.email,
                template=STAFF_EMAIL,
                subject=_("%(customer)s completed “%(step)s”")
                % {"customer": customer.email, "step": _step_name(spoken, journey, step)},
                data={
                    "customer_email": customer.email,
                    "step": _step_name(spoken, journey, step),
                    "shop": spoken.site.title,
                    "link": _absolute(spoken.site.page_url(journey, step)),
                },
                journey=journey,
            )
    return True


def revoke(connection: Connection, row: Any, *, actor: audit.Actor, who: str) -> bool:
    """Revoke an open hand-over (its link stops working) and record it; False when it was
    not open."""
    moment = now()
    done = connection.execute(
        update(handovers)
        .where(
            and_(
                handovers.c.id == row.id,
                handovers.c.completed_at.is_(None),
                handovers.c.revoked_at.is_(None),
            )
        )
        .values(revoked_at=moment)
    )
    if done.rowcount != 1:
        return False
    audit.record(
        connection,
        "checkout",
        row.checkout_id,
        "handover_revoked",
        actor=actor,
        who=who,
        detail={"handover": row.id, "step": row.step_id},
        at=moment,
    )
    return True


def revoke_left_behind(connection: Connection, checkout_id: str, *, who: str) -> int:
    """Revoke every open link of a checkout its member of staff left for another (an order
    for another customer): the customer cannot complete a step of an order nobody will
    place. How many."""
    open_rows = connection.execute(
        select(handovers).where(
            handovers.c.checkout_id == checkout_id,
            handovers.c.completed_at.is_(None),
            handovers.c.revoked_at.is_(None),
        )
    ).all()
    return sum(revoke(connection, row, actor="staff", who=who) for row in open_rows)


def _revoke_open(connection: Connection, checkout_id: str, step_id: str, moment: datetime) -> int:
    """Revoke the open links of a step that a new one replaces; how many."""
    return connection.execute(
        update(handovers)
        .where(
            and_(
                handovers.c.checkout_id == checkout_id,
                handovers.c.step_id == step_id,
                handovers.c.completed_at.is_(None),
                handovers.c.revoked_at.is_(None),
            )
        )
        .values(revoked_at=moment)
    ).rowcount


def _absolute(url: str) -> str:
    """A page's address as an email needs it: absolute (``base_url`` may be a path, on a
    shop whose pages and backend share this request's origin)."""
    if "://" in url:
        return url
    return f"{request.host_url.rstrip('/')}{url}"


def _step_name(shop: Shop, journey: Journey, step: StepBase) -> str:
    """The step's name in ``shop``'s language (the shop given in the reader's language)."""
    spoken = shop.journeys.get(journey.key)
    found = spoken.step(step.id) if spoken is not None else None
    return (found or step).name


def _event_data(
    handover_id: int,
    journey: Journey,
    step: StepBase,
    checkout_id: str,
    customer: Any,
    member: Any,
    expires: datetime,
) -> dict[str, Any]:
    return {
        "handover": {
            "id": handover_id,
            "step": events.step_json(step),
            "checkout_id": checkout_id,
            "expires_at": events.stamp(expires),
        },
        "customer": {"id": customer.id, "email": customer.email},
        "staff": (
            {"email": member.email, "role": member.role, "partner": member.partner}
            if member is not None
            else None
        ),
    }


def _enqueue(
    connection: Connection,
    journey: Journey,
    event_type: str,
    data: Mapping[str, Any],
    step: StepBase,
    customer: Any,
) -> None:
    context = events.condition_context(journey, customer={"email": customer.email})
    events.enqueue(connection, journey, event_type, data, step=step, context=context)


# -- for operators ---------------------------------------------------------------------------


def listing(connection: Connection, *, only_open: bool = False) -> list[dict[str, Any]]:
    """Every hand-over, newest first, as ``klcheckout handovers list`` shows them."""
    moment = now()
    query = (
        select(
            handovers,
            customers.c.email.label("customer_email"),
            staff.c.email.label("staff_email"),
        )
        .join(customers, customers.c.id == handovers.c.customer_id)
        .outerjoin(staff, staff.c.id == handovers.c.staff_id)
        .order_by(handovers.c.id.desc())
    )
    if only_open:
        query = query.where(
            handovers.c.completed_at.is_(None),
            handovers.c.revoked_at.is_(None),
            handovers.c.expires_at > moment,
        )
    return [{"row": row, "status": status(row, moment)} for row in connection.execute(query)]


def for_operator(connection: Connection, reference: str) -> Any:
    """The hand-over an operator names by its id or by the start of its link's token
    (at least 6 characters, as ``handovers list`` shows them, or the whole token)."""
    reference = reference.strip()
    if reference.isdigit():
        row = connection.execute(select(handovers).where(handovers.c.id == int(reference))).first()
        if row is None:
            raise HandoverError(
                f"no hand-over has the id {reference}; `klcheckout handovers list` shows them"
            )
        return row
    if len(reference) < 6:
        raise HandoverError(
            f"{reference!r} is too short to name a hand-over: give its id or at least "
            "6 characters of its link's token, as `klcheckout handovers list` shows them"
        )
    if len(reference) > PREFIX_LENGTH:
        row = find(connection, reference)
        if row is not None:
            return row
    start = reference[:PREFIX_LENGTH]
    rows = connection.execute(
        select(handovers).where(handovers.c.token_prefix.startswith(start, autoescape=True))
    ).all()
    if not rows:
        raise HandoverError(
            f"no hand-over's link starts with {start!r}; `klcheckout handovers list` shows them"
        )
    if len(rows) > 1:
        ids = ", ".join(str(row.id) for row in rows)
        raise HandoverError(
            f"{start!r} starts the links of several hand-overs ({ids}): give the id instead"
        )
    return rows[0]


def purge(connection: Connection, before: datetime) -> int:
    """Forget hand-overs whose links expired before ``before`` (the worker's hourly
    clean-up, with the checkouts' retention): they hold a copy of the cart, and what
    happened to them stays in the audit trail. How many."""
    return connection.execute(delete(handovers).where(handovers.c.expires_at < before)).rowcount
