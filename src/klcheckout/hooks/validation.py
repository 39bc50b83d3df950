"""Validate hooks: the shop's own systems asked, before a step is accepted, whether its
input is acceptable (a VAT id registered, a stock check, a credit check).

They are called, not queued: the customer waits for the answer, bounded by the
hook's ``timeout``. A timeout, an error status or an answer of another shape
follows the hook's ``on_error``: "accept" lets the step through, "refuse" shows
``UNAVAILABLE``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from kljourney.i18n import N_
from kljourney.i18n import gettext as _
from kljourney.model import StepBase, ValidateHook

from .. import conditions
from . import HookFailed, events
from .delivery import post_json, signed_headers

if TYPE_CHECKING:
    from ..visit import Visit

log = logging.getLogger(__name__)

#: Shown when a validate hook cannot answer and its policy is on_error = "refuse"
#: (translated where used).
UNAVAILABLE = N_("We could not check your answers just now. Please try again in a moment.")


def validate_step(visit: Visit, step: StepBase, answers: Mapping[str, Any]) -> dict[str, str]:
    """Field errors from the step's validate hooks ({} when all accept).

    Each hook gets ``{"id", "type": "validate", ..., "data": {"step", "answers",
    "customer", "cart"}}`` and answers ``{"ok": true}`` or ``{"errors": {"field": "message"}}``.
    A timeout, an error status or an answer of another shape follows the hook's
    ``on_error``: "accept" lets the step through, "refuse" shows ``UNAVAILABLE``.
    """
    hooks = [h for h in step.hooks if isinstance(h, ValidateHook)]
    if not hooks:
        return {}
    journey, customer = visit.journey, events.person(visit)
    context = conditions.context(visit, answers)
    errors: dict[str, str] = {}
    for hook in hooks:
        if not events.applies(hook, context):
            continue
        data = {
            "step": events.step_json(step),
            "answers": dict(answers),
            "customer": customer,
            "cart": [
                {"product": product, "quantity": quantity}
                for product, quantity in visit.cart.lines.items()
            ],
        }
        event = events.new_event("validate", journey, data)
        try:
            found = _ask(hook, event)
        except HookFailed as problem:
            log.warning("validate hook %s for step %r: %s", hook.url, step.id, problem)
            if hook.on_error == "refuse":
                errors.setdefault("_form", _(UNAVAILABLE))
            continue
        for name, message in found.items():
            errors.setdefault(name, message)
    return errors


def _ask(hook: ValidateHook, event: Mapping[str, Any]) -> dict[str, str]:
    body = json.dumps(event, separators=(",", ":"), default=str).encode()
    status, answer = post_json(
        hook.url, body, signed_headers(hook.secret_env, body, event), hook.timeout
    )
    try:
        parsed = json.loads(answer)
    except ValueError:
        parsed = None
    errors = parsed.get("errors") if isinstance(parsed, dict) else None
    if isinstance(errors, dict) and all(
        isinstance(k, str) and isinstance(v, str) and v for k, v in errors.items()
    ):
        if errors and status < 500:
            return errors
        if not errors and 200 <= status < 300:
            return {}
    if 200 <= status < 300 and isinstance(parsed, dict) and parsed.get("ok") is True:
        return {}
    raise HookFailed(
        f"{hook.url} answered {status} with {answer[:200]!r}; expected "
        '{"ok": true} or {"errors": {"field": "message"}}'
    )
