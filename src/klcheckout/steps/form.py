"""Form steps: validate every field from the form definition and keep the answers.

A signed-in customer's sold-to answers are also saved to their account, keyed by
the fields' profile keys, to fill the form in next time.
"""

from __future__ import annotations

from collections.abc import Mapping

from flask import request

from kljourney.model import FormStep, StepBase

from .. import conditions, forms, responses
from ..hooks import validation
from ..visit import Visit
from . import handles
from .outcomes import Completed, Outcome, Refused


@handles("form")
def submit_form(visit: Visit, step: StepBase) -> Outcome:
    assert isinstance(step, FormStep)
    form = visit.shop.forms[step.form]
    answers, errors = forms.validate(form, request.form)
    # The step's rules see the submitted answers; a field keeps its first message.
    for name, message in conditions.of(visit).refusals(step, answers).items():
        if name == "_form" and "_form" in errors:
            errors["_form"] = f"{errors['_form']} {message}"
        else:
            errors.setdefault(name, message)
    if not errors:  # the shop's validate hooks only see answers that passed the built-in checks
        errors = validation.validate_step(visit, step, answers)
    if errors:
        return Refused(errors, values=responses.form_values())
    profile = None
    if step.form_target == "sold_to_account" and visit.customer is not None:
        profile = profile_of(visit, step, answers)
    return Completed(answers=answers, profile=profile)


def profile_of(visit: Visit, step: FormStep, answers: Mapping[str, object]) -> dict[str, object]:
    """The customer's auto-fill answers with this form's answers added."""
    profile = dict(visit.customer.profile or {})
    for form_field in visit.shop.forms[step.form].fields:
        if form_field.name in answers:
            profile[form_field.profile_key] = answers[form_field.name]
    return profile
