"""The audit trail of guided selling: who did what to an order, a quote or a checkout.

Staff, partners and customers act on the same orders (one orders on another's
behalf, hands a step over, sends a quote the other accepts), so each order and
quote keeps its history: support answering "who gave this discount?" or "when did
the customer see the quote?" reads it with ``klcheckout orders show`` or ``quotes
show``. A row is written in the transaction of what it reports, like an event, so
the trail never tells of something that did not happen; rows are never changed.

Before an order or a quote exists, what happens is kept under the checkout's id
(a step handed over); ``trail`` shows those rows with the order's or quote's own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import Connection, insert, or_, select

from .clock import now
from .tables import history

if TYPE_CHECKING:
    from .visit import Visit

Subject = Literal["order", "quote", "checkout"]
Actor = Literal["customer", "staff", "system"]
SUBJECTS: tuple[Subject, ...] = ("order", "quote", "checkout")
#: Built once: every order writes a row, and building the statement cost more than
#: running it.
INSERT = insert(history)


@dataclass(frozen=True)
class Entry:
    """One thing that happened, as ``orders show`` and ``quotes show`` list it."""

    at: datetime
    subject: Subject
    reference: str
    action: str
    actor: Actor
    who: str
    detail: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {
            "at": self.at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "subject": self.subject,
            "reference": self.reference,
            "action": self.action,
            "actor": self.actor,
            "who": self.who,
            "detail": self.detail,
        }


def record(
    connection: Connection,
    subject: Subject,
    reference: str,
    action: str,
    *,
    actor: Actor,
    who: str = "",
    detail: Mapping[str, Any] | None = None,
    at: datetime | None = None,
) -> None:
    """Add one row to the trail, inside the caller's transaction."""
    connection.execute(
        INSERT,
        {
            "subject": subject,
            "reference": reference,
            "action": action,
            "actor": actor,
            "who": who,
            "detail": dict(detail) if detail else None,
            "at": at or now(),
        },
    )


def by(visit: Visit) -> tuple[Actor, str]:
    """Who acts in this request: the member of staff walking the journey, or the customer."""
    member = visit.staff
    if member is not None:
        return "staff", member.email
    return "customer", visit.email or ""


def trail(connection: Connection, subjects: Iterable[tuple[Subject, str]]) -> list[Entry]:
    """The rows about any of ``subjects`` (an order and the checkout it came from, say),
    oldest first."""
    wanted = [
        (history.c.subject == subject) & (history.c.reference == reference)
        for subject, reference in subjects
        if reference
    ]
    if not wanted:
        return []
    query = select(history).where(or_(*wanted)).order_by(history.c.at, history.c.id)
    return [
        Entry(
            at=row.at,
            subject=row.subject,
            reference=row.reference,
            action=row.action,
            actor=row.actor,
            who=row.who,
            detail=row.detail or {},
        )
        for row in connection.execute(query)
    ]
