"""The payment method step: one of the journey's offered methods, validated by its provider."""

from __future__ import annotations

from flask import Response, request

from kljourney.model import PaymentMethodStep, StepBase

from .. import progress, web
from ..payment import PROVIDERS
from ..visit import Visit
from . import handles, save_scratch


@handles("payment_method")
def choose_method(visit: Visit, step: StepBase) -> Response:
    assert isinstance(step, PaymentMethodStep)
    offered = visit.shop.offered_methods(step)
    method = request.form.get("method", "")
    provider = PROVIDERS.get(method)
    if method not in offered or provider is None:
        names = ", ".join(m.label for m in offered.values())
        return web.respond(
            visit,
            step,
            errors={"method": f"Choose one of the offered payment methods: {names}."},
            values=web.form_values(),
        )
    details, errors = provider.validate(request.form)
    if errors:
        return web.respond(visit, step, errors=errors, values=web.form_values())
    save_scratch(visit, step, payment={"method": method, **details})
    return web.respond(visit, progress.after(visit, step))
