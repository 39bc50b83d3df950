"""Direct confirmation: place the order, then send the customer on.

The order is committed before the answer leaves; a repeated confirmation (double
click, replay, retry after a timeout) finds the order already placed for this
checkout and answers with it instead of placing another.
"""

from __future__ import annotations

from flask import request
from sqlalchemy import Connection

from kljourney.model import OrderDoneStep, StepBase

from .. import navigation, orders
from ..visit import Visit
from . import handles, missing_before, passed_over, refused_by_rules
from .outcomes import Completed, Outcome, Passed, Refused, StepRefused


@handles("confirmation", guarded=False)
def confirm(visit: Visit, step: StepBase) -> Outcome:
    token = request.form.get("confirm_token", "").strip()[:64] or None
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
    target = navigation.after(visit, step)
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
            return orders.place(connection, visit, step, token).created
        except orders.OrderRefused as error:
            raise StepRefused(Refused({"_form": error.message}, status=409)) from None

    return Completed(
        write=place,
        durable=True,
        ends_checkout=True,
        target=target,
        location=location or None,
    )
