"""Money over time, on fixed dates: proration, discounts, what a subscription charges next,
the values conditions read of a subscription, and the validation of discounts and the
subscription steps.

Everything here is a pure function of its arguments: no database, no server, no clock.
Every moment is an aware UTC datetime with a time of day, because the code counts
calendar dates while periods start and end at a time of day.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
from pydantic import ValidationError

from klcheckout import discounts
from klcheckout.proration import Proration, days_between, prorate
from klcheckout.subscriptions import charge_of, condition_values, next_charge
from kljourney.model import CancellationStep, Discount, Journey, PauseStep

STARTER = Decimal("9.90")
PRO = Decimal("29.00")


def at(year: int, month: int, day: int, hour: int = 10, minute: int = 0) -> datetime:
    """A moment in UTC; 10:00 by default, the time of day the periods below start and end."""
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


# The worked example's period: November 30 to December 30, 30 days, at 10:00.
START = at(2026, 11, 30)
END = at(2026, 12, 30)


# -- days_between ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "days"),
    [
        (at(2026, 11, 30), at(2026, 12, 30), 30),  # the docstring's period
        (at(2027, 1, 31), at(2027, 2, 28), 28),  # a month from the 31st ends on Feb 28
        (at(2027, 3, 1), at(2027, 4, 1), 31),  # a 31-day month
        (at(2028, 2, 1), at(2028, 3, 1), 29),  # February of a leap year
        (at(2027, 2, 1), at(2027, 3, 1), 28),  # February of a common year
        (at(2026, 3, 1), at(2027, 3, 1), 365),  # a yearly period without Feb 29
        (at(2027, 3, 1), at(2028, 3, 1), 366),  # a yearly period across Feb 29, 2028
        (at(2027, 3, 1), at(2027, 2, 1), -28),  # backwards is negative, not clamped
    ],
)
def test_days_between_counts_calendar_days(start: datetime, end: datetime, days: int) -> None:
    assert days_between(start, end) == days


def test_days_between_counts_dates_in_utc_whatever_the_zone() -> None:
    # 01:00 in Berlin on December 18 is still December 17 in UTC: 13 days to December 30.
    berlin = timezone(timedelta(hours=2))
    assert days_between(datetime(2026, 12, 18, 1, tzinfo=berlin), at(2026, 12, 30)) == 13


def test_days_between_ignores_the_time_of_day() -> None:
    # Two minutes across midnight are a day; almost a whole day within one date is none.
    assert days_between(at(2027, 5, 1, 23, 59), at(2027, 5, 2, 0, 1)) == 1
    assert days_between(at(2027, 5, 1, 0, 1), at(2027, 5, 1, 23, 59)) == 0


# -- prorate: the worked example and the lengths of periods ---------------------------------------


def test_the_docstrings_worked_example_holds_exactly() -> None:
    # Starter to Pro on December 18, 12 days left: 19.10 * 12 / 30 = 7.64.
    result = prorate(STARTER, PRO, START, END, at(2026, 12, 18, 8, 15), "EUR")
    assert result == Proration(amount=Decimal("7.64"), days_left=12, days_in_period=30)
    assert str(result.amount) == "7.64"  # rounded to cents, not 7.640000...


@pytest.mark.parametrize(
    ("start", "end", "moment", "days_left", "days_in_period", "amount"),
    [
        # From the 31st: 28 days, 14 left: 19.10 * 14 / 28 = 9.55 exactly.
        (at(2027, 1, 31), at(2027, 2, 28), at(2027, 2, 14, 12), 14, 28, "9.55"),
        # A 31-day month, 10 days left: 19.10 * 10 / 31 = 6.1612... -> 6.16.
        (at(2027, 3, 1), at(2027, 4, 1), at(2027, 3, 22, 12), 10, 31, "6.16"),
        # Leap February, 15 left (the 15th to the 29th): 286.50 / 29 = 9.8793... -> 9.88.
        (at(2028, 2, 1), at(2028, 3, 1), at(2028, 2, 15, 12), 15, 29, "9.88"),
        # Common February, 14 left: 19.10 * 14 / 28 = 9.55; a leap year must not count 29.
        (at(2027, 2, 1), at(2027, 3, 1), at(2027, 2, 15, 12), 14, 28, "9.55"),
    ],
)
def test_monthly_periods_of_every_length(
    start: datetime,
    end: datetime,
    moment: datetime,
    days_left: int,
    days_in_period: int,
    amount: str,
) -> None:
    result = prorate(STARTER, PRO, start, end, moment, "EUR")
    assert result == Proration(Decimal(amount), days_left, days_in_period)


@pytest.mark.parametrize(
    ("start", "end", "moment", "days_left", "days_in_period", "amount"),
    [
        # 365 days; September 1 to March 1 is 181: 200 * 181 / 365 = 99.178... -> 99.18.
        (at(2026, 3, 1), at(2027, 3, 1), at(2026, 9, 1, 12), 181, 365, "99.18"),
        # 366 days; Feb 28 and Feb 29, 2028 left: 200 * 2 / 366 = 1.0928... -> 1.09.
        (at(2027, 3, 1), at(2028, 3, 1), at(2028, 2, 28, 12), 2, 366, "1.09"),
    ],
)
def test_yearly_periods_of_365_and_366_days(
    start: datetime,
    end: datetime,
    moment: datetime,
    days_left: int,
    days_in_period: int,
    amount: str,
) -> None:
    result = prorate(Decimal("99.00"), Decimal("299.00"), start, end, moment, "EUR")
    assert result == Proration(Decimal(amount), days_left, days_in_period)


# -- prorate: the edges of the period -------------------------------------------------------------


def test_a_change_on_the_periods_last_day_has_one_day_left() -> None:
    # December 29 is the last whole day of a period ending December 30 at 10:00,
    # even a minute before midnight: 19.10 / 30 = 0.6366... -> 0.64.
    result = prorate(STARTER, PRO, START, END, at(2026, 12, 29, 23, 59), "EUR")
    assert result == Proration(Decimal("0.64"), days_left=1, days_in_period=30)


def test_same_day_before_the_end_time_has_no_day_left_by_calendar_date() -> None:
    # At 09:00 on the end date the period still runs for an hour, but days are
    # calendar dates and none is left: nothing is charged.
    result = prorate(STARTER, PRO, START, END, at(2026, 12, 30, 9), "EUR")
    assert result == Proration(Decimal("0.00"), days_left=0, days_in_period=30)


def test_at_the_very_end_of_the_period_nothing_is_left() -> None:
    # The renewal charges the new price; a proration on top would charge twice.
    result = prorate(STARTER, PRO, START, END, END, "EUR")
    assert result == Proration(Decimal("0.00"), days_left=0, days_in_period=30)


@pytest.mark.parametrize(
    "moment",
    [at(2026, 12, 30, 11), at(2027, 1, 5, 12)],
    ids=["same-day-after-the-end-time", "days-after-the-end"],
)
def test_after_the_period_nothing_is_left_never_a_negative_count(moment: datetime) -> None:
    result = prorate(STARTER, PRO, START, END, moment, "EUR")
    assert result == Proration(Decimal("0.00"), days_left=0, days_in_period=30)


@pytest.mark.parametrize(
    "moment",
    [at(2026, 11, 30, 9), at(2026, 11, 20, 12)],
    ids=["same-day-before-the-start-time", "days-before-the-start"],
)
def test_before_the_period_every_day_is_left_and_no_more(moment: datetime) -> None:
    # Ten days before the start, December 30 is 40 days away: capped at the period's 30.
    result = prorate(STARTER, PRO, START, END, moment, "EUR")
    assert result == Proration(Decimal("19.10"), days_left=30, days_in_period=30)


def test_a_downgrade_is_a_credit() -> None:
    # The worked example backwards: the same amount, negative.
    result = prorate(PRO, STARTER, START, END, at(2026, 12, 18, 8, 15), "EUR")
    assert result == Proration(Decimal("-7.64"), days_left=12, days_in_period=30)


def test_the_same_price_costs_nothing() -> None:
    assert prorate(PRO, PRO, START, END, at(2026, 12, 18), "EUR").amount == Decimal("0.00")


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (at(2026, 12, 30), at(2026, 12, 30)),  # no time at all
        (at(2026, 12, 30, 0), at(2026, 12, 30, 23)),  # 23 hours, but one calendar date
        (at(2026, 12, 30), at(2026, 11, 30)),  # backwards
    ],
    ids=["empty", "within-one-date", "backwards"],
)
def test_a_period_with_no_days_is_refused(start: datetime, end: datetime) -> None:
    # Dividing by the days of the period: zero or negative days must not pass silently.
    with pytest.raises(ValueError, match="has no days"):
        prorate(STARTER, PRO, start, end, start, "EUR")


# -- prorate: rounding ----------------------------------------------------------------------------


def test_rounded_once_not_per_day_nor_per_price() -> None:
    # 10.00 -> 20.00 over March (31 days), 10 days left: 100 / 31 = 3.2258... -> 3.23.
    # Rounding the daily difference first would give 0.32 * 10 = 3.20, and prorating
    # each price on its own 6.45 - 3.23 = 3.22: only rounding once gives 3.23.
    result = prorate(
        Decimal("10.00"), Decimal("20.00"), at(2027, 3, 1), at(2027, 4, 1), at(2027, 3, 22), "EUR"
    )
    per_day = (Decimal("10.00") / 31).quantize(Decimal("0.01")) * 10
    per_price = (Decimal("20.00") * 10 / 31).quantize(Decimal("0.01")) - (
        Decimal("10.00") * 10 / 31
    ).quantize(Decimal("0.01"))
    assert (per_day, per_price) == (Decimal("3.20"), Decimal("3.22"))
    assert result.amount == Decimal("3.23")


@pytest.mark.parametrize(
    ("old", "new", "amount"),
    [("0.00", "0.01", "0.01"), ("0.01", "0.00", "-0.01")],
    ids=["charge", "credit"],
)
def test_half_a_cent_rounds_half_up_away_from_zero(old: str, new: str, amount: str) -> None:
    # 0.01 * 15 / 30 is exactly half a cent: half-up gives a cent where banker's
    # rounding would give 0.00, and a credit rounds the same way as a charge.
    result = prorate(Decimal(old), Decimal(new), START, END, at(2026, 12, 15), "EUR")
    assert result.days_left == 15
    assert result.amount == Decimal(amount)


def test_a_currency_without_minor_units_rounds_to_whole_yen() -> None:
    # 1000 * 7 / 30 = 233.33... yen: whole yen, no ".00".
    result = prorate(Decimal("1000"), Decimal("2000"), START, END, at(2026, 12, 23), "JPY")
    assert result.amount == Decimal("233")
    assert str(result.amount) == "233"
    # Half a yen rounds up: 1 * 15 / 30 = 0.5 -> 1.
    half = prorate(Decimal("1000"), Decimal("1001"), START, END, at(2026, 12, 15), "JPY")
    assert str(half.amount) == "1"


# -- discounts.reduce -----------------------------------------------------------------------------


def discount(**fields: Any) -> Discount:
    return Discount.model_validate({"id": "offer", "name": "Offer", **fields})


@pytest.mark.parametrize(
    ("terms", "reduced"),
    [
        ({"percent": "20"}, "7.92"),  # 9.90 * 0.80 exactly
        ({"percent": "30"}, "6.93"),  # 9.90 * 0.70 = 6.930, kept to cents
        ({"percent": "25"}, "7.43"),  # 7.425: half-up, not banker's 7.42
        ({"percent": "100"}, "0.00"),
        ({"amount": "5.00"}, "4.90"),
        ({"amount": "9.90"}, "0.00"),  # the whole price
        ({"amount": "20.00"}, "0.00"),  # more than the price: never below zero
    ],
)
def test_reduce_with_a_discount_and_with_its_record(terms: dict[str, str], reduced: str) -> None:
    # A journey's Discount and the record a subscription keeps must reduce alike.
    model = discount(**terms)
    kept = discounts.record(model, 0)
    assert kept is not None
    assert discounts.reduce(STARTER, model, "EUR") == Decimal(reduced)
    assert discounts.reduce(STARTER, kept, "EUR") == Decimal(reduced)


def test_an_amount_off_above_the_price_is_zero_in_cents() -> None:
    assert str(discounts.reduce(Decimal("9.90"), {"amount": "20.00"}, "EUR")) == "0.00"


def test_reduce_rounds_to_the_currency() -> None:
    # 15 % off 999 yen is 849.15 yen: whole yen.
    assert str(discounts.reduce(Decimal("999"), {"percent": "15"}, "JPY")) == "849"


# -- discounts.record -----------------------------------------------------------------------------


def test_record_keeps_the_periods_still_to_reduce() -> None:
    offer = discount(percent="20", periods=3, products=["starter"])
    assert discounts.record(offer, 1) == {
        "id": "offer",
        "name": "Offer",
        "percent": "20",
        "amount": None,
        "periods_left": 2,
        "products": ["starter"],
    }


@pytest.mark.parametrize("used", [3, 4])
def test_record_of_a_used_up_discount_is_none(used: int) -> None:
    # Nothing left to reduce: the subscription keeps no discount at all.
    assert discounts.record(discount(amount="5.00", periods=3), used) is None


def test_record_of_an_unlimited_discount_never_runs_out() -> None:
    kept = discounts.record(discount(amount="5.00"), 50)
    assert kept is not None
    assert kept["periods_left"] is None
    assert (kept["percent"], kept["amount"]) == (None, "5.00")


# -- discounts.covers -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kept", "product", "covered"),
    [
        ({"id": "offer", "products": None}, "pro", True),  # None: every product
        ({"id": "offer", "products": ["starter"]}, "starter", True),
        ({"id": "offer", "products": ["starter"]}, "pro", False),
        ({"id": "offer", "products": []}, "starter", False),  # an empty list: none
        (None, "starter", False),  # no discount kept
        ({}, "starter", False),
    ],
)
def test_covers(kept: dict[str, Any] | None, product: str, covered: bool) -> None:
    assert discounts.covers(kept, product) is covered


# -- subscriptions: charge_of and next_charge -----------------------------------------------------


def subscription_row(**overrides: Any) -> SimpleNamespace:
    """A monthly Starter subscription as the functions read a database row."""
    values: dict[str, Any] = {
        "public_id": "sub_test",
        "status": "active",
        "product": "starter",
        "name": "Starter",
        "billing": "monthly",
        "quantity": 1,
        "currency": "EUR",
        "line_total": "9.90",
        "discount": None,
        "scheduled_change": None,
        "started_at": at(2027, 1, 31),
        "current_period_start": at(2027, 3, 31),
        "current_period_end": at(2027, 4, 30),
        "cancelled_at": None,
        "resume_at": None,
        "won_back_by": None,
    }
    values.update(overrides)
    return SimpleNamespace(**values)


def kept_discount(periods_left: int | None, products: list[str] | None = None) -> dict[str, Any]:
    return {
        "id": "loyal",
        "name": "Loyalty",
        "percent": "20",
        "amount": None,
        "periods_left": periods_left,
        "products": products,
    }


PRO_PLAN = {"product": "pro", "name": "Pro", "line_total": "29.00"}


@pytest.mark.parametrize(
    ("kept", "charge"),
    [
        (None, "9.90"),
        (kept_discount(2), "7.92"),
        (kept_discount(None), "7.92"),  # for as long as it runs
        (kept_discount(0), "9.90"),  # used up: the full price again
        (kept_discount(2, ["pro"]), "9.90"),  # another product's discount
    ],
    ids=["no-discount", "periods-left", "unlimited", "used-up", "not-covered"],
)
def test_charge_of_the_own_plan(kept: dict[str, Any] | None, charge: str) -> None:
    assert charge_of(subscription_row(discount=kept)) == Decimal(charge)


def test_charge_of_another_plan_uses_that_plans_price_and_product() -> None:
    row = subscription_row(discount=kept_discount(2, ["starter", "pro"]))
    assert charge_of(row, PRO_PLAN) == Decimal("23.20")  # 29.00 * 0.80


def test_next_charge_is_the_own_plan_without_a_scheduled_change() -> None:
    assert next_charge(subscription_row(discount=kept_discount(1))) == Decimal("7.92")


def test_next_charge_uses_the_scheduled_plans_price() -> None:
    row = subscription_row(scheduled_change=PRO_PLAN)
    assert next_charge(row) == PRO


def test_next_charge_reduces_the_scheduled_plan_when_the_discount_covers_it() -> None:
    row = subscription_row(scheduled_change=PRO_PLAN, discount=kept_discount(2))
    assert next_charge(row) == Decimal("23.20")


def test_next_charge_of_a_scheduled_plan_the_discount_does_not_cover() -> None:
    # The Starter-only discount ends with Starter: Pro is charged in full.
    row = subscription_row(scheduled_change=PRO_PLAN, discount=kept_discount(2, ["starter"]))
    assert charge_of(row) == Decimal("7.92")
    assert next_charge(row) == PRO


# -- subscriptions: condition_values --------------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "months"),
    [
        (at(2027, 1, 31, 12), 0),
        (at(2027, 2, 28, 9), 0),  # the first renewal is at 10:00
        (at(2027, 2, 28), 1),  # ... on February 28, like the renewal: a month is full
        (at(2027, 3, 1), 1),
        (at(2027, 3, 30), 1),  # the 30th is not yet the 31st: one whole month
        (at(2027, 3, 31), 2),
        (at(2028, 1, 31), 12),
    ],
)
def test_months_active_counts_whole_months_from_the_start(moment: datetime, months: int) -> None:
    assert condition_values(subscription_row(), moment)["months_active"] == months


def test_months_active_stops_at_the_cancellation() -> None:
    # Cancelled April 1: two whole months since January 31, however long ago that was.
    row = subscription_row(status="cancelled", cancelled_at=at(2027, 4, 1))
    assert condition_values(row, at(2028, 6, 1))["months_active"] == 2


@pytest.mark.parametrize(
    ("moment", "days"),
    [
        (at(2027, 4, 20, 23), 10),
        (at(2027, 4, 29, 23, 59), 1),
        (at(2027, 4, 30, 9), 0),  # the end date, before the end time: by date, none left
        (at(2027, 5, 2), 0),  # after the end: never negative
    ],
)
def test_days_left_counts_calendar_dates_to_the_periods_end(moment: datetime, days: int) -> None:
    assert condition_values(subscription_row(), moment)["days_left"] == days


def test_cancelled_days() -> None:
    row = subscription_row(status="cancelled", cancelled_at=at(2027, 4, 1, 22))
    assert condition_values(row, at(2027, 4, 11))["cancelled_days"] == 10
    # Calendar dates, like days_left: the next morning is one day, never a negative count.
    assert condition_values(row, at(2027, 4, 2, 9))["cancelled_days"] == 1
    assert condition_values(row, at(2027, 4, 1, 21))["cancelled_days"] == 0
    assert condition_values(subscription_row(), at(2027, 4, 11))["cancelled_days"] is None


def test_condition_values_of_a_plain_subscription() -> None:
    # The names conditions use, with "" for no discount and no scheduled change.
    values = condition_values(subscription_row(), at(2027, 4, 20))
    assert values == {
        "id": "sub_test",
        "status": "active",
        "product": "starter",
        "name": "Starter",
        "billing": "monthly",
        "quantity": 1,
        "price": STARTER,
        "period_start": at(2027, 3, 31),
        "period_end": at(2027, 4, 30),
        "days_left": 10,
        "months_active": 2,
        "cancelled_days": None,
        "paused_until": None,
        "discount": "",
        "scheduled_change": "",
        "won_back": False,
    }


def test_condition_values_name_the_discount_and_the_scheduled_plan() -> None:
    row = subscription_row(discount=kept_discount(2), scheduled_change=PRO_PLAN)
    values = condition_values(row, at(2027, 4, 20))
    assert (values["discount"], values["scheduled_change"]) == ("loyal", "pro")
    won_back = condition_values(subscription_row(won_back_by="sub_new"), at(2027, 4, 20))
    assert won_back["won_back"] is True


# -- kljourney.model: Discount --------------------------------------------------------------------


ONE_KIND = 'give either percent = "20" or amount = "5.00"'


@pytest.mark.parametrize(
    ("terms", "message"),
    [
        ({"percent": "20", "amount": "5.00"}, ONE_KIND),
        ({}, ONE_KIND),  # neither
        ({"percent": "0"}, "expected a percentage above 0 and at most 100, got '0'"),
        ({"percent": "101"}, "expected a percentage above 0 and at most 100, got '101'"),
        ({"percent": 20.0}, "write the percentage as a quoted decimal string"),
        ({"percent": True}, "write the percentage as a quoted decimal string"),
        ({"percent": "twenty"}, 'expected a decimal string such as "9.90"'),
        ({"amount": "0"}, "a discount amount must be above 0, got '0'"),
        ({"amount": "-5.00"}, "a discount amount must be above 0"),
        ({"amount": 5.5}, "write the amount as a quoted decimal string"),
    ],
)
def test_discount_refuses(terms: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as raised:
        discount(**terms)
    assert message in str(raised.value)


@pytest.mark.parametrize(
    ("terms", "percent", "amount"),
    [
        ({"percent": "100"}, Decimal(100), None),  # the upper bound is allowed
        ({"percent": 20}, Decimal(20), None),  # a TOML integer is exact
        ({"amount": "0.01"}, None, Decimal("0.01")),
    ],
)
def test_discount_accepts(
    terms: dict[str, Any], percent: Decimal | None, amount: Decimal | None
) -> None:
    model = discount(**terms)
    assert (model.percent, model.amount) == (percent, amount)


def test_discount_periods_are_bounded() -> None:
    with pytest.raises(ValidationError):
        discount(percent="20", periods=0)


# -- kljourney.model: subscription steps and the journey key --------------------------------------


def reason(reason_id: str) -> dict[str, str]:
    return {"id": reason_id, "label": reason_id.replace("-", " ").capitalize()}


def test_cancellation_reason_ids_must_be_unique() -> None:
    step = {
        "name": "Why are you leaving?",
        "type": "cancellation",
        "reasons": [reason("too-expensive"), reason("other"), reason("too-expensive")],
    }
    with pytest.raises(ValidationError) as raised:
        CancellationStep.model_validate(step)
    assert "reason ids must be unique; 'too-expensive' repeats" in str(raised.value)


def test_cancellation_reasons_found_by_id() -> None:
    step = CancellationStep.model_validate(
        {"name": "Cancel", "type": "cancellation", "reasons": [reason("other")]}
    )
    assert step.reason("other") is not None
    assert step.reason("missing") is None


def test_pause_durations_are_sorted() -> None:
    step = PauseStep.model_validate({"name": "Pause", "type": "pause", "durations": [3, 1, 2]})
    assert step.durations == [1, 2, 3]


def test_pause_durations_once_each() -> None:
    with pytest.raises(ValidationError) as raised:
        PauseStep.model_validate({"name": "Pause", "type": "pause", "durations": [2, 1, 2]})
    assert "each duration once, got [2, 1, 2]" in str(raised.value)


@pytest.mark.parametrize(("key", "what"), [("account", "account page"), ("assets", "stylesheet")])
def test_journey_keys_of_the_shops_own_pages_are_reserved(key: str, what: str) -> None:
    journey = {
        "name": "Shop",
        "key": key,
        "business_entity": "acme",
        "steps": [{"name": "Cart", "type": "order"}],
    }
    with pytest.raises(ValidationError) as raised:
        Journey.model_validate(journey)
    assert f"{key!r} is the address of the shop's own {what}" in str(raised.value)
    # Any other key is fine: the refusal is about the reserved names only.
    assert Journey.model_validate({**journey, "key": "shop"}).key == "shop"
