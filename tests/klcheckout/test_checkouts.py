"""A checkout's row: every change raises its version, so a write based on a stale read
can tell, and nothing another request wrote in between is lost."""

from __future__ import annotations

from checkout_helpers import Backend

from klcheckout import checkouts, db


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
