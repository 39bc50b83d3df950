"""``POST API/KEY/cart/add`` and ``/cart/update``: the cart, kept in the signed cookie.

Adding to the cart touches only the cookie, never the database, so it stays
fast; prices are never read from the request (a ``price`` field is ignored).
"""

from __future__ import annotations

from flask import Blueprint, Response, request

from kljourney.i18n import gettext as _

from . import cart as carts
from . import responses, steps
from .cart import CartError
from .visit import Visit, begin

bp = Blueprint("cart", __name__)


@bp.post("/<key>/cart/add")
def add(key: str) -> Response:
    return _change(begin(key, changes_state=True), "add")


@bp.post("/<key>/cart/update")
def update(key: str) -> Response:
    return _change(begin(key, changes_state=True), "update")


def _change(visit: Visit, change: str) -> Response:
    """Apply the change, or keep the cart as it was and say why not."""
    back = visit.came_from()
    refused = steps.wrong_actor(visit, back, on_cart=True)  # the cart of a step not theirs
    if refused is not None:
        return responses.respond(visit, back, errors=dict(refused.errors), status=refused.status)
    previous = dict(visit.cart.lines)
    try:
        product = request.form.get("product", "").strip()
        if not product:
            raise CartError("product", _("Choose a product."))
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
                "product", _("Your cart is full: remove something before adding more products.")
            )
    except CartError as error:
        visit.cart.lines = previous
        return responses.respond(
            visit, back, errors={error.field: error.message}, status=error.status
        )
    return responses.respond(visit, back)
