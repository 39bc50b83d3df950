"""Period arithmetic on fixed dates: short months, February, leap years, yearly plans."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from klcheckout.periods import current_period, period_boundary


def at(year: int, month: int, day: int, hour: int = 9) -> datetime:
    return datetime(year, month, day, hour, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("count", "expected"),
    [
        (0, at(2027, 1, 31)),
        (1, at(2027, 2, 28)),
        (2, at(2027, 3, 31)),  # back to the 31st: counted from the start, not from Feb 28
        (3, at(2027, 4, 30)),
        (13, at(2028, 2, 29)),  # a leap year
        (12, at(2028, 1, 31)),
    ],
)
def test_monthly_from_the_31st(count: int, expected: datetime) -> None:
    assert period_boundary(at(2027, 1, 31), "monthly", count) == expected


def test_monthly_from_an_ordinary_day_keeps_the_day() -> None:
    assert [
        period_boundary(at(2026, 11, 15), "monthly", n).date().isoformat() for n in range(4)
    ] == [
        "2026-11-15",
        "2026-12-15",
        "2027-01-15",
        "2027-02-15",
    ]


def test_yearly_from_february_29() -> None:
    start = at(2028, 2, 29)
    assert [period_boundary(start, "yearly", n).date().isoformat() for n in range(5)] == [
        "2028-02-29",
        "2029-02-28",
        "2030-02-28",
        "2031-02-28",
        "2032-02-29",
    ]


def test_the_time_of_day_and_zone_stay() -> None:
    assert period_boundary(at(2027, 1, 31, 23), "monthly", 1) == at(2027, 2, 28, 23)


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (at(2027, 1, 31), (at(2027, 1, 31), at(2027, 2, 28))),  # the start itself
        (at(2027, 2, 27), (at(2027, 1, 31), at(2027, 2, 28))),
        (at(2027, 2, 28), (at(2027, 2, 28), at(2027, 3, 31))),  # the last day: a new period
        (at(2027, 3, 30), (at(2027, 2, 28), at(2027, 3, 31))),
        (at(2028, 3, 1), (at(2028, 2, 29), at(2028, 3, 31))),
        (at(2026, 12, 1), (at(2027, 1, 31), at(2027, 2, 28))),  # before the start: the first
    ],
)
def test_the_period_that_holds_a_moment(
    moment: datetime, expected: tuple[datetime, datetime]
) -> None:
    assert current_period(at(2027, 1, 31), "monthly", moment) == expected


def test_a_yearly_period_that_holds_a_moment() -> None:
    start = at(2028, 2, 29)
    assert current_period(start, "yearly", at(2030, 2, 28)) == (at(2030, 2, 28), at(2031, 2, 28))
    assert current_period(start, "yearly", at(2030, 2, 27)) == (at(2029, 2, 28), at(2030, 2, 28))


def test_one_time_billing_has_no_periods() -> None:
    with pytest.raises(ValueError, match="'one_time' has no periods"):
        period_boundary(at(2027, 1, 1), "one_time", 1)
