"""Product selection and cart steps, and the cart endpoints they post to.

Adding to the cart touches only the signed cookie, never the database, so it
stays fast; prices are never read from the request (a ``price`` field is ignored).
"""

from __future__ import annotations

from flask import Blueprint, Response, request

from kljourney.model import StepBase

from .. import cart as carts
from .. import progress, web
from ..cart import CartError
from ..visit import Visit, begin
from . import bp as steps_bp
from . import find_step, handles

bp = Blueprint("cart", __name__)


def _back_to(visit: Visit) -> StepBase:
    """The step the form came from (its ``step`` field), or the journey's first step."""
    step_id = request.form.get("step", "")
    return find_step(visit, step_id) if step_id else visit.journey.active_steps[0]


def _apply(visit: Visit, change: str) -> Response:
    back = _back_to(visit)
    previous = dict(visit.cart.lines)
    try:
        product = request.form.get("product", "").strip()
        if not product:
            raise CartError("product", "Choose a product.")
        if change == "add":
            quantity = carts.parse_quantity(
                request.form.get("quantity"), visit.max_quantity, allow_zero=False, default=1
            )
            carts.add(
                visit.cart,
                visit.shop,
                visit.journey,
                back.id,
                product,
                quantity,
                visit.max_quantity,
            )
        else:
            quantity = carts.parse_quantity(
                request.form.get("quantity"), visit.max_quantity, allow_zero=True, default=None
            )
            carts.update(visit.cart, visit.shop, product, quantity)
        if not carts.fits(visit.app, carts.encode(visit.app, visit.cart)):
            raise CartError(
                "product", "Your cart is full: remove something before adding more products."
            )
    except CartError as error:
        visit.cart.lines = previous
        return web.respond(visit, back, errors={error.field: error.message}, status=error.status)
    return web.respond(visit, back)


@bp.post("/<key>/cart/add")
def add(key: str) -> Response:
    return _apply(begin(key, changes_state=True), "add")


@bp.post("/<key>/cart/update")
def update(key: str) -> Response:
    return _apply(begin(key, changes_state=True), "update")


@handles("product_selection", "order")
def continue_from_cart(visit: Visit, step: StepBase) -> Response:
    """'Continue' on a product or cart page: the cart must hold something."""
    if not visit.cart.lines:
        return web.respond(
            visit, step, errors={"_form": "Your cart is empty: choose a product first."}
        )
    return web.respond(visit, progress.after(visit, step))


__all__ = ["bp", "find_step", "steps_bp"]
