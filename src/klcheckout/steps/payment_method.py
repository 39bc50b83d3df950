"""The payment method step: one of the journey's offered methods, validated by its provider."""

from __future__ import annotations

from flask import request

from kljourney import i18n
from kljourney.i18n import gettext as _
from kljourney.model import PaymentMethodStep, StepBase

from .. import responses
from ..payment import PROVIDERS
from ..visit import Visit
from . import handles
from .outcomes import Completed, Outcome, Refused


@handles("payment_method")
def choose_method(visit: Visit, step: StepBase) -> Outcome:
    assert isinstance(step, PaymentMethodStep)
    offered = visit.shop.offered_methods(step)
    method = request.form.get("method", "")
    provider = PROVIDERS.get(method)
    if method not in offered or provider is None:
        names = i18n.format_list([m.label for m in offered.values()])
        return Refused(
            {
                "method": _("Choose one of the offered payment methods: %(methods)s.")
                % {"methods": names}
            },
            values=responses.form_values(),
        )
    details, errors = provider.validate(request.form)
    if errors:
        return Refused(errors, values=responses.form_values())
    return Completed(scratch={"payment": {"method": method, **details}})
