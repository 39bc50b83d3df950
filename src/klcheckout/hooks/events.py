"""Recording events: one outbox row per hook that listens, in the caller's transaction.

An event (``step_completed``, ``account_created``, ``signed_in``, ``order_placed``)
is one JSON document::

    {"id": "evt_...", "type": "order_placed", "created": "2026-12-03T10:00:00Z",
     "journey": {"key": ..., "name": ..., "order_channel": ...}, "data": {...}}

``enqueue`` writes it on the caller's connection, so the row commits or rolls
back with the order, account or answers it reports: an event is never sent for
something that did not happen, nor lost for something that did. The step
dispatcher (``steps.finish``) records ``step_completed`` in the transaction that
saves what the step collected; ``outbox`` delivers the rows at least once.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, insert

from kljourney import expressions, i18n
from kljourney.model import Journey, StepBase

from .. import conditions
from ..clock import now
from ..tables import events

if TYPE_CHECKING:
    from ..visit import Visit

#: Hook kinds delivered from the outbox (validate hooks are called, not queued).
DELIVERED = ("webhook", "email", "python")


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def new_event(event_type: str, journey: Journey, data: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": f"evt_{uuid.uuid4().hex}",
        "type": event_type,
        "created": stamp(now()),
        "journey": journey.summary,
        # The customer's language: the emails about this event are written in it.
        "locale": i18n.current_locale(),
        "data": dict(data),
    }


def step_json(step: StepBase) -> dict[str, str]:
    """A step as events show it."""
    return {"id": step.id, "name": step.name, "type": step.type}


def person(visit: Visit) -> dict[str, Any]:
    """The customer as events show them: email, signed in, guest."""
    signed_in = visit.customer is not None
    return {
        "email": visit.email,
        "signed_in": signed_in,
        "guest": not signed_in and bool(visit.guest_email),
    }


def listeners(journey: Journey, event_type: str, step: StepBase | None) -> list[Any]:
    """The journey's hooks for this event, then those of the step it happened at."""
    found = [h for h in journey.hooks if h.type in DELIVERED and h.event == event_type]
    if step is not None:
        found += [h for h in step.hooks if h.type in DELIVERED and h.event == event_type]
    return found


def condition_context(
    journey: Journey,
    *,
    customer: Mapping[str, Any] | None = None,
    answers: Mapping[str, Any] | None = None,
    cart: Mapping[str, Any] | None = None,
    subscription: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The names a hook's ``when`` reads, from the data an event carries.

    For events without a checkout behind them; with one, ``conditions.context``
    gives the full context that step conditions and rules read.
    """
    flat: dict[str, Any] = {}
    for value in (answers or {}).values():
        if isinstance(value, Mapping):
            flat.update(value)
    person = dict(customer or {})
    return {
        "journey": expressions.Record(journey.summary),
        "subscription": expressions.Record(dict(subscription or {})),
        "customer": expressions.Record({**person, "answers": expressions.Record(flat)}),
        "answers": expressions.Record(flat),
        "cart": expressions.Record(cart or {}),
        "entry": expressions.Record({}),
    }


def applies(hook: Any, context: Mapping[str, Any]) -> bool:
    return not hook.when or expressions.parse(hook.when).test(context)


def enqueue(
    connection: Connection,
    journey: Journey,
    event_type: str,
    data: Mapping[str, Any],
    *,
    step: StepBase | None = None,
    context: Mapping[str, Any] | None = None,
) -> str | None:
    """Write the event to the outbox for every hook that wants it, on ``connection``
    (inside the caller's transaction). Returns the event id, or None if no hook listens."""
    hooks = [
        h
        for h in listeners(journey, event_type, step)
        if applies(h, context or condition_context(journey))
    ]
    if not hooks:
        return None
    event = new_event(event_type, journey, data)
    moment = now()
    connection.execute(
        insert(events),
        [
            {
                "event_id": event["id"],
                "type": event_type,
                "journey_key": journey.key,
                "hook": hook.model_dump(exclude={"when"}),
                "payload": event,
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": moment,
                "created_at": moment,
            }
            for hook in hooks
        ],
    )
    return event["id"]


def step_completed(visit: Visit, step: StepBase, connection: Connection) -> str | None:
    """Queue ``step_completed`` for a step the customer just got past, inside the
    transaction that saved what the step collected (see ``steps.finish``).

    The event shows the visit as it now reads: the step's saved answers, the
    customer just signed in. Returns the event id, or None if no hook listens.
    """
    if not listeners(visit.journey, "step_completed", step):
        return None
    data = {
        "step": step_json(step),
        "checkout_id": visit.cart.checkout_id,
        "customer": person(visit),
        "answers": dict(visit.answers.get(step.id) or {}),
    }
    context = conditions.context(visit)
    return enqueue(connection, visit.journey, "step_completed", data, step=step, context=context)
