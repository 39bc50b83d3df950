"""A checkout's row: every change raises its version, so a write based on a stale read
can tell, and nothing another request wrote in between is lost."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from checkout_helpers import Backend
from click.testing import CliRunner
from sqlalchemy import select, update

from klcheckout import checkouts, db, tables, worker
from klcheckout.cli import cli


def test_answers_saved_on_a_row_read_earlier_unless_it_changed_since(backend: Backend) -> None:
    with db.reads_outside_transactions(backend.engine.connect()) as connection:
        checkouts.put(connection, "stale-read-1", "k", guest_email="ada@example.com")
        first = checkouts.get(connection, "stale-read-1")
        # Another request of the same customer chooses a payment method meanwhile.
        checkouts.put(connection, "stale-read-1", "k", payment={"method": "invoice"})
        assert checkouts.get(connection, "stale-read-1").version == first.version + 1

        assert not checkouts.save_answers_unless_changed(
            connection, first, "billing", {"city": "Berlin"}
        )
        unchanged = checkouts.get(connection, "stale-read-1")
        assert unchanged.answers == {}  # nothing written from the stale read...
        assert unchanged.payment == {"method": "invoice"}  # ...so nothing undone

        assert checkouts.save_answers_unless_changed(
            connection, unchanged, "billing", {"city": "Berlin"}
        )
        saved = checkouts.get(connection, "stale-read-1")
        assert saved.answers == {"billing": {"city": "Berlin"}}
        assert saved.payment == {"method": "invoice"}
        assert saved.guest_email == "ada@example.com"
        assert saved.version == unchanged.version + 1


def test_a_saved_answer_clears_only_its_own_steps_errors(backend: Backend) -> None:
    with db.reads_outside_transactions(backend.engine.connect()) as connection:
        with db.writing(connection, durable=False) as writing:
            row = checkouts.lock(writing, "flash-1", "k")
            checkouts.add_flash(writing, row, step_id="billing", errors={"city": "Enter a city."})
            row = checkouts.lock(writing, "flash-1", "k")
            checkouts.add_flash(writing, row, step_id="payment", errors={"method": "Choose."})
        row = checkouts.get(connection, "flash-1")
        assert checkouts.save_answers_unless_changed(connection, row, "billing", {"city": "Rome"})
        flash = checkouts.get(connection, "flash-1").flash
        assert set(flash["steps"]) == {"payment"}


def _put_at(connection: Any, checkout_id: str, stamp: datetime) -> None:
    checkouts.put(connection, checkout_id, "k", guest_email=f"{checkout_id}@example.com")
    connection.execute(
        update(tables.checkouts)
        .where(tables.checkouts.c.id == checkout_id)
        .values(updated_at=stamp)
    )
    connection.commit()


def test_abandoned_checkouts_are_deleted_after_the_retention(backend: Backend) -> None:
    """A guest's answers go once no cart can come back for them; newer ones stay."""
    retention = backend.app.config["KEYLIGHT_CHECKOUT_RETENTION"]
    long_ago = datetime.now(UTC) - timedelta(seconds=retention + 3600)
    recently = datetime.now(UTC) - timedelta(seconds=retention - 3600)
    with db.reads_outside_transactions(backend.engine.connect()) as connection:
        for number in range(3):
            _put_at(connection, f"abandoned-{number}", long_ago)
        _put_at(connection, "still-open", recently)
    assert checkouts.purge(backend.engine, datetime.now(UTC) - timedelta(seconds=retention), 2)
    with backend.engine.connect() as connection:
        left = {row.id for row in connection.execute(select(tables.checkouts.c.id))}
    assert not {"abandoned-0", "abandoned-1", "abandoned-2"} & left
    assert "still-open" in left


def test_the_worker_and_the_cli_delete_abandoned_checkouts(backend: Backend) -> None:
    retention = backend.app.config["KEYLIGHT_CHECKOUT_RETENTION"]
    long_ago = datetime.now(UTC) - timedelta(seconds=retention + 60)
    with db.reads_outside_transactions(backend.engine.connect()) as connection:
        _put_at(connection, "worker-abandoned", long_ago)
    stop = threading.Event()
    running = threading.Thread(target=worker.run, args=(backend.app, stop, 0.05))
    running.start()
    try:
        deadline = time.monotonic() + 10
        while _exists(backend, "worker-abandoned") and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        running.join(10)
    assert not _exists(backend, "worker-abandoned")

    with db.reads_outside_transactions(backend.engine.connect()) as connection:
        _put_at(connection, "cli-abandoned", long_ago)
    env = {
        "KEYLIGHT_JOURNEYS": backend.config["KEYLIGHT_JOURNEYS"],
        "KEYLIGHT_INSTANCE": backend.config["KEYLIGHT_INSTANCE"],
        "KEYLIGHT_SECRET_KEYS": ",".join(backend.config["KEYLIGHT_SECRET_KEYS"]),
        "KEYLIGHT_DATABASE_URL": backend.database_url,
    }
    result = CliRunner().invoke(cli, ["checkouts", "purge"], env=env)
    assert result.exit_code == 0, result.output
    assert "1 abandoned checkouts deleted (unchanged for more than 30 days)" in result.output
    assert not _exists(backend, "cli-abandoned")


def _exists(backend: Backend, checkout_id: str) -> bool:
    with backend.engine.connect() as connection:
        found = checkouts.get(connection, checkout_id) is not None
        connection.rollback()
    return found
