"""Billing periods: when a subscription's periods begin and end.

Periods are counted from the subscription's start (its anchor), never from the
end of the period before, so a short month does not shift every later renewal:

- monthly: the same day of the month as the start, or the month's last day when
  it has fewer days. Started on January 31: February 28 (29 in a leap year),
  March 31, April 30, May 31...
- yearly: the same date as the start; a start on February 29 renews on
  February 28 in the years without one, and on February 29 again when there is.

Times of day and time zones are kept as the anchor has them (the backend's are UTC).
"""

from __future__ import annotations

import calendar
from datetime import datetime

#: Months in one period of each recurring billing.
MONTHS = {"monthly": 1, "yearly": 12}


def period_boundary(anchor: datetime, billing: str, count: int) -> datetime:
    """The moment ``count`` periods after ``anchor`` (0 is the anchor itself)."""
    if billing not in MONTHS:
        raise ValueError(f"{billing!r} has no periods; expected one of {', '.join(MONTHS)}")
    if count < 0:
        raise ValueError(f"count must not be negative, got {count}")
    year, month = divmod(anchor.month - 1 + count * MONTHS[billing], 12)
    year += anchor.year
    day = min(anchor.day, calendar.monthrange(year, month + 1)[1])
    return anchor.replace(year=year, month=month + 1, day=day)


def current_period(anchor: datetime, billing: str, moment: datetime) -> tuple[datetime, datetime]:
    """(start, end) of the period that holds ``moment``: start <= moment < end.

    A moment before the anchor is in the first period.
    """
    months = MONTHS.get(billing)
    if months is None:
        raise ValueError(f"{billing!r} has no periods; expected one of {', '.join(MONTHS)}")
    elapsed = (moment.year - anchor.year) * 12 + (moment.month - anchor.month)
    count = max(0, elapsed // months)
    # The estimate from whole months is at most one period too far.
    while count > 0 and period_boundary(anchor, billing, count) > moment:
        count -= 1
    while period_boundary(anchor, billing, count + 1) <= moment:
        count += 1
    return period_boundary(anchor, billing, count), period_boundary(anchor, billing, count + 1)
