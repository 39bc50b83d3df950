"""Direct confirmation: place the order, then send the customer on.

The order is committed before the answer leaves; a repeated confirmation (double
click, replay, retry after a timeout) finds the order already placed for this
checkout and answers with it instead of placing another.
"""

from __future__ import annotations

from flask import request
from sqlalchemy import Connection

from kljourney.i18n import N_
from kljourney.i18n import gettext as _
from kljourney.model import SUBSCRIPTION_STEP_TYPES, ConfirmationStep, OrderDoneStep, StepBase

from .. import changes, checkouts, conditions, navigation, orders, subscriptions
from ..clock import now
from ..visit import Visit
from . import handles, missing_before, passed_over, refused_by_rules
from .outcomes import Completed, Outcome, Passed, Refused, StepRefused
from .quote import send_quote
from .subscription import CHANGED


@handles("confirmation", guarded=False)
def confirm(visit: Visit, step: StepBase) -> Outcome:
    token = request.form.get("confirm_token", "").strip()[:64] or None
    assert isinstance(step, ConfirmationStep)
    if step.sends_quote:
        return send_quote(visit, step, token)
    if step.accept_terms and request.form.get("accept_terms") != "on":
        return Refused({"accept_terms": _(ACCEPT_TERMS)})
    if visit.journey.about_subscription:
        row = visit.subscription
        if request.form.get("subscription", "") != row.public_id:
            # The page showed another subscription than the one chosen since (in another
            # window): nothing is confirmed that the customer did not see.
            return Refused({"_form": _(OTHER_SUBSCRIPTION)}, status=409, target=step)
        if not _orders_again(visit):
            return confirm_change(visit, step, token)
    # Placing the order deletes the checkout's row in the same transaction: while the
    # row is there, no order is, and only a checkout without one needs to look.
    placed = None
    if visit.checkout is None:
        placed = orders.placed_for(visit.connection, visit.cart.checkout_id)
    if placed is None and navigation.first_incomplete(visit, step) is not None:
        # Placing the order ends the checkout's row, so a request racing a concurrent
        # confirmation can find the steps incomplete: look for its order once more.
        placed = orders.placed_for(visit.connection, visit.cart.checkout_id)
        if placed is None:
            refused = missing_before(visit, step)
            assert refused is not None
            return refused
    target = navigation.after_order(visit, step)
    location = target.external_url if isinstance(target, OrderDoneStep) else None
    if placed is not None:  # placed by an earlier request: the same answer, no new events
        visit.end_checkout()
        return Passed(target, location or None)
    elsewhere = passed_over(visit, step) or refused_by_rules(visit, step)
    if elsewhere is not None:
        return elsewhere

    def place(connection: Connection) -> bool:
        # The visit's reads (made by the checks above) still show the checkout after the
        # order takes its row: the step's event reports them.
        try:
            placed = orders.place(connection, visit, step, token)
        except orders.OrderRefused as error:
            raise StepRefused(Refused({"_form": error.message}, status=409)) from None
        if placed.created and visit.journey.about_subscription:
            _won_back(connection, visit, placed)
        return placed.created

    return Completed(
        write=place,
        durable=True,
        ends_checkout=True,
        target=target,
        location=location or None,
    )


#: Translated where used, like ``OTHER_SUBSCRIPTION``.
ACCEPT_TERMS = N_("Accept the terms and conditions to go on: tick the box above the button.")
OTHER_SUBSCRIPTION = N_(
    "This page showed another subscription than the one you chose last (in another window). "
    "Here is the one you chose: check it, and confirm again."
)


def _orders_again(visit: Visit) -> bool:
    """A subscription journey on a cancelled subscription orders its plan anew (win-back)."""
    row = visit.subscription
    return row is not None and row.status == "cancelled"


def _won_back(connection: Connection, visit: Visit, placed: orders.Placed) -> None:
    row = visit.subscription
    new_id = placed.subscriptions[0] if placed.subscriptions else ""
    try:
        after = subscriptions.won_back(
            connection, row, order_number=placed.number, new_id=new_id, moment=now()
        )
    except subscriptions.Refused as refusal:
        raise StepRefused(Refused({"_form": refusal.message}, status=409)) from None
    changes.notify(connection, visit.journey, row, "won_back", after, visit.shop)


def confirm_change(visit: Visit, step: StepBase, token: str | None) -> Outcome:
    """Apply the change the journey's answers ask for to the visitor's subscription, once.

    The same page sent twice (a double click, a retry) finds its change applied and
    gets the same answer; any other confirmation made on an older version of the
    subscription (a second tab, a change by support meanwhile) is told it changed.
    """
    target = navigation.after_order(visit, step)
    location = target.external_url if isinstance(target, OrderDoneStep) else None
    done = Passed(target, location or None)
    checkout_id, key = visit.cart.checkout_id, visit.journey.key

    def applied_by_this_page(connection: Connection) -> bool:
        """Whether this very page's confirmation (its token) made the change already:
        a double click, or a retry, gets the answer the first request got."""
        row = checkouts.get(connection, checkout_id)
        return bool(token) and row is not None and (row.applied or {}).get("token") == token

    if applied_by_this_page(visit.connection):
        return done
    refused = missing_before(visit, step)
    if refused is not None:
        return refused
    elsewhere = passed_over(visit, step) or refused_by_rules(visit, step)
    if elsewhere is not None:
        return elsewhere
    row = visit.subscription
    moment = now()
    decide = conditions.of(visit)
    wanted = changes.pending(
        visit.shop, visit.journey, visit.answers, row, moment, applies=decide.applies
    )
    first = _first_choice(visit)
    if wanted is None:
        if changes.chosen_on_older_version(visit.journey, visit.answers, row):
            # The choice was made before a change from another tab (or by support) that
            # made it moot, such as the plan chosen having become the current one.
            if applied_by_this_page(visit.connection):
                return done
            return Refused({"_form": _(CHANGED)}, status=409, target=first)
        return Refused({"_form": _("Choose what to change first.")}, status=409, target=first)
    changed = Refused({"_form": _(CHANGED)}, status=409, target=wanted.step)
    if wanted.version != row.version:  # read after a concurrent request of this page?
        return done if applied_by_this_page(visit.connection) else changed

    def write(connection: Connection) -> bool:
        try:
            made = changes.apply(
                connection, visit.shop, visit.journey, wanted, row, token=token, moment=moment
            )
        except subscriptions.Changed:
            raise StepRefused(done if applied_by_this_page(connection) else changed) from None
        except subscriptions.Refused as refusal:
            raise StepRefused(Refused({"_form": refusal.message}, status=409)) from None
        text = changes.sentence(made.action, made.subscription, visit.shop)
        if made.order_number:
            text = _("%(change)s The order number of the charge is %(number)s.") % {
                "change": text,
                "number": made.order_number,
            }
        summary = {
            "action": made.action,
            "text": text,
            "order_number": made.order_number,
            "token": token,
        }
        checkouts.put(connection, checkout_id, key, applied=summary)
        return True

    return Completed(write=write, durable=True, target=target, location=location or None)


def _first_choice(visit: Visit) -> StepBase:
    """The journey's first plan change, cancellation or pause step (or its first step)."""
    for candidate in visit.journey.active_steps:
        if candidate.type in SUBSCRIPTION_STEP_TYPES:
            return candidate
    return visit.journey.active_steps[0]
