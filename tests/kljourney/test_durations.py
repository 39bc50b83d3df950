"""Durations as the funnel's readers say them."""

from __future__ import annotations

import pytest

from kljourney.durations import spoken


@pytest.mark.parametrize(
    ("seconds", "said"),
    [
        (None, "-"),
        (0, "0 s"),
        (59.4, "59 s"),
        (59.6, "1 min 0 s"),
        (250, "4 min 10 s"),
        (3600, "1 h 0 min"),
        (7500, "2 h 5 min"),
        (86400 * 3 + 3600 * 4 + 59, "3 d 4 h"),
    ],
)
def test_spoken(seconds: float | None, said: str) -> None:
    assert spoken(seconds) == said
