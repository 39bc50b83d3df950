"""Shared by every test folder: a run of ``scripts/test`` allows no skips.

A test skips only when something it needs is missing from the machine (Chromium,
the PostgreSQL or Redis server), which is fair for a developer's plain ``pytest``.
``scripts/test`` (and so CI) installs and starts all of them first and sets
``KEYLIGHT_TEST_NO_SKIPS``: there, a skip means the set-up failed, and is reported
as a failure rather than hidden in a count.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

#: Read once: the backend tests clear every KEYLIGHT_ variable around each test.
NO_SKIPS = bool(os.environ.get("KEYLIGHT_TEST_NO_SKIPS"))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.skipped and NO_SKIPS:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped, but scripts/test set everything up: {reason}"
