"""What an immediate plan change charges or credits for the rest of the period.

Daily proration: the difference between the new and the old price per period,
for the days left of the period, over the days the period has::

    amount = (new price - old price) * days left / days in the period

counted in whole calendar days (UTC), computed in Decimal and rounded once, half
up, to the currency's minor unit. A positive amount is charged now (an upgrade),
a negative one is credited (a downgrade). The period itself does not move.

Worked example: Starter at €9.90 and Pro at €29.00 a month; the period runs from
November 30 to December 30 (30 days); the customer upgrades on December 18, when
12 days are left: (29.00 - 9.90) * 12 / 30 = 19.10 * 0.4 = €7.64 charged now,
and €29.00 at the renewal on December 30.

A change on the period's last day has one day left; a change at the very moment
the period ends has none and costs nothing (the renewal charges the new price).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from kljourney.money import quantize


@dataclass(frozen=True)
class Proration:
    amount: Decimal
    days_left: int
    days_in_period: int


def days_between(start: datetime, end: datetime) -> int:
    """Whole calendar days from ``start`` to ``end`` (both taken in UTC)."""
    return (end.astimezone(UTC).date() - start.astimezone(UTC).date()).days


def prorate(
    old_price: Decimal,
    new_price: Decimal,
    period_start: datetime,
    period_end: datetime,
    moment: datetime,
    currency: str,
) -> Proration:
    """The charge (positive) or credit (negative) of changing price at ``moment``."""
    total = days_between(period_start, period_end)
    if total <= 0:
        raise ValueError(f"the period {period_start} to {period_end} has no days")
    left = min(total, max(0, days_between(moment, period_end)))
    if moment >= period_end:
        left = 0
    amount = quantize((new_price - old_price) * left / total, currency)
    return Proration(amount=amount, days_left=left, days_in_period=total)
