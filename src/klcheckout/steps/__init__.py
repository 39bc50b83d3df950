"""Step processing: ``POST API/KEY/steps/STEP``, handled by the module of the step's kind.

Each kind's module registers its handler in ``HANDLERS``. Before a handler runs,
the steps before this one must be complete; otherwise the customer is sent to
the first incomplete step with the reason. A step whose condition is false does
not take answers: the customer is sent on to the next step that applies. The
rules and validate hooks of a step other than a form are checked here, before its
handler runs (a form's need the submitted answers, so its handler checks them).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, g
from werkzeug.exceptions import NotFound

from kljourney.model import StepBase

from .. import checkouts, conditions, hooks, progress, web
from ..visit import Visit, begin

Handler = Callable[[Visit, StepBase], Response]
HANDLERS: dict[str, Handler] = {}
#: Kinds whose handler checks the steps before it itself (confirmation must first
#: recognise a repeated request for an order already placed).
SELF_GUARDED: set[str] = set()

bp = Blueprint("steps", __name__)


def handles(*kinds: str, guarded: bool = True) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        for kind in kinds:
            HANDLERS[kind] = handler
            if not guarded:
                SELF_GUARDED.add(kind)
        return handler

    return register


def find_step(visit: Visit, step_id: str) -> StepBase:
    step = visit.journey.step(step_id)
    if step is None:
        raise NotFound(f"This shop has no step {step_id[:40]!r}. Check the address.")
    return step


def guard(visit: Visit, step: StepBase) -> Response | None:
    """A redirect to the first incomplete step before ``step``, or None if all are done."""
    gap = progress.gap(visit, step)
    if gap is None:
        return None
    target, errors = gap
    return web.respond(visit, target, errors=errors, status=409)


def skip(visit: Visit, step: StepBase) -> Response | None:
    """For a step whose condition is false: a redirect to the next step that applies
    (or to a step before it that is still to be done)."""
    if conditions.of(visit).applies(step):
        return None
    response = web.respond(visit, progress.instead_of(visit, step))
    g.keylight_refused = True  # passed over, not completed: no step_completed hooks
    return response


def refuse(visit: Visit, step: StepBase) -> Response | None:
    """The step's rules that fire, as errors on the step; None when none does."""
    errors = conditions.of(visit).refusals(step)
    return web.respond(visit, step, errors=errors) if errors else None


def validate(visit: Visit, step: StepBase) -> Response | None:
    """The step's validate hooks (a stock or credit check) refusing it; None when they accept.

    A form's handler asks them itself, with the answers it has just checked.
    """
    errors = hooks.validate_step(visit, step, {})
    return web.respond(visit, step, errors=errors) if errors else None


def save_scratch(visit: Visit, step: StepBase, **values: Any) -> None:
    """Set the checkout's scratch ``values`` for ``step``: one statement, or, when a
    hook listens for the step's ``step_completed``, a transaction holding the event too."""
    key = (visit.cart.checkout_id, visit.journey.key)
    if hooks.listeners(visit.journey, "step_completed", step):
        with visit.writing(durable=False) as connection:
            checkouts.put(connection, *key, **values)
            hooks.step_completed(visit, step, connection)
    else:
        checkouts.put(visit.connection, *key, **values)
    visit.forget_reads()


@bp.post("/<key>/steps/<step_id>")
def post_step(key: str, step_id: str) -> Response:
    visit = begin(key, changes_state=True)
    step = find_step(visit, step_id)
    handler = HANDLERS.get(step.type)
    if handler is None:
        raise NotFound(f"The step {step_id!r} takes no answers.")
    if step.type in SELF_GUARDED:
        return handler(visit, step)
    refused = skip(visit, step) or guard(visit, step)
    if refused is None and step.type != "form":
        refused = refuse(visit, step) or validate(visit, step)
    return refused or handler(visit, step)


from . import authentication, confirmation, form, payment_method, products  # noqa: E402,F401
