"""Money: Decimal end to end, rounded once per line, half-up, to the currency's minor unit.

Shared by the pages (which show prices) and the backend (which charges them), so
the two can never disagree about a cent.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from babel.numbers import format_currency, get_currency_precision

BILLING_SUFFIX = {"one_time": "", "monthly": " / month", "yearly": " / year"}
BILLING_LABEL = {"one_time": "one-time", "monthly": "monthly", "yearly": "yearly"}


def quantize(amount: Decimal, currency: str) -> Decimal:
    """Round half-up to the currency's minor unit (cents for EUR, none for JPY)."""
    exponent = Decimal(1).scaleb(-get_currency_precision(currency))
    return amount.quantize(exponent, rounding=ROUND_HALF_UP)


def format_money(amount: Decimal, currency: str, locale: str) -> str:
    """'€9.90' for en-US, '9,90 €' for de-DE."""
    return format_currency(quantize(amount, currency), currency, locale=locale.replace("-", "_"))


def format_price(amount: Decimal, currency: str, locale: str, billing: str) -> str:
    """A price with its billing period: '€9.90 / month'."""
    return format_money(amount, currency, locale) + BILLING_SUFFIX[billing]


def tax_included(gross: Decimal, rate_percent: Decimal, currency: str) -> Decimal:
    """The tax contained in a gross amount, rounded like every other figure."""
    net = gross * 100 / (100 + rate_percent)
    return quantize(gross - net, currency)
