"""Form steps: validate every field from the form definition and keep the answers.

A signed-in customer's sold-to answers are also saved to their account, keyed by
the fields' autocomplete tokens, to fill the form in next time.
"""

from __future__ import annotations

from flask import Response, request

from kljourney.model import FormStep, StepBase

from .. import accounts, checkouts, conditions, forms, hooks, progress, web
from ..visit import Visit
from . import handles


def profile_of(form_step: FormStep, visit: Visit, answers: dict[str, object]) -> dict[str, object]:
    """Answers keyed for auto-fill: by autocomplete token, else by 'name:<field>'."""
    profile = dict(visit.customer.profile or {}) if visit.customer is not None else {}
    for form_field in visit.shop.forms[form_step.form].fields:
        key = form_field.profile_key
        if form_field.name in answers:
            profile[key] = answers[form_field.name]
    return profile


@handles("form")
def submit_form(visit: Visit, step: StepBase) -> Response:
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
        errors = hooks.validate_step(visit, step, answers)
    if errors:
        return web.respond(visit, step, errors=errors, values=web.form_values())
    # A signed-in customer's profile is their account's data: durable. A checkout's
    # answers alone are scratch until the order copies them (see db.writing).
    to_profile = step.form_target == "sold_to_account" and visit.customer is not None
    listened = bool(hooks.listeners(visit.journey, "step_completed", step))
    seen = visit.checkout
    saved = (
        not to_profile
        and not listened
        and seen is not None
        and checkouts.save_answers_unless_changed(visit.connection, seen, step.id, answers)
    )
    if not saved:  # a new row, a profile or event to save too, or a row changed meanwhile
        profile = profile_of(step, visit, answers) if to_profile else None
        with visit.writing(durable=to_profile) as connection:
            row = checkouts.lock(connection, visit.cart.checkout_id, visit.journey.key)
            checkouts.save_answers(connection, row, step.id, answers)
            if profile is not None:
                accounts.save_profile(connection, visit.customer.id, profile)
            if listened:
                hooks.step_completed(visit, step, connection)
    visit.forget_reads()
    return web.respond(visit, progress.after(visit, step))
