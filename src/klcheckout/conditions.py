"""Conditions and rules at run time: the expression context of a request, and what it decides.

A journey's ``when`` conditions and ``rules`` are parsed when the journeys load
(``kljourney.expressions``); here they are evaluated against what the backend
knows about this customer's checkout. The context is the one documented in the
README ("Conditions and rules"): ``cart``, ``customer``, ``actor``, ``answers``,
``journey`` and ``entry``, each a ``Record`` whose missing names read as None.

An expression that fails at run time (``answers.age > 18`` before the age is
known) is false: a step whose condition fails is skipped, a rule that fails
does not refuse anything.

The entry parameters (``entry``) are the query string the journey was entered
with, sent by the page script with its first state request. They are kept with
the checkout in the database, never in the cookie, bounded to ``MAX_ENTRY``
parameters of at most ``MAX_ENTRY_TEXT`` characters each. The first entry
sticks; a later one with other parameters replaces it only while the cart is
empty, so a link opened in the middle of a checkout cannot change its branch.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from kljourney.expressions import Expression, Record, parse
from kljourney.model import Journey, StepBase

from . import subscriptions
from .answers import merged
from .clock import now

if TYPE_CHECKING:
    from .visit import Visit

#: At most this many entry parameters are kept; the rest are ignored.
MAX_ENTRY = 20
#: Entry parameter names and values are cut to this many characters.
MAX_ENTRY_TEXT = 100


@lru_cache(maxsize=4096)
def expression(source: str) -> Expression:
    """The parsed expression; the loader has already refused any that do not parse."""
    return parse(source)


def uses_conditions(journey: Journey) -> bool:
    """Whether any active step has a condition or rules (if not, nothing here runs)."""
    return bool(journey.when) or any(step.when or step.rules for step in journey.active_steps)


def keeps_entry(journey: Journey) -> bool:
    """Whether anything in the journey (a condition, a rule, a hook's condition) may read
    ``entry``; other journeys never write their entry parameters to the database."""
    if uses_conditions(journey) or any(hook.when for hook in journey.hooks):
        return True
    return any(hook.when for step in journey.active_steps for hook in step.hooks)


def parse_entry(query: str) -> dict[str, str]:
    """Query parameters, bounded: the first value of each name, ``MAX_ENTRY`` names at most."""
    entry: dict[str, str] = {}
    for name, value in parse_qsl(query.lstrip("?")[:8192], keep_blank_values=True):
        name = name[:MAX_ENTRY_TEXT]
        if not name or name in entry:
            continue
        if len(entry) >= MAX_ENTRY:
            break
        entry[name] = value[:MAX_ENTRY_TEXT]
    return entry


def entry_of(visit: Visit) -> dict[str, str]:
    checkout = visit.checkout
    return dict(checkout.entry or {}) if checkout is not None else {}


def should_store_entry(visit: Visit, entry: dict[str, str]) -> bool:
    """The first entry is kept; another replaces it only while the cart is empty."""
    if not entry:
        return False
    stored = visit.checkout.entry if visit.checkout is not None else None
    if not stored:
        return True
    return stored != entry and not visit.cart.lines


def cart_record(visit: Visit) -> Record:
    values = visit.priced_cart.condition_values()
    return Record({**values, "lines": [Record(line) for line in values["lines"]]})


def account_answers(visit: Visit) -> dict[str, Any]:
    """The signed-in customer's saved sold-to answers, by the field names of this journey."""
    customer = visit.customer
    if customer is None:
        return {}
    profile = customer.profile or {}
    found: dict[str, Any] = {}
    for step in visit.journey.form_steps:
        if step.form_target == "sold_to_account":
            for form_field in visit.shop.forms[step.form].fields:
                if form_field.profile_key in profile:
                    found[form_field.name] = profile[form_field.profile_key]
    return found


def customer_record(visit: Visit, entry: Mapping[str, str]) -> Record:
    customer = visit.customer
    signed_in = customer is not None
    segment = (getattr(customer, "segment", "") or "") if signed_in else ""
    return Record(
        {
            "signed_in": signed_in,
            "guest": not signed_in and bool(visit.guest_email or visit.link_email),
            "email": visit.email,
            "segment": segment or entry.get("segment") or "",
            "answers": Record(account_answers(visit)),
            "subscriptions": owned_subscriptions(visit),
        }
    )


def actor_record(visit: Visit) -> Record:
    """Who walks the journey: a member of staff signed in with both factors, else a
    customer (signed in or not). Staff rights come only from the staff session, read on
    the server for this request (``Visit.staff``), never from the page or the cart."""
    member = visit.staff
    if member is None:
        return Record({"role": "customer", "email": "", "partner": ""})
    return Record({"role": member.role, "email": member.email, "partner": member.partner or ""})


def reads_subscriptions(journey: Journey) -> bool:
    """Whether an expression of the journey reads ``customer.subscriptions`` (only then
    are they read from the database)."""
    sources = [journey.when or ""]
    for step in journey.active_steps:
        sources += [step.when or "", *(rule.when for rule in step.rules)]
    return any("subscriptions" in source for source in sources)


def owned_subscriptions(visit: Visit) -> list[Record]:
    owner = visit.owner
    if owner is None or not reads_subscriptions(visit.journey):
        return []
    moment = now()
    rows = subscriptions.of_owner(visit.connection, owner)
    return [Record(subscriptions.condition_values(row, moment)) for row in rows]


def subscription_record(visit: Visit) -> Record:
    """The subscription a subscription journey acts on; empty for other journeys."""
    row = visit.subscription
    return Record(subscriptions.condition_values(row, now()) if row is not None else {})


def journey_open(visit: Visit) -> bool:
    """Whether the journey's own ``when`` lets this customer in (true without one)."""
    when = visit.journey.when
    return not when or expression(when).test(of(visit).context)


def context(visit: Visit, submitted: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The expression context of this request; ``submitted`` answers go on top of the saved."""
    entry = entry_of(visit)
    answers = merged(visit.journey, visit.answers)
    answers.update(submitted or {})
    journey = visit.journey
    return {
        "cart": cart_record(visit),
        "customer": customer_record(visit, entry),
        "actor": actor_record(visit),
        "answers": Record(answers),
        "journey": Record(journey.summary),
        "entry": Record(entry),
        "subscription": subscription_record(visit),
    }


def of(visit: Visit) -> Conditions:
    """This request's ``Conditions``, made once (``Visit.forget_reads`` drops it after a write)."""
    found = visit.__dict__.get("conditions")
    if found is None:
        found = visit.__dict__["conditions"] = Conditions(visit)
    return found


class Conditions:
    """One request's decisions: which steps apply, which rules fire. The context is built
    once, on first use, and only for journeys that have conditions or rules at all."""

    def __init__(self, visit: Visit) -> None:
        self.visit = visit
        self.active = uses_conditions(visit.journey)
        self._context: dict[str, Any] | None = None

    @property
    def context(self) -> dict[str, Any]:
        if self._context is None:
            self._context = context(self.visit)
        return self._context

    def applies(self, step: StepBase) -> bool:
        """False for a step whose ``when`` is false: it is skipped."""
        if not self.active or not step.when:
            return True
        return expression(step.when).test(self.context)

    def skipped(self) -> list[str]:
        """The ids of the active steps that do not apply, in journey order."""
        if not self.active:
            return []
        return [step.id for step in self.visit.journey.active_steps if not self.applies(step)]

    def refusals(
        self, step: StepBase, submitted: Mapping[str, Any] | None = None
    ) -> dict[str, str]:
        """The messages of the step's rules that fire: by field, or "_form" for the step."""
        if not self.active or not step.rules:
            return {}
        names = self.context
        if submitted is not None:
            # The step's own saved answers are replaced by the submitted ones, not merged:
            # a field emptied now must read as None.
            others = {k: v for k, v in self.visit.answers.items() if k != step.id}
            answers = {**merged(self.visit.journey, others), **submitted}
            names = {**names, "answers": Record(answers)}
        errors: dict[str, str] = {}
        for rule in step.rules:
            if expression(rule.when).test(names):
                key = rule.field or "_form"
                if key in errors:
                    errors[key] = f"{errors[key]} {rule.message}"
                else:
                    errors[key] = rule.message
        return errors
