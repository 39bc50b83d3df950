"""Where a customer is in a journey: which steps are complete, and where to go next.

The pages are static, so nothing stops a customer from opening any step's URL;
the backend decides instead, on every step POST, that the steps before it are
complete, and sends the customer to the first one that is not.

Steps whose condition (``when``) is false are skipped: navigation passes over
them and they are never required (``conditions``). A step whose rules fire is
not complete either, so nobody confirms an order a rule refuses.
"""

from __future__ import annotations

from kljourney.i18n import N_
from kljourney.i18n import gettext as _
from kljourney.model import (
    AuthenticationStep,
    CancellationStep,
    CustomerLookupStep,
    FormStep,
    OrderDoneStep,
    OrderStep,
    PauseStep,
    PaymentMethodStep,
    PlanChangeStep,
    ProductSelectionStep,
    StepBase,
)

from . import conditions, forms, handovers
from .visit import Visit

#: Translated where used.
CART_CHANGED = N_(
    "The cart changed since the customer completed “%(step)s” for it: send the step to "
    "the customer again."
)


def next_step(visit: Visit, step: StepBase) -> StepBase | None:
    """The next active step after ``step`` that applies to this checkout, or None."""
    steps = visit.journey.active_steps
    index = next(i for i, s in enumerate(steps) if s.id == step.id)
    decide = conditions.of(visit)
    return next((s for s in steps[index + 1 :] if decide.applies(s)), None)


def after(visit: Visit, step: StepBase) -> StepBase:
    """The step to show after ``step`` was completed: the next one that applies, or itself."""
    return next_step(visit, step) or step


def after_order(visit: Visit, confirmation: StepBase) -> StepBase:
    """Where a placed order sends the customer: the next step that applies, else the first
    order done page after the confirmation all the same. Its condition may be false for
    this customer (or fail: a mistake in it), but the confirmation, its cart empty now,
    is no place to leave someone who has just paid."""
    found = next_step(visit, confirmation)
    if found is not None:
        return found
    steps = visit.journey.active_steps
    index = next(i for i, s in enumerate(steps) if s.id == confirmation.id)
    return next((s for s in steps[index + 1 :] if isinstance(s, OrderDoneStep)), confirmation)


def instead_of(visit: Visit, skipped: StepBase) -> StepBase:
    """Where a customer who opened a skipped step goes: the next step that applies,
    or the first step before it that is still to be done."""
    target = after(visit, skipped)
    found = gap(visit, target)
    return found[0] if found is not None else target


def missing(visit: Visit, step: StepBase) -> str | None:
    """Why ``step`` is not complete yet, or None when it is."""
    if visit.staff is not None and step.actor == "customer" and visit.checkout is not None:
        # The customer completed it for the cart they were shown: another is not theirs.
        row = handovers.last_completed(visit.connection, visit.cart.checkout_id, step.id)
        if row is not None and not handovers.same_lines(row, visit.cart.lines):
            return _(CART_CHANGED) % {"step": step.name}
    if isinstance(step, ProductSelectionStep | OrderStep):
        return None if visit.cart.lines else _("Your cart is empty: choose a product first.")
    if isinstance(step, AuthenticationStep):
        if visit.customer is not None:
            return None
        if step.guest_allowed and visit.guest_email:
            return None
        if step.guest_allowed:
            return _("Sign in, create an account or continue as a guest.")
        return _("Sign in or create an account to continue.")
    if isinstance(step, CustomerLookupStep):
        if visit.customer is not None:
            return None
        return _("Find or create the customer the order is for.")
    if isinstance(step, FormStep):
        saved = visit.answers.get(step.id)
        if saved is None:
            return _("Fill in “%(step)s” to continue.") % {"step": step.name}
        form = visit.shop.forms[step.form]
        errors = forms.validate(form, as_form_data(saved))[1]
        return (
            _("Check “%(step)s”: the form has changed.") % {"step": step.name} if errors else None
        )
    if isinstance(step, PlanChangeStep):
        ordering = visit.subscription is not None and visit.subscription.status == "cancelled"
        if step.id not in visit.answers or (ordering and not visit.cart.lines):
            return _("Choose a plan to continue.")
        return None
    if isinstance(step, PauseStep):
        return None if step.id in visit.answers else _("Choose how long to pause.")
    if isinstance(step, CancellationStep):
        saved = visit.answers.get(step.id) or {}
        if saved.get("ready"):
            return None
        if saved.get("offered"):
            return _("Take the offer, or go on cancelling.")
        return _("Tell us why you are leaving.")
    if isinstance(step, PaymentMethodStep):
        chosen = visit.payment
        if not chosen or chosen.get("method") not in visit.shop.offered_methods(step):
            return _("Choose how you want to pay.")
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


def gap(visit: Visit, before: StepBase) -> tuple[StepBase, dict[str, str]] | None:
    """The first applicable step before ``before`` that is not complete, with its errors:
    ``{"_form": reason}``, or the messages of its rules that fire."""
    decide = conditions.of(visit)
    for step in visit.journey.active_steps:
        if step.id == before.id:
            return None
        if isinstance(step, OrderDoneStep) or not decide.applies(step):
            continue
        reason = missing(visit, step)
        if reason:
            return step, {"_form": reason}
        refused = decide.refusals(step)
        if refused:
            return step, refused
    return None


def first_incomplete(visit: Visit, before: StepBase) -> tuple[StepBase, str] | None:
    """The first applicable step before ``before`` that is not complete, with the reason."""
    found = gap(visit, before)
    if found is None:
        return None
    step, errors = found
    return step, " ".join(errors.values())
