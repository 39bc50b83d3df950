"""What a step handler says happened; ``steps.finish`` acts on it.

A handler decides and returns one of these; it neither opens the transaction
nor answers the request. That way the rule "what a step saves and its
``step_completed`` event are committed together, or not at all" is written once,
in ``steps.finish``, for every kind of step.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from kljourney.model import StepBase


@dataclass(frozen=True)
class Completed:
    """The step is done: save what it collected, record its event, send the customer on."""

    #: The step's form answers, kept with the checkout.
    answers: Mapping[str, Any] | None = None
    #: Other values kept with the checkout (the guest's email, the payment method).
    scratch: Mapping[str, Any] = field(default_factory=dict)
    #: The signed-in customer's auto-fill answers, kept with their account.
    profile: Mapping[str, Any] | None = None
    #: The step's own writes (a sign-in, an order), run in the same transaction. It
    #: returns False when the step turned out to be completed by another request
    #: meanwhile (an order placed by a concurrent confirmation): nothing is recorded.
    write: Callable[[Connection], bool] | None = None
    #: Whether the transaction must reach the disk before the customer hears of it.
    durable: bool = False
    #: The order is placed: the cart empties and a new checkout begins.
    ends_checkout: bool = False
    #: Where to go; None: the next step that applies, decided after saving.
    target: StepBase | None = None
    #: A URL outside the journey to go to instead (an order done step's external_url).
    location: str | None = None

    @property
    def saves_data(self) -> bool:
        return bool(
            self.answers is not None or self.scratch or self.profile is not None or self.write
        )


@dataclass(frozen=True)
class Refused:
    """The step's input is not accepted: the errors are shown on ``target`` (the step itself
    unless an earlier step must be done first)."""

    errors: Mapping[str, str]
    status: int = 422
    #: What the customer typed, to fill the form in again (never passwords or IBANs).
    values: Mapping[str, Any] | None = None
    target: StepBase | None = None


@dataclass(frozen=True)
class Passed:
    """The customer goes on without completing the step: a step its condition passes
    over, a confirmation repeated after the order was placed. No event is recorded."""

    target: StepBase
    location: str | None = None


Outcome = Completed | Refused | Passed


class StepRefused(Exception):
    """Raised by a ``Completed.write`` that finds, inside its transaction, that the step
    cannot be accepted after all (or was, by a concurrent request: ``Passed``); the
    transaction is rolled back and ``outcome`` is the answer."""

    def __init__(self, outcome: Refused | Passed) -> None:
        super().__init__(getattr(outcome, "errors", {}))
        self.outcome = outcome
