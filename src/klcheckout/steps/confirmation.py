"""Direct confirmation: place the order, then send the customer on.

The order is committed before the answer leaves; a repeated confirmation (double
click, replay, retry after a timeout) finds the order already placed for this
checkout and answers with it instead of placing another.
"""

from __future__ import annotations

from flask import Response, g, request

from kljourney.model import OrderDoneStep, StepBase

from .. import cart as carts
from .. import orders, progress, web
from ..visit import Visit
from . import guard, handles, refuse, skip


@handles("confirmation", guarded=False)
def confirm(visit: Visit, step: StepBase) -> Response:
    token = request.form.get("confirm_token", "").strip()[:64] or None
    # Placing the order deletes the checkout's row in the same transaction: while the
    # row is there, no order is, and only a checkout without one needs to look.
    placed = None
    if visit.checkout is None:
        placed = orders.placed_for(visit.connection, visit.cart.checkout_id)
    if placed is None and progress.first_incomplete(visit, step) is not None:
        # Placing the order ends the checkout's row, so a request racing a concurrent
        # confirmation can find the steps incomplete: look for its order once more.
        placed = orders.placed_for(visit.connection, visit.cart.checkout_id)
        if placed is None:
            refused = guard(visit, step)
            assert refused is not None
            return refused
    replayed = placed is not None
    if placed is None:
        refused = skip(visit, step) or refuse(visit, step)
        if refused is not None:
            return refused
        try:
            placed = orders.place(visit, step, token)
        except orders.OrderRefused as error:
            return web.respond(visit, step, errors={"_form": error.message}, status=409)
    # The cart is now empty and gets a fresh checkout id; the done page finds the order
    # through the old one.
    visit.cart.lines = {}
    visit.cart.done = placed.checkout_id
    visit.cart.checkout_id = carts.new_id()
    visit.cart.dirty = True
    target = progress.after(visit, step)
    location = None
    if isinstance(target, OrderDoneStep) and target.external_url:
        location = target.external_url
    response = web.respond(visit, target, location=location)
    if replayed:
        g.keylight_refused = True  # the order was placed by an earlier request: no new events
    return response
