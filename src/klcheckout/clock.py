"""The backend's one clock: every timestamp it stores or compares comes from ``now``.

Aware datetimes in UTC, so a stored time means the same instant on SQLite and
PostgreSQL, whatever the server's own time zone.
"""

from __future__ import annotations

from datetime import UTC, datetime


def now() -> datetime:
    return datetime.now(UTC)


def shown(moment: datetime) -> str:
    """A moment as operators read it: ``2026-12-03T10:00:00+00:00``, always with its offset."""
    return moment.astimezone(UTC).isoformat(timespec="seconds")
