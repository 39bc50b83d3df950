"""Prices and totals, computed on the server from the catalog, never taken from a request.

Each line is rounded once (``kljourney.money``); totals are sums of rounded lines,
split by billing period, because "€9.90 / month" and "€249.00 once" do not add up
to one meaningful number for a customer. ``PricedCart`` is the one priced view of
a cart that the state endpoint, the conditions and the order all read.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property, lru_cache
from typing import Any

from babel.numbers import format_decimal

from kljourney import Shop
from kljourney.i18n import gettext as _
from kljourney.model import Discount, Journey, Product
from kljourney.money import format_money as _format_money
from kljourney.money import quantize, tax_included, with_billing

from . import discounts

# Babel's formatting costs tens of microseconds a call and the same few amounts come
# back on every request: remember them (the arguments are immutable values).
format_money = lru_cache(maxsize=4096)(_format_money)


@lru_cache(maxsize=256)
def format_rate(rate: Decimal, locale: str) -> str:
    """A tax rate as the locale writes numbers: '19', '7.5' in en-US, '7,5' in de-DE."""
    return format_decimal(rate.normalize(), locale=locale.replace("-", "_"))


def format_price(amount: Decimal, currency: str, locale: str, billing: str) -> str:
    """A price with its billing period: '€9.90 / month'. Only Babel's part is remembered:
    the words around it are in the language of this request."""
    return with_billing(format_money(amount, currency, locale), billing)


BILLINGS = ("one_time", "monthly", "yearly")


@dataclass(frozen=True)
class PricedLine:
    product: Product
    quantity: int
    unit_price: Decimal
    #: What the line costs, after the journey's discount if it has one.
    line_total: Decimal
    tax: Decimal
    #: The journey's discount on this line, and the line's total before it.
    discount: Discount | None = None
    list_total: Decimal | None = None

    @property
    def full_total(self) -> Decimal:
        """The line's total before any discount: what a subscription of it keeps."""
        return self.list_total if self.list_total is not None else self.line_total

    def as_json(self, currency: str, locale: str) -> dict[str, object]:
        billing = self.product.billing
        formatted = {
            "unit_price": format_price(self.unit_price, currency, locale, billing),
            "line_total": format_price(self.line_total, currency, locale, billing),
            "discount": "",
        }
        found: dict[str, object] = {
            "product": self.product.id,
            "name": self.product.name,
            "quantity": self.quantity,
            "billing": billing,
            "unit_price": str(self.unit_price),
            "line_total": str(self.line_total),
            "tax_rate": str(self.product.tax_rate),
            "formatted": formatted,
        }
        if self.discount is not None and self.list_total is not None:
            was = format_price(self.list_total, currency, locale, billing)
            formatted["discount"] = _("%(discount)s, instead of %(price)s") % {
                "discount": self.discount.name,
                "price": was,
            }
            found["discount"] = {
                "id": self.discount.id,
                "name": self.discount.name,
                "periods": self.discount.periods,
                "list_total": str(self.list_total),
            }
        return found


@dataclass(frozen=True)
class Figures:
    """Net, tax and gross of some lines, each a sum of rounded line figures."""

    net: Decimal
    tax: Decimal
    gross: Decimal

    @classmethod
    def of(cls, lines: list[PricedLine], currency: str) -> Figures:
        gross = sum((line.line_total for line in lines), Decimal(0))
        tax = sum((line.tax for line in lines), Decimal(0))
        return cls(
            net=quantize(gross - tax, currency),
            tax=quantize(tax, currency),
            gross=quantize(gross, currency),
        )

    def as_text(self) -> dict[str, str]:
        return {"net": str(self.net), "tax": str(self.tax), "gross": str(self.gross)}


@dataclass(frozen=True)
class PricedCart:
    """A cart's lines at catalog prices, with its totals: everything, and per billing period."""

    lines: list[PricedLine]
    currency: str
    locale: str

    @classmethod
    def of(cls, shop: Shop, journey: Journey, lines: dict[str, int]) -> PricedCart:
        """The cart's lines priced; unknown products must be gone already (``cart.recheck``)."""
        currency = shop.entity(journey).currency
        discount = shop.discount(journey)
        priced = []
        for product_id, quantity in lines.items():
            product = shop.products[product_id]
            unit = quantize(product.price, currency)
            total = quantize(product.price * quantity, currency)
            if discount is not None and discount.applies_to(product):
                reduced = discounts.reduce(total, discount, currency)
                tax = tax_included(reduced, product.tax_rate, currency)
                priced.append(PricedLine(product, quantity, unit, reduced, tax, discount, total))
                continue
            tax = tax_included(total, product.tax_rate, currency)
            priced.append(PricedLine(product, quantity, unit, total, tax))
        return cls(priced, currency, shop.site.locale)

    def period(self, billing: str) -> list[PricedLine]:
        """The lines billed ``one_time``, ``monthly`` or ``yearly``."""
        return [line for line in self.lines if line.product.billing == billing]

    @cached_property
    def everything(self) -> Figures:
        return Figures.of(self.lines, self.currency)

    @cached_property
    def by_billing(self) -> dict[str, Figures]:
        return {
            billing: Figures.of(
                [x for x in self.lines if x.product.billing == billing], self.currency
            )
            for billing in BILLINGS
        }

    def totals(self) -> dict[str, Any]:
        """Net, tax and gross per billing period and per tax rate, as decimal strings."""
        rates: dict[Decimal, Decimal] = {}
        for line in self.lines:
            rates[line.product.tax_rate] = rates.get(line.product.tax_rate, Decimal(0)) + line.tax
        found = {
            "one_time": self.by_billing["one_time"].as_text(),
            "recurring": {
                "monthly": self.by_billing["monthly"].as_text(),
                "yearly": self.by_billing["yearly"].as_text(),
            },
            "taxes": [
                {"rate": str(rate), "amount": str(quantize(amount, self.currency))}
                for rate, amount in sorted(rates.items())
            ],
            **self.everything.as_text(),
        }
        if self.discounted:  # kept with the order: what the journey's discount took off
            found["discount"] = {"amount": str(self.discounted)}
        return found

    @cached_property
    def discounted(self) -> Decimal:
        """What the journey's discount takes off the lines, in all."""
        return sum((line.full_total - line.line_total for line in self.lines), Decimal(0))

    def tax_of(self, billing: str) -> str:
        """The tax included in one billing period's total, by rate: "€39.76 (19 %)", or
        "€1.58 (19 %) + €0.50 (7 %)"; "" when the period has no tax. The tax of a monthly
        fee is not added to the tax of what is paid now: each is charged on its own."""
        rates: dict[Decimal, Decimal] = {}
        for line in self.period(billing):
            rates[line.product.tax_rate] = rates.get(line.product.tax_rate, Decimal(0)) + line.tax
        return " + ".join(
            # TRANSLATORS: the tax included at one rate: "€39.76 (19 %)".
            _("%(amount)s (%(rate)s %%)")
            % {
                "amount": format_money(amount, self.currency, self.locale),
                "rate": format_rate(rate, self.locale),
            }
            for rate, amount in sorted(rates.items(), reverse=True)
            if amount
        )

    def formatted_totals(self) -> dict[str, str]:
        """The totals as the pages show them, in the shop's locale."""
        currency, locale, periods = self.currency, self.locale, self.by_billing
        return {
            "one_time_tax": self.tax_of("one_time"),
            "monthly_tax": self.tax_of("monthly"),
            "yearly_tax": self.tax_of("yearly"),
            "one_time_gross": format_money(periods["one_time"].gross, currency, locale),
            "monthly_gross": format_price(periods["monthly"].gross, currency, locale, "monthly"),
            "yearly_gross": format_price(periods["yearly"].gross, currency, locale, "yearly"),
            "tax": format_money(self.everything.tax, currency, locale),
            "gross": format_money(self.everything.gross, currency, locale),
            "net": format_money(self.everything.net, currency, locale),
            "discount": "−" + format_money(self.discounted, currency, locale)
            if self.discounted
            else "",
        }

    def lines_json(self) -> list[dict[str, object]]:
        return [line.as_json(self.currency, self.locale) for line in self.lines]

    def as_json(self) -> dict[str, Any]:
        """The cart as the state endpoint sends it to the pages."""
        return {
            "lines": self.lines_json(),
            "count": sum(line.quantity for line in self.lines),
            "currency": self.currency,
            "totals": {**self.totals(), "formatted": self.formatted_totals()},
        }

    def condition_values(self) -> dict[str, Any]:
        """The cart as conditions read it (README, "Conditions and rules")."""
        return {
            "lines": [
                {
                    "product": line.product.id,
                    "name": line.product.name,
                    "quantity": line.quantity,
                    "billing": line.product.billing,
                    "unit_price": line.unit_price,
                    "line_total": line.line_total,
                    "tax_rate": line.product.tax_rate,
                }
                for line in self.lines
            ],
            "products": [line.product.id for line in self.lines],
            "count": len(self.lines),
            "quantity": sum(line.quantity for line in self.lines),
            "total": self.everything.gross,
            "net": self.everything.net,
            "tax": self.everything.tax,
            "one_time_total": self.by_billing["one_time"].gross,
            "monthly_total": self.by_billing["monthly"].gross,
            "yearly_total": self.by_billing["yearly"].gross,
            "billing_periods": sorted({line.product.billing for line in self.lines}),
            "recurring_count": sum(1 for line in self.lines if line.product.billing != "one_time"),
            "currency": self.currency,
        }
