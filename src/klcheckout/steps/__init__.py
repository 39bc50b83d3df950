"""Step processing: ``POST API/KEY/steps/STEP``, handled by the module of the step's kind.

Each kind's module registers its handler in ``HANDLERS``. Before a handler runs,
the steps before this one must be complete; otherwise the customer is sent to
the first incomplete step with the reason. Nothing here changes state on GET.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, Response
from werkzeug.exceptions import NotFound

from klbuild.model import StepBase

from .. import progress, web
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
    gap = progress.first_incomplete(visit, step)
    if gap is None:
        return None
    target, reason = gap
    return web.respond(visit, target, errors={"_form": reason}, status=409)


@bp.post("/<key>/steps/<step_id>")
def post_step(key: str, step_id: str) -> Response:
    visit = begin(key, changes_state=True)
    step = find_step(visit, step_id)
    handler = HANDLERS.get(step.type)  # type: ignore[attr-defined]
    if handler is None:
        raise NotFound(f"The step {step_id!r} takes no answers.")
    if step.type in SELF_GUARDED:  # type: ignore[attr-defined]
        return handler(visit, step)
    return guard(visit, step) or handler(visit, step)


from . import authentication, confirmation, form, payment_method, products  # noqa: E402,F401
