"""Durability per transaction: scratch writes skip the flush, nothing else does."""

from __future__ import annotations

from checkout_helpers import Backend

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
