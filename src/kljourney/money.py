"""Money: Decimal end to end, rounded once per line, half-up, to the currency's minor unit.

Shared by the pages (which show prices) and the backend (which charges them), so
the two can never disagree about a cent.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from babel.numbers import format_currency, get_currency_precision

from .i18n import N_
from .i18n import gettext as _

#: A price with its billing period, the formatted amount in ``%(price)s`` (one-time
#: prices stand alone). Translated where used, in the language of the page.
BILLING_PRICE = {
    # TRANSLATORS: a price charged every month: "€9.90 / month".
    "monthly": N_("%(price)s / month"),
    # TRANSLATORS: a price charged every year: "€99.00 / year".
    "yearly": N_("%(price)s / year"),
}
#: The billing periods as a word of their own, translated where used (``billing_label``).
BILLING_LABEL = {
    # TRANSLATORS: how a product is billed, as one word.
    "one_time": N_("one-time"),
    "monthly": N_("monthly"),
    "yearly": N_("yearly"),
}


def quantize(amount: Decimal, currency: str) -> Decimal:
    """Round half-up to the currency's minor unit (cents for EUR, none for JPY)."""
    exponent = Decimal(1).scaleb(-get_currency_precision(currency))
    return amount.quantize(exponent, rounding=ROUND_HALF_UP)


def format_money(amount: Decimal, currency: str, locale: str) -> str:
    """'€9.90' for en-US, '9,90 €' for de-DE."""
    return format_currency(quantize(amount, currency), currency, locale=locale.replace("-", "_"))


def format_price(amount: Decimal, currency: str, locale: str, billing: str) -> str:
    """A price with its billing period: '€9.90 / month'."""
    return with_billing(format_money(amount, currency, locale), billing)


def with_billing(price: str, billing: str) -> str:
    """A formatted price with its billing period, in the current language: '€9.90 / month'.

    Apart from ``format_money`` so that a cache of Babel's formatting (which depends on
    the arguments alone) never keeps a price in the language of an earlier request.
    """
    if billing not in BILLING_PRICE:
        return price
    return _(BILLING_PRICE[billing]) % {"price": price}


def billing_label(billing: str) -> str:
    """The billing period as a word, in the current language: 'monthly'."""
    return _(BILLING_LABEL[billing])


def tax_included(gross: Decimal, rate_percent: Decimal, currency: str) -> Decimal:
    """The tax contained in a gross amount, rounded like every other figure."""
    net = gross * 100 / (100 + rate_percent)
    return quantize(gross - net, currency)
