"""Durability per transaction: scratch writes skip the flush, nothing else does."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from checkout_helpers import Backend, database, head_revision
from sqlalchemy import create_engine, inspect, text

from klcheckout import db


def _flushing(connection) -> bool:  # type: ignore[no-untyped-def]
    if connection.dialect.name == "sqlite":
        return connection.exec_driver_sql("PRAGMA synchronous").scalar() in (2, 3)
    return connection.exec_driver_sql("SHOW synchronous_commit").scalar() != "off"


def test_only_scratch_writes_skip_the_flush(backend: Backend) -> None:
    with backend.engine.connect() as connection:
        with db.writing(connection) as writing:
            assert _flushing(writing)
        with db.writing(connection, durable=False) as writing:
            assert not _flushing(writing)
        # The setting ends with the transaction: the next one on this connection flushes.
        with db.writing(connection) as writing:
            assert _flushing(writing)
        assert _flushing(connection)
        connection.rollback()
    assert db.check_durability(backend.engine)


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_a_database_of_the_first_release_upgrades_and_keeps_its_rows(
    kind: str, tmp_path: Path
) -> None:
    """A shop running 0001 upgrades in place: rows kept, new tables and columns there."""
    with database(kind, tmp_path) as url:
        engine = db.make_engine(url)
        try:
            with engine.connect() as connection:
                command.upgrade(db.alembic_config(connection), "0001")
                connection.commit()
            moment = datetime.now(UTC)
            with engine.begin() as connection:
                connection.execute(
                    text(
                        "INSERT INTO customers (email, password_hash, profile, created_at,"
                        " password_changed_at) VALUES ('old@example.com', 'x', '{}', :t, :t)"
                    ),
                    {"t": moment},
                )
                connection.execute(
                    text(
                        "INSERT INTO checkouts (id, journey_key, answers, flash, updated_at)"
                        " VALUES ('open-checkout', 'k', '{}', '{}', :t)"
                    ),
                    {"t": moment},
                )
            db.upgrade(engine)
            assert db.current_revision(engine) == head_revision()
            columns = {c["name"] for c in inspect(engine).get_columns("customers")}
            assert "segment" in columns
            assert "events" in inspect(engine).get_table_names()
            with engine.connect() as connection:
                rows = connection.execute(text("SELECT email, segment FROM customers")).all()
            assert [tuple(r) for r in rows] == [("old@example.com", "")]  # no segment yet
            with engine.connect() as connection:
                versions = connection.execute(text("SELECT id, version FROM checkouts")).all()
            assert [tuple(r) for r in versions] == [("open-checkout", 0)]
            with engine.connect() as connection:  # and back down, for a rollback of a release
                command.downgrade(db.alembic_config(connection), "0001")
                connection.commit()
            assert "events" not in inspect(engine).get_table_names()
        finally:
            engine.dispose()


def test_sqlite_writers_of_other_processes_wait_in_the_queue(tmp_path: Path) -> None:
    """While one process writes, another's turn waits in the kernel, not in busy polls."""
    engine = db.make_engine(f"sqlite:///{tmp_path / 'shop.sqlite3'}")
    queue = db._WRITE_QUEUES[engine]
    probe = (
        "import fcntl, os, sys\n"
        "fd = os.open(sys.argv[1], os.O_RDWR)\n"
        "try:\n"
        "    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)\n"
        "except BlockingIOError:\n"
        "    sys.exit(3)\n"
    )
    with engine.connect() as connection:
        with db.writing(connection):
            held = subprocess.run([sys.executable, "-c", probe, queue.path])
        free = subprocess.run([sys.executable, "-c", probe, queue.path])
    engine.dispose()
    assert (held.returncode, free.returncode) == (3, 0)


def test_a_forked_process_takes_its_own_place_in_the_sqlite_queue(tmp_path: Path) -> None:
    """A lock descriptor inherited across a fork would share the parent's lock."""
    engine = db.make_engine(f"sqlite:///{tmp_path / 'shop.sqlite3'}")
    queue = db._WRITE_QUEUES[engine]
    with queue.turn():
        pid = os.fork()
        if pid == 0:  # the child must find the parent's turn taken
            try:
                fcntl.flock(queue._descriptor(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os._exit(7)
            os._exit(0)
        _, status = os.waitpid(pid, 0)
    engine.dispose()
    assert os.waitstatus_to_exitcode(status) == 7


def _in_transaction(connection) -> bool:  # type: ignore[no-untyped-def]
    raw = connection.connection.dbapi_connection
    if connection.dialect.name == "sqlite":
        return raw.in_transaction
    return raw.info.transaction_status != raw.info.transaction_status.IDLE


def test_a_requests_reads_run_outside_transactions_and_its_writes_inside(
    backend: Backend,
) -> None:
    """No BEGIN and ROLLBACK around a request's reads; a failed write leaves nothing."""
    with db.reads_outside_transactions(backend.engine.connect()) as connection:
        connection.execute(text("SELECT count(*) FROM orders")).scalar()
        assert not _in_transaction(connection)
        with pytest.raises(RuntimeError):
            with db.writing(connection, durable=False) as writing:
                assert _in_transaction(writing)
                assert not _flushing(writing)
                writing.execute(
                    text(
                        "INSERT INTO checkouts (id, journey_key, answers, flash, updated_at) "
                        "VALUES ('rolled-back', 'k', '{}', '{}', :at)"
                    ),
                    {"at": datetime.now(UTC)},
                )
                raise RuntimeError("the step failed after its write")
        found = connection.execute(text("SELECT id FROM checkouts WHERE id = 'rolled-back'"))
        assert found.first() is None
    # Any other connection begins a transaction for its reads as usual (migrations need it).
    with backend.engine.connect() as connection:
        connection.execute(text("SELECT count(*) FROM orders")).scalar()
        assert _in_transaction(connection)
        connection.rollback()


def test_a_postgresql_connection_found_dead_after_idling_is_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server restart (here: the session killed) while the pool idles costs no request."""
    with database("postgresql", tmp_path) as url:
        engine = db.make_engine(url)
        try:
            with engine.connect() as connection:
                victim = connection.exec_driver_sql("SELECT pg_backend_pid()").scalar()
                connection.rollback()
            killer = create_engine(url)
            with killer.begin() as admin:
                admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": victim})
            killer.dispose()
            monkeypatch.setattr(db, "PING_AFTER_IDLE_S", 0.0)
            with engine.connect() as connection:
                now_serving = connection.exec_driver_sql("SELECT pg_backend_pid()").scalar()
                connection.rollback()
            assert now_serving != victim
        finally:
            engine.dispose()


def test_a_scratch_write_on_a_requests_connection_commits_by_itself(backend: Backend) -> None:
    """PostgreSQL: one round trip, no transaction left open, and the flush skipped."""
    insert = text(
        "INSERT INTO checkouts (id, journey_key, answers, flash, updated_at) "
        "VALUES (:id, 'k', '{}', '{}', :at) RETURNING id"
    )
    with db.reads_outside_transactions(backend.engine.connect()) as connection:
        written = db.write_scratch(connection, insert, {"id": "scratch-1", "at": datetime.now(UTC)})
        assert written.id == "scratch-1"  # the row as written
        assert not _in_transaction(connection)
        if backend.kind == "postgresql":  # what a statement outside a transaction runs with
            assert not _flushing(connection)
        with db.writing(connection) as writing:  # while every durable transaction flushes
            assert _flushing(writing)
    with backend.engine.connect() as other:  # committed: another connection sees it
        found = other.execute(text("SELECT id FROM checkouts WHERE id = 'scratch-1'")).first()
        other.rollback()
    assert found is not None


def test_a_write_inside_a_write_joins_it(backend: Backend) -> None:
    """A helper that writes on its own, called inside a transaction, becomes part of it."""
    insert = text(
        "INSERT INTO checkouts (id, journey_key, answers, flash, updated_at) "
        "VALUES (:id, 'k', '{}', '{}', :at)"
    )
    with db.reads_outside_transactions(backend.engine.connect()) as connection:
        with pytest.raises(RuntimeError):
            with db.writing(connection) as outer:
                with db.writing(outer, durable=False) as inner:
                    inner.execute(insert, {"id": "joined-1", "at": datetime.now(UTC)})
                returning = text(f"{insert.text} RETURNING id")
                db.write_scratch(outer, returning, {"id": "joined-2", "at": datetime.now(UTC)})
                assert _flushing(outer)  # still the outer, durable transaction
                raise RuntimeError("the step failed after its writes")
        found = connection.execute(text("SELECT id FROM checkouts WHERE id LIKE 'joined-%'"))
        assert found.all() == []  # all rolled back together
