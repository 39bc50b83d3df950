"""Product selection and cart steps: "Continue" needs something in the cart.

The cart itself changes through ``cart_views`` (it lives in the cookie); these
steps only check it before the customer goes on.
"""

from __future__ import annotations

from kljourney.i18n import N_
from kljourney.i18n import gettext as _
from kljourney.model import StepBase

from ..visit import Visit
from . import handles
from .outcomes import Completed, Outcome, Refused

#: Translated where used.
EMPTY = N_("Your cart is empty: choose a product first.")


@handles("product_selection", "order")
def continue_from_cart(visit: Visit, step: StepBase) -> Outcome:
    if not visit.cart.lines:
        return Refused({"_form": _(EMPTY)})
    return Completed()
