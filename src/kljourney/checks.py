"""Checks of one journey against the shop: references, conditions, and sense.

Errors are things that cannot work (a form that does not exist, a condition
reading a field no form asks for); warnings are journeys that work but are
probably not what their author meant. Both are plain ``Problem`` lists, so the
loader can keep them for journeys that did not change.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import expressions
from .errors import Problem
from .locate import find_line
from .messages import dotted, step_label_of, unknown
from .model import (
    CATALOG_FILE,
    FORMS_FILE,
    SUBSCRIPTION_STEP_TYPES,
    CancellationStep,
    ConfirmationStep,
    FormStep,
    Journey,
    PaymentMethodStep,
    PlanChangeStep,
    ProductSelectionStep,
    StepBase,
)
from .shop import Shop

#: Reports one problem: (message, location in the file, index of the step or None).
Fail = Callable[..., None]


class Checker:
    """Collects the problems of a journey; ``broken`` names shared files that failed to load."""

    def __init__(self, sources: dict[str, str], broken: set[str]) -> None:
        self.sources = sources
        self.broken = broken
        self.errors: list[Problem] = []
        self.warnings: list[Problem] = []

    def error(self, file: str, message: str, **where: Any) -> None:
        self.errors.append(Problem(file=file, message=message, **where))

    def warn(self, file: str, message: str, **where: Any) -> None:
        self.warnings.append(Problem(file=file, message=message, severity="warning", **where))

    def check_journey(self, shop: Shop, journey: Journey) -> None:
        file = journey.source
        source = self.sources.get(file, "")

        def fail(message: str, loc: tuple, step: int | None = None) -> None:
            self.error(
                file,
                message,
                journey=journey.name,
                step=step_label_of(journey, step) if step is not None else None,
                field=dotted(loc[2:]) if step is not None else dotted(loc),
                line=find_line(source, loc),
            )

        if journey.business_entity and journey.business_entity not in shop.business_entities:
            fail(
                unknown("business entity", journey.business_entity, shop.business_entities),
                ("business_entity",),
            )
        catalog = CATALOG_FILE not in self.broken
        if catalog and journey.discount and journey.discount not in shop.discounts:
            fail(unknown("discount", journey.discount, shop.discounts), ("discount",))
        if journey.about_subscription and not journey.for_customers:
            fail(
                "a subscription journey acts on the customer's own subscription, so customers "
                'walk it; add "customers" to its audience or leave audience out',
                ("audience",),
            )
        seen: dict[str, int] = {}
        for index, step in enumerate(journey.steps):
            if step is None:  # invalid, and already reported
                continue
            if step.type == "customer_lookup" and journey.audience == ["customers"]:
                fail(
                    "a customer_lookup step lets staff order on a customer's behalf, but only "
                    'customers walk this journey; add "sales" or "partners" to its '
                    "audience, or remove the step",
                    ("steps", index, "type"),
                    index,
                )
            elif step.actor == "staff" and journey.audience == ["customers"]:
                fail(
                    'actor = "staff", but only customers walk this journey, so nobody could '
                    'complete this step; add "sales" or "partners" to the journey\'s audience, '
                    'or make it actor = "any"',
                    ("steps", index, "actor"),
                    index,
                )
            if step.type in SUBSCRIPTION_STEP_TYPES and not journey.about_subscription:
                fail(
                    f"a {step.type} step acts on an existing subscription; "
                    'add subject = "subscription" at the top of the journey',
                    ("steps", index, "type"),
                    index,
                )
            if isinstance(step, PlanChangeStep) and catalog:
                self.check_plans(shop, step.product_selection, fail, index)
            elif isinstance(step, CancellationStep) and catalog:
                for number, reason in enumerate(step.reasons):
                    problem = _offer_problem(shop, reason.offer or "")
                    if problem:
                        fail(problem, ("steps", index, "reasons", number, "offer"), index)
            if step.id in seen:
                fail(
                    f"step id {step.id!r} is also used by step {seen[step.id] + 1}; "
                    'rename one step or give it its own id = "..."',
                    ("steps", index, "id"),
                    index,
                )
            seen.setdefault(step.id, index)
            if isinstance(step, ConfirmationStep) and step.sends_quote and not journey.staff_walk:
                fail(
                    'confirmation_type = "quote" lets staff send a customer a quote, but only '
                    'customers walk this journey; add "sales" or "partners" to its audience, '
                    'or use confirmation_type = "direct"',
                    ("steps", index, "confirmation_type"),
                    index,
                )
            if isinstance(step, ProductSelectionStep):
                if (
                    CATALOG_FILE not in self.broken
                    and step.product_selection not in shop.product_selections
                ):
                    fail(
                        unknown(
                            "product selection", step.product_selection, shop.product_selections
                        ),
                        ("steps", index, "product_selection"),
                        index,
                    )
            elif isinstance(step, FormStep):
                if FORMS_FILE not in self.broken and step.form not in shop.forms:
                    fail(unknown("form", step.form, shop.forms), ("steps", index, "form"), index)
            elif isinstance(step, ConfirmationStep) and step.accept_terms:
                entity = shop.business_entities.get(journey.business_entity)
                if entity is not None and not entity.terms_url:
                    fail(
                        f"accept_terms asks the buyer to accept terms, but business entity "
                        f"{entity.id!r} has no terms_url; add it in keylight.toml",
                        ("steps", index, "accept_terms"),
                        index,
                    )
            elif isinstance(step, PaymentMethodStep):
                if not shop.payment_methods:
                    fail(
                        "the shop offers no payment methods; "
                        "add [payment_methods] to keylight.toml",
                        ("steps", index, "type"),
                        index,
                    )
                for method in step.methods or []:
                    if method not in shop.payment_methods:
                        fail(
                            unknown("payment method", method, shop.payment_methods),
                            ("steps", index, "methods"),
                            index,
                        )
                entity = shop.business_entities.get(journey.business_entity)
                offers_sepa = "sepa_debit" in (step.methods or shop.payment_methods)
                if entity and offers_sepa and not entity.sepa_creditor_id and step.active:
                    fail(
                        f"SEPA direct debit is offered, but business entity {entity.id!r} has no "
                        "sepa_creditor_id; add it in keylight.toml "
                        "or leave sepa_debit out of methods",
                        ("steps", index, "methods"),
                        index,
                    )
        if FORMS_FILE not in self.broken:
            self.check_conditions(shop, journey, fail)

    def check_plans(self, shop: Shop, selection: str, fail: Fail, index: int) -> None:
        """A plan change offers recurring products only: a plan is something one subscribes to."""
        loc = ("steps", index, "product_selection")
        if selection not in shop.product_selections:
            fail(unknown("product selection", selection, shop.product_selections), loc, index)
            return
        for product in shop.product_selections[selection].products:
            if product in shop.products and shop.products[product].billing == "one_time":
                fail(
                    f"product selection {selection!r} has {product!r}, which is paid once; "
                    "a plan change offers monthly or yearly products only",
                    loc,
                    index,
                )

    def check_conditions(self, shop: Shop, journey: Journey, fail: Fail) -> None:
        """Rules name real fields, conditions read real answers, validate hooks sit on steps."""
        fields = _journey_fields(shop, journey)
        if journey.when:
            self.check_answers(journey.when, fields, fail, ("when",), None)
        for index, hook in enumerate(journey.hooks):
            if hook.type == "validate":
                fail(
                    "a validate hook runs before a step is accepted: "
                    "put it under that step, as [[steps.hooks]]",
                    ("hooks", index, "type"),
                )
            if hook.when:
                self.check_answers(hook.when, fields, fail, ("hooks", index, "when"), None)
        for index, step in enumerate(journey.steps):
            if step is None:
                continue
            if step.when:
                self.check_answers(step.when, fields, fail, ("steps", index, "when"), index)
            own = (
                [f.name for f in shop.forms[step.form].fields]
                if isinstance(step, FormStep) and step.form in shop.forms
                else []
            )
            for number, rule in enumerate(step.rules):
                loc = ("steps", index, "rules", number)
                self.check_answers(rule.when, fields, fail, loc + ("when",), index)
                if rule.field and not isinstance(step, FormStep):
                    fail(
                        f"field {rule.field!r}: only rules of form steps belong to a field; "
                        "leave field out to show the message at the top of the step",
                        loc + ("field",),
                        index,
                    )
                elif rule.field and own and rule.field not in own:
                    fail(unknown("form field", rule.field, own), loc + ("field",), index)
            for number, hook in enumerate(step.hooks):
                if hook.when:
                    loc = ("steps", index, "hooks", number, "when")
                    self.check_answers(hook.when, fields, fail, loc, index)

    def check_answers(
        self, condition: str, fields: list[str], fail: Fail, loc: tuple, step: int | None
    ) -> None:
        """``answers.vat_idd`` in a condition: no form of the journey has that field."""
        for name, column in expressions.answer_names(condition):
            if name not in fields:
                fail(f"{unknown('form field', name, fields)} (at column {column})", loc, step)

    def check_sense(self, shop: Shop, journey: Journey) -> None:
        """Warnings: the journey is valid but probably not what its author meant."""
        steps = journey.active_steps
        kinds = [step.type for step in steps]

        def warn(message: str, step: StepBase | None = None) -> None:
            label = None
            if step is not None:
                label = step_label_of(journey, journey.steps.index(step))
            self.warn(journey.source, message, journey=journey.name, step=label)

        if not journey.steps:
            warn("no steps yet: the journey has no pages until it has an active step")
            return
        if journey.about_subscription:
            if not any(kind in SUBSCRIPTION_STEP_TYPES for kind in kinds):
                warn(
                    "no active plan_change, cancellation or pause step: "
                    "the journey changes nothing about the subscription"
                )
            if "confirmation" not in kinds:
                warn("no active confirmation step: no change can be confirmed in this journey")
        else:
            if "product_selection" not in kinds:
                warn("no active product selection step: customers cannot choose a product")
            if "confirmation" not in kinds:
                warn("no active confirmation step: no order can be placed in this journey")
        if "payment_method" in kinds and "confirmation" in kinds:
            if kinds.index("confirmation") < kinds.index("payment_method"):
                warn(
                    "the confirmation step comes before the payment method step; "
                    "customers confirm before choosing how to pay",
                    steps[kinds.index("confirmation")],
                )
        if "order_done" in kinds and kinds[-1] != "order_done":
            warn(
                "the order done step is not the last active step; "
                "the steps after it are never reached",
                steps[kinds.index("order_done")],
            )
        done_pages = [step for step in steps if step.type == "order_done"]
        for first, later in zip(done_pages, done_pages[1:], strict=False):
            if not first.when:
                warn(
                    f"this order done step is never reached: {first.name!r} before it has "
                    "no condition, so every customer ends there; give it a when, or switch "
                    "one of them off",
                    later,
                )
                break
        for index, step in enumerate(steps):
            if isinstance(step, ConfirmationStep) and step.sends_quote:
                if "customer_lookup" not in kinds[:index]:
                    warn(
                        "a quote goes to the customer the journey found, but no "
                        "customer_lookup step comes before this one; add one first",
                        step,
                    )
        for step in steps:
            if isinstance(step, FormStep) and step.form in shop.forms:
                if not shop.forms[step.form].fields:
                    warn(f"form {step.form!r} has no fields; the step shows an empty form", step)
        if steps and not any(step.progress_bar for step in steps):
            warn("no active step has progress_bar = true; the progress bar is empty")


def _offer_problem(shop: Shop, offer: str) -> str | None:
    """Why a cancellation reason's offer cannot be made, or None."""
    kind, _, name = offer.partition(":")
    if kind == "discount" and name not in shop.discounts:
        return unknown("discount", name, shop.discounts)
    if kind == "plan":
        if name not in shop.products:
            return unknown("product", name, shop.products)
        if shop.products[name].billing == "one_time":
            return f"product {name!r} is paid once; offer a monthly or yearly plan"
    return None


def _journey_fields(shop: Shop, journey: Journey) -> list[str]:
    """The names of every field of every form the journey asks for, in order."""
    names: list[str] = []
    for step in journey.steps:
        if isinstance(step, FormStep) and step.form in shop.forms:
            names += [f.name for f in shop.forms[step.form].fields if f.name not in names]
    return names
