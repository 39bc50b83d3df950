"""Prices and totals, computed on the server from the catalog, never taken from a request.

Each line is rounded once (``kljourney.money``); totals are sums of rounded lines,
split by billing period, because "€9.90 / month" and "€249.00 once" do not add up
to one meaningful number for a customer.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

from kljourney import Shop
from kljourney.model import Journey, Product
from kljourney.money import format_money as _format_money
from kljourney.money import format_price as _format_price
from kljourney.money import quantize, tax_included

# Babel's formatting costs tens of microseconds a call and the same few amounts come
# back on every request: remember them (the arguments are immutable values).
format_money = lru_cache(maxsize=4096)(_format_money)
format_price = lru_cache(maxsize=4096)(_format_price)

BILLINGS = ("one_time", "monthly", "yearly")


@dataclass(frozen=True)
class PricedLine:
    product: Product
    quantity: int
    unit_price: Decimal
    line_total: Decimal
    tax: Decimal

    def as_json(self, currency: str, locale: str) -> dict[str, object]:
        billing = self.product.billing
        return {
            "product": self.product.id,
            "name": self.product.name,
            "quantity": self.quantity,
            "billing": billing,
            "unit_price": str(self.unit_price),
            "line_total": str(self.line_total),
            "tax_rate": str(self.product.tax_rate),
            "formatted": {
                "unit_price": format_price(self.unit_price, currency, locale, billing),
                "line_total": format_price(self.line_total, currency, locale, billing),
            },
        }


def price_lines(shop: Shop, journey: Journey, lines: dict[str, int]) -> list[PricedLine]:
    """The cart's lines with catalog prices; unknown products must be gone already."""
    currency = shop.entity(journey).currency
    priced = []
    for product_id, quantity in lines.items():
        product = shop.products[product_id]
        unit = quantize(product.price, currency)
        total = quantize(product.price * quantity, currency)
        priced.append(
            PricedLine(
                product, quantity, unit, total, tax_included(total, product.tax_rate, currency)
            )
        )
    return priced


def _figures(lines: list[PricedLine], currency: str) -> dict[str, Decimal]:
    gross = sum((line.line_total for line in lines), Decimal(0))
    tax = sum((line.tax for line in lines), Decimal(0))
    return {
        "net": quantize(gross - tax, currency),
        "tax": quantize(tax, currency),
        "gross": quantize(gross, currency),
    }


def totals(lines: list[PricedLine], currency: str, locale: str) -> dict[str, object]:
    """Net, tax and gross per billing period and per tax rate, plain and formatted."""
    by_billing = {
        b: _figures([x for x in lines if x.product.billing == b], currency) for b in BILLINGS
    }
    rates: dict[Decimal, Decimal] = {}
    for line in lines:
        rates[line.product.tax_rate] = rates.get(line.product.tax_rate, Decimal(0)) + line.tax
    everything = _figures(lines, currency)

    def text(figures: dict[str, Decimal]) -> dict[str, str]:
        return {key: str(value) for key, value in figures.items()}

    return {
        "one_time": text(by_billing["one_time"]),
        "recurring": {"monthly": text(by_billing["monthly"]), "yearly": text(by_billing["yearly"])},
        "taxes": [
            {"rate": str(rate), "amount": str(quantize(amount, currency))}
            for rate, amount in sorted(rates.items())
        ],
        "formatted": {
            "one_time_gross": format_money(by_billing["one_time"]["gross"], currency, locale),
            "monthly_gross": format_price(
                by_billing["monthly"]["gross"], currency, locale, "monthly"
            ),
            "yearly_gross": format_price(by_billing["yearly"]["gross"], currency, locale, "yearly"),
            "tax": format_money(everything["tax"], currency, locale),
            "gross": format_money(everything["gross"], currency, locale),
            "net": format_money(everything["net"], currency, locale),
        },
        "net": str(everything["net"]),
        "tax": str(everything["tax"]),
        "gross": str(everything["gross"]),
    }
