"""Patterns must work in the browser (JavaScript, 'v' flag) as well as in Python."""

from __future__ import annotations

import pytest

from kljourney.patterns import browser_problem


@pytest.mark.parametrize(
    "pattern",
    [r"[A-Za-z0-9 \-]{3,10}", "[a-z]+", r"\d{5}", "[^a-z]", "(ab|cd)[0-9]", r"[\w.+\-]+@x"],
)
def test_patterns_browsers_accept(pattern: str) -> None:
    assert browser_problem(pattern) is None


@pytest.mark.parametrize(
    ("pattern", "found", "fix"),
    [
        ("[A-Za-z0-9 -]{3,10}", "a '-' that is not part of a range", r"\-"),
        ("[-a]", "a '-' that is not part of a range", r"\-"),
        ("[a-z-0]", "a '-' that is not part of a range", r"\-"),
        ("[(]", "'('", r"\("),
        ("[a|b]", "'|'", r"\|"),
        ("[a&&b]", "'&&'", r"\&"),
    ],
)
def test_patterns_browsers_reject_come_with_the_fix(pattern: str, found: str, fix: str) -> None:
    problem = browser_problem(pattern)
    assert problem is not None
    assert problem.startswith(f"browsers reject {found} inside [...]")
    assert f"escape it as {fix}," in problem
