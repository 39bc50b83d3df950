"""Delivering the outbox: at least once, retried with backoff, never two workers at once.

A worker claims due rows in a short transaction (PostgreSQL: ``SELECT ... FOR
UPDATE SKIP LOCKED``; SQLite: the same select and update under its one write
lock), marking them ``sending`` with a random claim token and a lease
(``locked_until``). It delivers outside any transaction, then records the
outcome only if its claim still holds. A worker that dies mid-delivery leaves
its rows leased: when the lease ends they are due again, so the event is sent
again rather than lost (receivers de-duplicate by the event id).

A failed attempt is retried after ``base * 2**(attempt-1)`` seconds, capped,
with jitter (half fixed, half random) so receivers coming back are not hit by
every worker at once; after ``KEYLIGHT_HOOK_MAX_ATTEMPTS`` attempts the row is
``failed``, and ``klcheckout events resend EVENT_ID`` queues it again.
"""

from __future__ import annotations

import logging
import random
import secrets
from datetime import datetime, timedelta
from typing import Any

from flask import Flask
from sqlalchemy import Connection, Engine, and_, or_, select, update

from .. import db
from ..clock import now
from ..tables import events
from . import delivery

log = logging.getLogger(__name__)

BATCH = 20


def backoff(attempts: int, base: float, cap: float) -> float:
    """Seconds before the next try after ``attempts`` failed ones: exponential, capped,
    with equal jitter (between half and all of the exponential delay)."""
    delay = min(cap, base * 2 ** max(0, attempts - 1))
    return delay / 2 + random.uniform(0, delay / 2)


def _due(moment: Any) -> Any:
    return or_(
        and_(events.c.status == "pending", events.c.next_attempt_at <= moment),
        and_(events.c.status == "sending", events.c.locked_until < moment),
    )


def claim(
    engine: Engine, lease: float, limit: int = BATCH, due_by: datetime | None = None
) -> tuple[str, list[Any]]:
    """Claim up to ``limit`` deliveries due by ``due_by`` (now): (claim token, rows)."""
    token = secrets.token_hex(16)
    moment = due_by or now()
    with db.writing(engine) as connection:
        query = select(events.c.id).where(_due(moment)).order_by(events.c.next_attempt_at)
        query = query.limit(limit)
        if connection.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        ids = list(connection.execute(query).scalars())
        if not ids:
            return token, []
        connection.execute(
            update(events)
            .where(events.c.id.in_(ids), _due(moment))
            .values(
                status="sending",
                claim=token,
                locked_until=now() + timedelta(seconds=lease),
                attempts=events.c.attempts + 1,
            )
        )
        rows = list(
            connection.execute(select(events).where(events.c.claim == token).order_by(events.c.id))
        )
    return token, rows


def finish(engine: Engine, row: Any, token: str, error: str | None, config: Any) -> None:
    """Record the outcome of one claimed delivery, if the claim still holds."""
    moment = now()
    if error is None:
        values: dict[str, Any] = {"status": "delivered", "delivered_at": moment, "last_error": None}
    elif row.attempts >= config["KEYLIGHT_HOOK_MAX_ATTEMPTS"]:
        values = {"status": "failed", "last_error": error[:2000]}
    else:
        base, cap = config["KEYLIGHT_HOOK_BACKOFF"]
        wait = backoff(row.attempts, base, cap)
        values = {
            "status": "pending",
            "last_error": error[:2000],
            "next_attempt_at": moment + timedelta(seconds=wait),
        }
    with db.writing(engine) as connection:
        connection.execute(
            update(events)
            .where(events.c.id == row.id, events.c.claim == token)
            .values(claim=None, locked_until=None, **values)
        )


def run_once(app: Flask) -> int:
    """Deliver every delivery due now (batch by batch); the number attempted. A delivery
    that fails is not tried again in the same round, however short its backoff."""
    engine = app.extensions["keylight_db"]
    started = now()
    done = 0
    while True:
        # One at a time: a lease covers the deliveries it claims, and twenty slow
        # receivers could outlast it, letting another worker send the rest again.
        token, rows = claim(engine, app.config["KEYLIGHT_HOOK_LEASE"], limit=1, due_by=started)
        if not rows:
            return done
        for row in rows:
            error: str | None = None
            try:
                delivery.deliver(app, row)
            except Exception as problem:  # noqa: BLE001 - any failure is retried
                error = str(problem) or type(problem).__name__
                log.warning(
                    "event %s (%s) to %s, attempt %d: %s",
                    row.event_id,
                    row.type,
                    describe(row.hook),
                    row.attempts,
                    error,
                )
            finish(engine, row, token, error, app.config)
            done += 1


# -- for operators -----------------------------------------------------------------------


def describe(hook: dict[str, Any]) -> str:
    kind = hook.get("type", "?")
    if kind == "webhook":
        return f"webhook {hook.get('url')}"
    if kind == "email":
        return f"email {hook.get('template')}"
    if kind == "python":
        return f"python {hook.get('function')}"
    return kind


def recent(
    connection: Connection, limit: int = 50, status: str | None = None
) -> list[dict[str, Any]]:
    query = select(events).order_by(events.c.created_at.desc(), events.c.id.desc()).limit(limit)
    if status:
        query = query.where(events.c.status == status)
    return [dict(row._mapping) for row in connection.execute(query)]


def resend(engine: Engine, event_id: str) -> int:
    """Queue every delivery of an event again, now, with a fresh set of attempts."""
    with db.writing(engine) as connection:
        result = connection.execute(
            update(events)
            .where(events.c.event_id == event_id, events.c.status != "sending")
            .values(status="pending", attempts=0, next_attempt_at=now(), claim=None)
        )
    return result.rowcount
