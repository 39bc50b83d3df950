"""What a checkout collected so far, stored server-side under the cookie's random checkout id.

Answers, the chosen payment method and the errors of the last POST live here,
not in the cookie, because the cookie can be read by whoever holds it. Rows are
written only when there is something to keep, so browsing and adding to the
cart never touch the database.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from flask import Flask
from sqlalchemy import Connection, Engine, bindparam, delete, insert, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from . import db
from .clock import now
from .tables import checkouts

log = logging.getLogger(__name__)

#: INSERT ... ON CONFLICT, by dialect name.
UPSERTS = {"postgresql": postgresql_insert, "sqlite": sqlite_insert}

# Statements built once: SQLAlchemy then reuses their compiled form without
# rebuilding and re-keying them on every request (values come as parameters).
_BY_ID = checkouts.c.id == bindparam("checkout_id")
GET = select(checkouts).where(_BY_ID)
LOCK = GET.with_for_update()
INSERT = insert(checkouts)
UPDATE = update(checkouts).where(_BY_ID).values(version=checkouts.c.version + 1)
#: The same, only if nobody changed the row since it was read at ``seen``.
UPDATE_UNCHANGED = (
    update(checkouts)
    .where(_BY_ID, checkouts.c.version == bindparam("seen"))
    .values(version=checkouts.c.version + 1)
    .returning(*checkouts.c)
)
TAKE_ALL = delete(checkouts).where(_BY_ID).returning(*checkouts.c)
#: Rows of checkouts abandoned before ``before``, a batch at a time (see ``purge``).
ABANDONED = (
    select(checkouts.c.id)
    .where(checkouts.c.updated_at < bindparam("before"))
    .limit(bindparam("batch"))
)
PURGE = delete(checkouts).where(checkouts.c.id.in_(ABANDONED.scalar_subquery()))
TAKE = select(checkouts.c.flash).where(_BY_ID).with_for_update()
_UPSERTS: dict[tuple[str, tuple[str, ...]], Any] = {}


def get(connection: Connection, checkout_id: str) -> Any:
    return connection.execute(GET, {"checkout_id": checkout_id}).first()


def lock(connection: Connection, checkout_id: str, journey_key: str) -> Any:
    """The row for this checkout, created if missing, locked for the rest of the transaction."""
    row = connection.execute(LOCK, {"checkout_id": checkout_id}).first()
    if row is not None:
        return row
    try:
        with connection.begin_nested():
            connection.execute(
                INSERT,
                {
                    "id": checkout_id,
                    "journey_key": journey_key,
                    "answers": {},
                    "flash": {},
                    "updated_at": now(),
                },
            )
    except IntegrityError:
        pass  # a concurrent request created it first
    return connection.execute(LOCK, {"checkout_id": checkout_id}).first()


def _upsert(dialect: str, names: tuple[str, ...]) -> Any:
    key = (dialect, names)
    statement = _UPSERTS.get(key)
    if statement is None:
        statement = UPSERTS[dialect](checkouts)
        changes: dict[str, Any] = {name: statement.excluded[name] for name in names}
        changes["updated_at"] = statement.excluded.updated_at
        changes["version"] = checkouts.c.version + 1
        statement = statement.on_conflict_do_update(index_elements=[checkouts.c.id], set_=changes)
        statement = statement.returning(*checkouts.c)
        _UPSERTS[key] = statement
    return statement


def put(connection: Connection, checkout_id: str, journey_key: str, **values: Any) -> Any:
    """Set scratch ``values`` on the checkout's row, creating the row if missing; the row
    as written.

    One statement, committed on its own (``db.write_scratch``) unless the
    connection is inside a transaction.
    """
    statement = _upsert(connection.dialect.name, tuple(sorted(values)))
    parameters = {
        "id": checkout_id,
        "journey_key": journey_key,
        "answers": {},
        "flash": {},
        "updated_at": now(),
        **values,
    }
    return db.write_scratch(connection, statement, parameters)


def change(connection: Connection, checkout_id: str, **values: Any) -> None:
    connection.execute(UPDATE, {"checkout_id": checkout_id, "updated_at": now(), **values})


def _with_answers(row: Any, step_id: str, answers: dict[str, Any]) -> dict[str, Any]:
    """The row's answers and flash once ``step_id`` is answered (its old errors go)."""
    everything = dict(row.answers or {})
    everything[step_id] = answers
    flash = dict(row.flash or {})
    steps = dict(flash.get("steps", {}))
    if steps.pop(step_id, None) is not None:
        flash["steps"] = steps
    return {"answers": everything, "flash": flash}


def save_answers(connection: Connection, row: Any, step_id: str, answers: dict[str, Any]) -> None:
    """Save a step's answers on ``row``, locked in this transaction (``lock``)."""
    change(connection, row.id, **_with_answers(row, step_id, answers))


def save_answers_unless_changed(
    connection: Connection, row: Any, step_id: str, answers: dict[str, Any]
) -> Any:
    """Save a step's answers on ``row`` as read earlier, in one scratch statement; the row
    as written, or None, and nothing written, if it changed since (then lock it and save)."""
    values = _with_answers(row, step_id, answers)
    statement_values = {"checkout_id": row.id, "seen": row.version, "updated_at": now()}
    return db.write_scratch(connection, UPDATE_UNCHANGED, {**statement_values, **values})


def add_flash(
    connection: Connection,
    row: Any,
    *,
    step_id: str | None = None,
    errors: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
    messages: list[str] | None = None,
) -> None:
    """Keep errors, typed values and messages until the page asks for them once."""
    flash = {
        "messages": list((row.flash or {}).get("messages", [])),
        "steps": dict((row.flash or {}).get("steps", {})),
    }
    if messages:
        flash["messages"] = (flash["messages"] + messages)[-5:]
    if step_id is not None:
        flash["steps"][step_id] = {"errors": errors or {}, "values": values or {}}
    change(connection, row.id, flash=flash)


def take_flash(connection: Connection, checkout_id: str, step_id: str | None) -> dict[str, Any]:
    """Hand out the messages, and the errors and values of ``step_id``, exactly once."""
    row = connection.execute(TAKE, {"checkout_id": checkout_id}).first()
    if row is None or not row.flash:
        return {}
    flash = row.flash
    taken = {"messages": flash.get("messages", [])}
    steps = dict(flash.get("steps", {}))
    if step_id and step_id in steps:
        taken.update(steps.pop(step_id))
    if taken["messages"] or len(steps) != len(flash.get("steps", {})):
        change(connection, checkout_id, flash={"messages": [], "steps": steps} if steps else {})
    return taken


def take(connection: Connection, checkout_id: str) -> Any:
    """The checkout's row, deleted in the same statement: the order now holds its answers.

    What is ordered is exactly what is deleted, even if another request changed
    the row a moment before; a transaction that fails afterwards puts it back.
    """
    return connection.execute(TAKE_ALL, {"checkout_id": checkout_id}).first()


def purge_abandoned(app: Flask) -> int:
    """Delete checkouts unchanged for ``KEYLIGHT_CHECKOUT_RETENTION``; how many.

    An unfinished checkout holds a guest's email and form answers: kept only as
    long as a cart could come back for them. ``klcheckout worker`` calls this
    hourly, ``klcheckout checkouts purge`` at once.
    """
    before = now() - timedelta(seconds=app.config["KEYLIGHT_CHECKOUT_RETENTION"])
    deleted = purge(app.extensions["keylight_db"], before)
    if deleted:
        log.info("deleted %d abandoned checkouts, unchanged since %s", deleted, before)
    return deleted


def purge(engine: Engine, before: datetime, batch: int = 500) -> int:
    """Delete checkouts not changed since ``before``; how many.

    Small batches, each its own transaction, keep SQLite's single write lock
    short for the customers checking out meanwhile.
    """
    deleted = 0
    while True:
        with db.writing(engine, durable=False) as connection:
            count = connection.execute(PURGE, {"before": before, "batch": batch}).rowcount
        deleted += count
        if count < batch:
            return deleted
