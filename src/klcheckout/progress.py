"""Where a customer is in a journey: which steps are complete, and where to go next.

The pages are static, so nothing stops a customer from opening any step's URL;
the backend decides instead, on every step POST, that the steps before it are
complete, and sends the customer to the first one that is not.
"""

from __future__ import annotations

from klbuild.config import Shop
from klbuild.model import (
    AuthenticationStep,
    FormStep,
    Journey,
    OrderDoneStep,
    OrderStep,
    PaymentMethodStep,
    ProductSelectionStep,
    StepBase,
)

from . import forms
from .visit import Visit


def page_url(shop: Shop, journey: Journey, step: StepBase) -> str:
    """The static page of a step: base_url + KEY/STEP/ (base_url may be absolute)."""
    return f"{shop.site.base_url}{journey.key}/{step.id}/"


def next_step(journey: Journey, step: StepBase) -> StepBase | None:
    steps = journey.active_steps
    index = next(i for i, s in enumerate(steps) if s.id == step.id)
    return steps[index + 1] if index + 1 < len(steps) else None


def after(journey: Journey, step: StepBase) -> StepBase:
    """The step to show after ``step`` was completed: the next active one, or itself."""
    return next_step(journey, step) or step


def missing(visit: Visit, step: StepBase) -> str | None:
    """Why ``step`` is not complete yet, or None when it is."""
    if isinstance(step, ProductSelectionStep | OrderStep):
        return None if visit.cart.lines else "Your cart is empty: choose a product first."
    if isinstance(step, AuthenticationStep):
        if visit.customer is not None:
            return None
        if step.guest_allowed and visit.guest_email:
            return None
        if step.guest_allowed:
            return "Sign in, create an account or continue as a guest."
        return "Sign in or create an account to continue."
    if isinstance(step, FormStep):
        saved = visit.answers.get(step.id)
        if saved is None:
            return f"Fill in “{step.name}” to continue."
        form = visit.shop.forms[step.form]
        _, errors = forms.validate(form, as_form_data(saved))
        return f"Check “{step.name}”: the form has changed." if errors else None
    if isinstance(step, PaymentMethodStep):
        chosen = visit.payment
        if not chosen or chosen.get("method") not in visit.shop.offered_methods(step):
            return "Choose how you want to pay."
        return None
    return None


def as_form_data(answers: dict[str, object]) -> dict[str, str]:
    """Saved answers in the shape a form POST has, for re-validation against today's form."""
    data = {}
    for name, value in answers.items():
        if isinstance(value, bool):
            if value:
                data[name] = "on"
        else:
            data[name] = str(value)
    return data


def first_incomplete(visit: Visit, before: StepBase) -> tuple[StepBase, str] | None:
    """The first active step before ``before`` that is not complete, with the reason."""
    for step in visit.journey.active_steps:
        if step.id == before.id:
            return None
        if isinstance(step, OrderDoneStep):
            continue
        reason = missing(visit, step)
        if reason:
            return step, reason
    return None
