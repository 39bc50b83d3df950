"""How a journey performs: visitors per step, where they leave, orders, time to complete.

The figures come from what the backend records anyway: ``step_views`` (each
visitor once per step and walk, by UTC day: ``step_views.py``) and the orders
placed in the journey, with the seconds each walk took (``orders.seconds_to_order``).
They are counts and durations only: nothing in them is about anyone in particular.

A window of N days is the last N UTC days, today included. An order counts in
the window it was placed in, whenever its walk began; so conversion is the
window's orders over the window's visitors of the first step.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from flask import Flask
from sqlalchemy import Engine, func, select

from kljourney.model import Journey, OrderDoneStep

from .clock import now
from .step_views import views_of
from .tables import orders, step_views

#: The longest window a report covers: a year, leap day included.
MAX_DAYS = 366


class UnknownJourney(LookupError):
    """The report was asked for a journey key the shop does not have."""

    def __init__(self, key: str, known: list[str]) -> None:
        self.key = key
        self.known = known
        listed = ", ".join(known) if known else "none"
        super().__init__(f"there is no journey {key!r}; the journeys are: {listed}")


@dataclass(frozen=True)
class FunnelStep:
    """One active step of the journey, in the window."""

    step_id: str
    name: str
    #: Visitors who were shown this step's page, each once.
    visitors: int
    #: This step's visitors that the next step did not get (never negative; 0 for the
    #: last step, where the journey ends).
    left: int


@dataclass(frozen=True)
class Funnel:
    """A journey's figures over the last ``days`` UTC days, ``first_day`` to ``last_day``."""

    journey_key: str
    journey_name: str
    days: int
    first_day: date
    last_day: date
    #: The journey's active steps, in journey order.
    steps: tuple[FunnelStep, ...]
    #: The first step's visitors: where conversion is counted from.
    visitors: int
    #: Orders placed in the journey in the window.
    orders: int
    #: ``orders / visitors`` (0.25 for 25 %); None without visitors.
    conversion: float | None
    #: The median of the orders' seconds from the first page of their walk to the
    #: order; None when no order of the window knows its time.
    median_seconds: float | None


def report(engine: Engine, journey: Journey, days: int, moment: datetime) -> Funnel:
    """The figures of ``journey`` over the ``days`` UTC days up to ``moment``'s day.

    It reads what is in the database: a process's counts not written yet are not
    in it (``funnel_report`` writes the app's own first).
    """
    if not 1 <= days <= MAX_DAYS:
        raise ValueError(f"a report covers 1 to {MAX_DAYS} days, not {days}")
    last_day = moment.astimezone(UTC).date()
    first_day = last_day - timedelta(days=days - 1)
    since = datetime.combine(first_day, time(), tzinfo=UTC)
    until = datetime.combine(last_day + timedelta(days=1), time(), tzinfo=UTC)
    viewed = (
        select(step_views.c.step_id, func.sum(step_views.c.visitors))
        .where(
            step_views.c.journey_key == journey.key,
            step_views.c.day >= first_day,
            step_views.c.day <= last_day,
        )
        .group_by(step_views.c.step_id)
    )
    placed = select(orders.c.seconds_to_order).where(
        orders.c.journey_key == journey.key,
        orders.c.created_at >= since,
        orders.c.created_at < until,
    )
    with engine.connect() as connection:
        visitors = {step_id: int(total) for step_id, total in connection.execute(viewed)}
        durations = list(connection.execute(placed).scalars())
        connection.rollback()
    steps = journey.active_steps
    counts = [visitors.get(step.id, 0) for step in steps]
    done_pages = [i for i, step in enumerate(steps) if isinstance(step, OrderDoneStep)]
    if len(done_pages) == 1 and steps[done_pages[0]].external_url:
        # The customers who ordered went to the shop's own page elsewhere, unseen: they
        # reached the order done step, and did not leave at the confirmation.
        counts[done_pages[0]] = max(counts[done_pages[0]], len(durations))
    figures = tuple(
        FunnelStep(
            step_id=step.id,
            name=str(step.name),
            visitors=count,
            left=max(0, count - counts[i + 1]) if i + 1 < len(counts) else 0,
        )
        for i, (step, count) in enumerate(zip(steps, counts, strict=True))
    )
    first = counts[0] if counts else 0
    timed = [seconds for seconds in durations if seconds is not None]
    return Funnel(
        journey_key=journey.key,
        journey_name=str(journey.name),
        days=days,
        first_day=first_day,
        last_day=last_day,
        steps=figures,
        visitors=first,
        orders=len(durations),
        conversion=len(durations) / first if first else None,
        median_seconds=float(statistics.median(timed)) if timed else None,
    )


def funnel_report(app: Flask, journey_key: str, days: int = 30) -> Funnel:
    """The funnel of the journey ``journey_key`` over the last ``days`` UTC days, as of now.

    The app's own step views not written yet are written first, so the report
    includes every page this process has served (other processes write theirs
    within a second). ``UnknownJourney`` when the shop has no such journey,
    ``ValueError`` for ``days`` outside 1 to 366.
    """
    shop = app.extensions["keylight"].shop
    journey = shop.journeys.get(journey_key)
    if journey is None:
        raise UnknownJourney(journey_key, sorted(shop.journeys))
    views_of(app).flush()
    return report(app.extensions["keylight_db"], journey, days, now())
