"""Visitors per step, for the funnel report: counted in memory, written once a second.

A step is viewed when the backend hands a browser the state of its page: the state
request of a static page, the JSON answer that carries the next page's state, and
the page rendered for a browser without JavaScript (all three through
``page_state.state_of``). A state that sends the visitor elsewhere (``redirect``)
is no view of its step: the page they are sent to is.

Each visitor counts once per step and walk. The cart cookie remembers the steps
already counted, by position in the journey (``Cart.seen``), and when the walk's
first counted page was viewed (``Cart.started``, which gives an order its time to
complete): a reload counts nothing, and a placed order starts a new walk. Nothing
about the visitor is stored: the database gets counts by journey, step and UTC day.

Counting writes nothing per page view. Each process adds its views up in memory,
and a thread of its own adds them to ``step_views`` once a second, one upsert per
journey, step and day, however many visitors that is. A process that stops
normally writes what it holds first; a ``kill -9`` loses at most the last
second's counts. These are statistics, never orders.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
import weakref
from collections import Counter
from datetime import date
from typing import TYPE_CHECKING, Any

from flask import Flask
from sqlalchemy import Engine
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from kljourney.model import Journey, OrderDoneStep, StepBase

from . import cart as carts
from . import db
from .clock import now
from .tables import step_views

if TYPE_CHECKING:
    from .visit import Visit

log = logging.getLogger(__name__)

#: Seconds between two writes of a process's counts.
FLUSH_EVERY = 1.0

#: (journey key, step id, UTC day)
Key = tuple[str, str, date]

#: INSERT ... ON CONFLICT, by dialect name.
UPSERTS = {"postgresql": postgresql_insert, "sqlite": sqlite_insert}
_ADD: dict[str, Any] = {}


class StepViews:
    """One process's step views not written yet, added up by journey, step and day."""

    def __init__(self, engine: Engine, interval: float = FLUSH_EVERY) -> None:
        self.engine = engine
        self.interval = interval
        self._counts: Counter[Key] = Counter()
        #: Guards ``_counts``; held for a moment by each view.
        self._lock = threading.Lock()
        #: One write at a time: a report that flushes first waits for a write under way,
        #: and then sees its counts.
        self._writing = threading.Lock()
        self._flusher: threading.Thread | None = None
        #: The process these counts belong to (see ``_forked``).
        self._pid = os.getpid()

    def count(self, journey_key: str, step_id: str, day: date) -> None:
        self._forked()
        with self._lock:
            self._counts[(journey_key, step_id, day)] += 1
            if self._flusher is None:
                self._start_flusher()

    def flush(self) -> int:
        """Add the counts held so far to the database; the number of rows written.

        Counts that could not be written (the database is down) are kept for the
        next try, and the error is raised.
        """
        self._forked()
        with self._writing:
            with self._lock:
                counts, self._counts = self._counts, Counter()
            if not counts:
                return 0
            # Always in the same order: two processes adding to the same rows on
            # PostgreSQL then wait for each other instead of deadlocking.
            rows = [
                {"journey_key": key, "step_id": step, "day": day, "visitors": visitors}
                for (key, step, day), visitors in sorted(counts.items())
            ]
            try:
                # Statistics: a commit that skips the flush is enough (``db``).
                with db.writing(self.engine, durable=False) as connection:
                    connection.execute(_adding(connection.dialect.name), rows)
            except BaseException:
                with self._lock:
                    self._counts.update(counts)
                raise
            return len(rows)

    def _forked(self) -> None:
        """In a process forked from the one that made these counts (gunicorn
        ``--preload``), start afresh: no counts (the parent writes its own), new locks
        (one may have been held at the fork), and a writer of this process's own."""
        if self._pid == os.getpid():
            return
        self._pid = os.getpid()
        self._counts = Counter()
        self._lock = threading.Lock()
        self._writing = threading.Lock()
        self._flusher = None

    def _start_flusher(self) -> None:
        """Start this process's writer the first time there is something to write."""
        reference = weakref.ref(self)
        self._flusher = threading.Thread(
            target=_flush_every,
            args=(reference, self.interval),
            name="keylight-step-views",
            daemon=True,
        )
        self._flusher.start()
        atexit.register(_flush_at_exit, reference)


def _adding(dialect: str) -> Any:
    """The upsert adding a row's visitors to what is stored for its key (built once)."""
    statement = _ADD.get(dialect)
    if statement is None:
        insert = UPSERTS[dialect](step_views)
        statement = _ADD[dialect] = insert.on_conflict_do_update(
            index_elements=[step_views.c.journey_key, step_views.c.step_id, step_views.c.day],
            set_={"visitors": step_views.c.visitors + insert.excluded.visitors},
        )
    return statement


def _flush_every(reference: weakref.ref[StepViews], interval: float) -> None:
    """The writer thread: flush every ``interval`` seconds, while the counts' app exists."""
    while True:
        time.sleep(interval)
        views = reference()
        if views is None:
            return
        try:
            views.flush()
        except Exception:  # noqa: BLE001 - the counts are kept; the next round retries
            log.exception("the step views could not be written; trying again in %s s", interval)
        del views


def _flush_at_exit(reference: weakref.ref[StepViews]) -> None:
    views = reference()
    if views is None:
        return
    try:
        views.flush()
    except Exception as error:  # noqa: BLE001 - exiting: say what is lost, and go
        log.warning("the last step views could not be written: %s", error)


def views_of(app: Flask) -> StepViews:
    """The app's counts not written yet (``create_app`` makes them)."""
    views: StepViews = app.extensions["keylight_step_views"]
    return views


def position(journey: Journey, step: StepBase) -> int:
    """Where ``step`` stands among the journey's steps, inactive ones included (a step
    switched off keeps the others' places)."""
    return next(i for i, candidate in enumerate(journey.steps) if candidate.id == step.id)


def note(visit: Visit, step: StepBase) -> None:
    """Count ``step``'s page as viewed by this visitor, unless it was in this walk.

    The walk starts with its first counted page, never with an order done page
    (which ends one). A cart so full that the cookie cannot take one more step
    keeps its products, and the view goes uncounted.
    """
    cart = visit.cart
    where = position(visit.journey, step)
    if where in cart.seen:
        return
    moment = now()
    before = (cart.seen, cart.started)
    cart.seen = [*cart.seen, where]
    if not cart.started and not isinstance(step, OrderDoneStep):
        cart.started = int(moment.timestamp())
    if not carts.fits(visit.app, carts.encode(visit.app, cart)):
        cart.seen, cart.started = before
        return
    cart.dirty = True
    views_of(visit.app).count(visit.journey.key, step.id, moment.date())
