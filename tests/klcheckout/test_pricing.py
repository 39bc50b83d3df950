"""The cart's figures: each billing period with the tax it includes, by rate."""

from __future__ import annotations

from decimal import Decimal

from example import EXAMPLE

import kljourney
from klcheckout.pricing import PricedCart


def test_each_period_shows_its_own_tax_by_rate() -> None:
    shop = kljourney.load(EXAMPLE)
    # A monthly e-book at 7 % next to Starter at 19 %, and the one-time workshop.
    ebook = shop.products["starter"].model_copy(
        update={
            "id": "ebook",
            "name": "E-book club",
            "price": Decimal("4.99"),
            "tax_rate": Decimal(7),
        }
    )
    shop.products["ebook"] = ebook
    journey = shop.journeys["k9uscs7vr7"]
    cart = PricedCart.of(shop, journey, {"starter": 1, "ebook": 1, "onboarding": 1})
    formatted = cart.formatted_totals()
    assert formatted["one_time_tax"] == "€39.76 (19 %)"
    assert formatted["monthly_tax"] == "€1.58 (19 %) + €0.33 (7 %)"
    assert formatted["yearly_tax"] == ""
    # What is paid now is not mixed with what each month costs.
    assert formatted["one_time_gross"] == "€249.00"
    assert formatted["monthly_gross"] == "€14.89 / month"
