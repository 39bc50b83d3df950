"""The backend's one clock: every timestamp it stores or compares comes from ``now``.

Aware datetimes in UTC, so a stored time means the same instant on SQLite and
PostgreSQL, whatever the server's own time zone.
"""

from __future__ import annotations

from datetime import UTC, datetime


def now() -> datetime:
    return datetime.now(UTC)
