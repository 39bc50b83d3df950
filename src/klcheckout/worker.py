"""The backend's one long-running helper, ``klcheckout worker`` (or a thread of ``klbuild
serve``): hook deliveries, time moving on for subscriptions and quotes (expiry), old
checkouts deleted.

Requests never wait for any of it. Several workers may run at once, on one
machine or many: each kind of work is claimed so that it is done once.

The step views a process counts for the funnel report are written by a thread of
that process (``step_views``); a worker that stops writes those of its app too,
so that the dev server loses none when it stops.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta

from flask import Flask

from . import checkouts, db, handovers, quotes, sign_in, step_views, subscriptions
from .clock import now
from .hooks import outbox

log = logging.getLogger(__name__)

#: Seconds between two looks for subscriptions with something due.
DUE_EVERY = 60.0
#: Seconds between two deletions of abandoned checkouts.
PURGE_EVERY = 3600.0


def run(app: Flask, stop: threading.Event, interval: float = 1.0) -> None:
    """Deliver due events every ``interval`` seconds, apply what is due for subscriptions
    every minute and delete abandoned checkouts every hour, until ``stop`` is set. A
    database that is down is waited for, not fatal."""
    next_due = next_purge = 0.0
    while not stop.is_set():
        try:
            outbox.run_once(app)
            if time.monotonic() >= next_due:
                shop = app.extensions["keylight"].shop
                subscriptions.apply_due(app.extensions["keylight_db"], shop, now())
                with db.writing(app.extensions["keylight_db"]) as connection:
                    quotes.expire_due(connection, shop, now())
                next_due = time.monotonic() + DUE_EVERY
            if time.monotonic() >= next_purge:
                clean_up(app)
                next_purge = time.monotonic() + PURGE_EVERY
        except Exception:  # noqa: BLE001 - keep the loop alive; the next round retries
            log.exception("the worker's round failed; trying again in %s s", interval)
        stop.wait(interval)
    try:
        step_views.views_of(app).flush()
    except Exception:  # noqa: BLE001 - stopping: statistics are not worth a failure
        log.exception("the last step views could not be written")


def clean_up(app: Flask) -> None:
    """Forget what is kept only for a while: abandoned checkouts, expired sign-in links
    and sessions, and hand-overs whose links expired as long ago as a checkout is kept."""
    checkouts.purge_abandoned(app)
    retention = timedelta(seconds=app.config["KEYLIGHT_CHECKOUT_RETENTION"])
    with db.writing(app.extensions["keylight_db"]) as connection:
        sign_in.purge(connection)
        handovers.purge(connection, now() - retention)


class Worker:
    """``run`` in a daemon thread (``klbuild serve`` runs one next to the backend)."""

    def __init__(self, app: Flask, interval: float = 1.0) -> None:
        self.stop_event = threading.Event()
        self.thread = threading.Thread(
            target=run, args=(app, self.stop_event, interval), name="keylight-worker", daemon=True
        )

    def start(self) -> Worker:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join(15)
