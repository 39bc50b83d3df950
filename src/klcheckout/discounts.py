"""Discounts on recurring prices: what a price is once a discount is taken off.

A discount is a percentage or an amount off each billing period's price of a
line, for a number of periods or for as long as the subscription runs (its
``periods``). The reduced price is rounded once, half up; an amount off never
takes a price below zero.

A subscription keeps its discount as a small record, with the renewals still
reduced (``periods_left``; None: all of them). The price the subscription shows
is the one before the discount, so ending the discount is forgetting the record.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from kljourney.model import Discount
from kljourney.money import quantize


def reduce(amount: Decimal, discount: Discount | dict[str, Any], currency: str) -> Decimal:
    """``amount`` with the discount taken off."""
    percent, off = _terms(discount)
    if percent is not None:
        return quantize(amount * (100 - percent) / 100, currency)
    assert off is not None
    return quantize(max(Decimal(0), amount - off), currency)


def _terms(discount: Discount | dict[str, Any]) -> tuple[Decimal | None, Decimal | None]:
    if isinstance(discount, Discount):
        return discount.percent, discount.amount
    percent, amount = discount.get("percent"), discount.get("amount")
    return (
        Decimal(percent) if percent is not None else None,
        Decimal(amount) if amount is not None else None,
    )


def record(discount: Discount, periods_used: int) -> dict[str, Any] | None:
    """The discount as a subscription keeps it, ``periods_used`` periods already charged
    at the reduced price; None when none are left."""
    left = None if discount.periods is None else discount.periods - periods_used
    if left is not None and left <= 0:
        return None
    return {
        "id": discount.id,
        "name": discount.name,
        "percent": str(discount.percent) if discount.percent is not None else None,
        "amount": str(discount.amount) if discount.amount is not None else None,
        "periods_left": left,
        "products": discount.products,
    }


def covers(kept: dict[str, Any] | None, product: str) -> bool:
    """Whether a subscription's discount record reduces ``product``'s price."""
    if not kept:
        return False
    products = kept.get("products")
    return products is None or product in products
