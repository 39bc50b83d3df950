"""A checkout's form answers, as the journey puts them together.

Answers are saved per form step; whoever reads them merged (conditions, the
confirmation page, the order) merges them in journey order, so that a later
step's answer to the same field wins over an earlier one's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from kljourney.model import FormStep, Journey

#: Saved answers by step id.
Saved = Mapping[str, Mapping[str, Any]]


def _steps(
    journey: Journey, saved: Saved, only: Callable[[FormStep], bool] | None
) -> Iterator[tuple[FormStep, Mapping[str, Any]]]:
    for step in journey.form_steps:
        if step.id in saved and (only is None or only(step)):
            yield step, saved[step.id] or {}


def merged(
    journey: Journey, saved: Saved, *, only: Callable[[FormStep], bool] | None = None
) -> dict[str, Any]:
    """Every saved answer by field name (of the steps ``only`` accepts)."""
    result: dict[str, Any] = {}
    for _, answers in _steps(journey, saved, only):
        result.update(answers)
    return result


def by_target(
    journey: Journey, saved: Saved, *, only: Callable[[FormStep], bool] | None = None
) -> dict[str, dict[str, Any]]:
    """The saved answers grouped by their form target (``sold_to_account``...), as an
    order keeps them."""
    result: dict[str, dict[str, Any]] = {}
    for step, answers in _steps(journey, saved, only):
        result.setdefault(step.form_target, {}).update(answers)
    return result
