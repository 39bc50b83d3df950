"""Step processing: ``POST API/KEY/steps/STEP``.

Each kind of step has a handler (registered with ``handles``) that looks at the
request and returns an outcome (``outcomes``): completed with what to save,
refused with errors, or passed over. ``finish`` acts on it, the same way for
every kind: it chooses the transaction, saves, records ``step_completed`` in
that transaction, and answers (a 303 to a page, or JSON for the page script).

Before a handler runs, the steps before this one must be complete; otherwise
the customer is sent to the first incomplete step with the reason. A step whose
condition is false takes no answers: the customer is sent on to the next step
that applies. The rules and validate hooks of a step other than a form are
checked here (a form's need the submitted answers, so its handler checks them).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from flask import Blueprint, Response, current_app
from sqlalchemy import Connection
from werkzeug.exceptions import NotFound

from kljourney.i18n import N_
from kljourney.i18n import gettext as _
from kljourney.model import StepBase

from .. import accounts, checkouts, conditions, handovers, navigation, responses, security
from ..hooks import events, validation
from ..visit import Visit, begin
from .outcomes import Completed, Outcome, Passed, Refused, StepRefused

Handler = Callable[[Visit, StepBase], Outcome]
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


@bp.post("/<key>/steps/<step_id>")
def post_step(key: str, step_id: str) -> Response:
    visit = begin(key, changes_state=True)
    step = visit.step(step_id)
    check_subject(visit)
    handler = HANDLERS.get(step.type)
    if handler is None:
        raise NotFound(_("The step %(step)s takes no answers.") % {"step": repr(step_id)})
    outcome: Outcome | None = wrong_actor(visit, step)
    if outcome is None and step.type not in SELF_GUARDED:
        outcome = passed_over(visit, step) or missing_before(visit, step)
        if outcome is None and step.type != "form":
            outcome = refused_by_rules(visit, step) or refused_by_hooks(visit, step)
    outcome = outcome or handler(visit, step)
    handed = visit.handover is not None and isinstance(outcome, Completed)
    if handed:
        outcome = completing_handover(visit, step, outcome)
    response = finish(visit, step, outcome)
    if handed and response.status_code in (200, 303) and visit.handover_completed:
        visit.leave_handover()  # the customer's part is done: the checkout is staff's again
    return response


# -- checks every step passes before its handler ------------------------------------------


def check_subject(visit: Visit) -> None:
    """A subscription journey acts on the visitor's own subscription, checked on every
    request; and any journey with a ``when`` of its own is open only when it holds."""
    if visit.journey.about_subscription and visit.subscription is None:
        raise NotFound(_(NO_SUBSCRIPTION))
    if not conditions.journey_open(visit):
        raise security.Forbidden(_(CLOSED))


#: Translated where used, like ``CLOSED``.
NO_SUBSCRIPTION = N_(
    "We could not find this subscription among yours. Sign in with the account it "
    "belongs to, and open it from your account page."
)
CLOSED = N_("This page is not open for you now. Your account page shows what you can do.")


#: Translated where used.
CUSTOMERS_STEP = N_(
    "This step is the customer's to complete, not staff's: send it to the customer from "
    'its page ("Send to the customer").'
)
STAFFS_STEP = N_("A member of the shop's staff completes this step, not the customer.")


#: Translated where used.
HANDED_STEP_ONLY = N_(
    "Your link is for the step “%(step)s” only: the shop's staff do the rest of this order."
)
HANDOVER_GONE = N_(
    "This step can no longer be completed with your link: it was completed, withdrawn or "
    "replaced meanwhile, or it expired. Ask the shop's staff who sent it for a new one."
)


def wrong_actor(visit: Visit, step: StepBase, *, on_cart: bool = False) -> Refused | None:
    """A step completed by the wrong kind of actor (its ``actor``): refused, saying whose
    step it is. Who is staff is read from the staff session on the server
    (``Visit.staff``), never from the form. A customer who opened a hand-over link
    completes the step handed to them, and no other (nor the cart: ``on_cart``, nor the
    confirmation)."""
    handover = visit.handover
    if handover is not None:
        if step.id == handover.step_id and not on_cart:
            return None
        handed = visit.journey.step(handover.step_id)
        message = _(HANDED_STEP_ONLY) % {"step": handed.name if handed else handover.step_id}
        return Refused({"_form": message}, status=403, target=handed)
    as_staff = visit.staff is not None
    if step.completed_by(staff=as_staff):
        return None
    message = _(CUSTOMERS_STEP) if as_staff else _(STAFFS_STEP)
    return Refused({"_form": message}, status=403)


def passed_over(visit: Visit, step: StepBase) -> Passed | None:
    """For a step whose condition is false: on to the next step that applies (or to a
    step before it that is still to be done)."""
    if conditions.of(visit).applies(step):
        return None
    return Passed(navigation.instead_of(visit, step))


def missing_before(visit: Visit, step: StepBase) -> Refused | None:
    """The first incomplete step before ``step``, with why; None if all are done."""
    gap = navigation.gap(visit, step)
    if gap is None:
        return None
    target, errors = gap
    return Refused(errors, status=409, target=target)


def refused_by_rules(visit: Visit, step: StepBase) -> Refused | None:
    errors = conditions.of(visit).refusals(step)
    return Refused(errors) if errors else None


def refused_by_hooks(visit: Visit, step: StepBase) -> Refused | None:
    """The step's validate hooks (a stock or credit check) refusing it; None when they accept.

    A form's handler asks them itself, with the answers it has just checked.
    """
    errors = validation.validate_step(visit, step, {})
    return Refused(errors) if errors else None


def completing_handover(visit: Visit, step: StepBase, done: Completed) -> Completed:
    """The customer completing the step handed to them: what the step saves, and in the
    same transaction the hand-over completed (the member told by email and event). A
    link that stopped working meanwhile saves nothing. The customer then sees a thank-you
    page rather than the next step (which is staff's)."""
    row = visit.handover
    loaded = current_app.extensions["keylight"]
    own_write = done.write

    def write(connection: Connection) -> bool:
        if own_write is not None and not own_write(connection):
            return False
        if not handovers.complete(
            connection,
            row,
            shop=visit.shop,
            folders=loaded.folders,
            journey=visit.journey,
            step=step,
        ):
            raise StepRefused(Refused({"_form": _(HANDOVER_GONE)}, status=410))
        visit.handover_completed = True
        return True

    return replace(done, write=write, durable=True, location=handovers.thanks_url(visit.shop.site))


# -- acting on the outcome ----------------------------------------------------------------


def finish(visit: Visit, step: StepBase, outcome: Outcome) -> Response:
    """Save what a completed step collected with its event, and answer."""
    if isinstance(outcome, Refused):
        return responses.respond(
            visit,
            outcome.target or step,
            errors=dict(outcome.errors),
            values=outcome.values,
            status=outcome.status,
        )
    if isinstance(outcome, Passed):
        return responses.respond(visit, outcome.target, location=outcome.location)
    try:
        save(visit, step, outcome)
    except StepRefused as refusal:
        return finish(visit, step, refusal.outcome)
    if outcome.ends_checkout:
        visit.end_checkout()
    target = outcome.target or navigation.after(visit, step)  # the answers may choose it
    return responses.respond(visit, target, location=outcome.location)


def save(visit: Visit, step: StepBase, done: Completed) -> None:
    """Write what ``done`` names and the step's ``step_completed`` event, together.

    A checkout's scratch data without an event to go with it is one statement
    where one will do (``checkouts``); everything else is one transaction, durable
    when it holds an account's data or an order. A step that saves nothing (the
    cart lives in the cookie) gets a durable transaction for its event alone.
    """
    listened = bool(events.listeners(visit.journey, "step_completed", step))
    if not listened and done.write is None and done.profile is None:
        if _save_scratch_alone(visit, step, done):
            return
    durable = done.durable or done.profile is not None or not done.saves_data
    checkout = (visit.cart.checkout_id, visit.journey.key)
    with visit.writing(durable=durable) as connection:
        if done.answers is not None:
            row = checkouts.lock(connection, *checkout)
            checkouts.save_answers(connection, row, step.id, dict(done.answers))
        if done.scratch:
            checkouts.put(connection, *checkout, **done.scratch)
        if done.profile is not None:
            accounts.save_profile(connection, visit.customer.id, dict(done.profile))
        if done.answers is not None or done.scratch:
            visit.forget_reads()  # the event reports what was just saved
        completed = done.write(connection) if done.write is not None else True
        if completed and listened:
            events.step_completed(visit, step, connection)
    visit.forget_reads()


def _save_scratch_alone(visit: Visit, step: StepBase, done: Completed) -> bool:
    """Save a checkout's scratch data in a single statement; False if that cannot be done
    (a form's row changed since it was read: it is locked and saved instead)."""
    if done.answers is not None:
        seen = visit.checkout
        written = None
        if seen is not None:
            written = checkouts.save_answers_unless_changed(
                visit.connection, seen, step.id, dict(done.answers)
            )
        if written is None:
            return False
        visit.wrote(written)
    elif done.scratch:
        checkout_id, key = visit.cart.checkout_id, visit.journey.key
        visit.wrote(checkouts.put(visit.connection, checkout_id, key, **done.scratch))
    return True


from . import (  # noqa: E402,F401
    authentication,
    cart,
    confirmation,
    customer_lookup,
    form,
    payment_method,
    subscription,
)
