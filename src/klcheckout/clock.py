"""The backend's one clock: every timestamp it stores or compares comes from ``now``.

Aware datetimes in UTC, so a stored time means the same instant on SQLite and
PostgreSQL, whatever the server's own time zone.

Subscriptions make time matter (a period ends, a pause is over), and a test of
that cannot wait a month. ``KEYLIGHT_CLOCK_FILE`` names a file holding a number
of seconds that the clock runs ahead; tests (and demos) write it to move a
running server's time on. Production refuses the setting (``settings``).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

from babel.dates import format_date, format_time

from kljourney.i18n import current_locale

#: Read once: the setting is for a whole process, the file's content for each call.
CLOCK_FILE = os.environ.get("KEYLIGHT_CLOCK_FILE", "")


def now() -> datetime:
    moment = datetime.now(UTC)
    if CLOCK_FILE:
        moment += timedelta(seconds=_offset(CLOCK_FILE))
    return moment


def _offset(path: str) -> float:
    """The seconds the clock runs ahead; 0 while the file is missing or empty."""
    try:
        with open(path, encoding="utf-8") as file:
            text = file.read().strip()
    except FileNotFoundError:
        return 0.0
    return float(text) if text else 0.0


def shown(moment: datetime) -> str:
    """A moment as operators read it: ``2026-12-03T10:00:00+00:00``, always with its offset."""
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def readable(moment: datetime) -> str:
    """A moment as people read it, in the language being written: 'Dec 31, 2026, 2:59 AM
    UTC' (en-US), '31.12.2026, 02:59 UTC' (de-DE). Operators get ``shown``'s ISO form,
    as does anything outside a language (a hook's data)."""
    locale = current_locale().replace("-", "_")
    if not locale:
        return shown(moment)
    day = format_date(moment, format="medium", locale=locale)
    time = format_time(moment, format="short", tzinfo=UTC, locale=locale)
    return f"{day}, {time} UTC"
