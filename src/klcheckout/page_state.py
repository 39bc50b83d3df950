"""``GET API/KEY/state``: everything the static pages fill in for one visitor.

The shapes are the contract in ``docs/pages-and-backend.md``. Reading the state
changes nothing except handing out, once, the errors and messages kept for the
page after a plain form POST.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request
from werkzeug.exceptions import NotFound

from kljourney.countries import countries
from kljourney.i18n import gettext as _
from kljourney.model import (
    SUBSCRIPTION_STEP_TYPES,
    AuthenticationStep,
    CancellationStep,
    ConfirmationStep,
    CustomerLookupStep,
    FormStep,
    OrderDoneStep,
    PauseStep,
    PlanChangeStep,
    StepBase,
)

from . import (
    changes,
    checkouts,
    conditions,
    handover_views,
    navigation,
    orders,
    quotes,
    security,
    step_views,
    subscriptions,
)
from .answers import merged
from .clock import now
from .payment import PROVIDERS
from .steps import CLOSED, NO_SUBSCRIPTION
from .steps.subscription import CHANGED
from .visit import Visit, begin

bp = Blueprint("state", __name__)


def customer_json(visit: Visit) -> dict[str, Any] | None:
    if visit.customer is not None:
        if visit.staff is not None:  # the customer a member of staff orders for
            email = visit.customer.email
            return {"email": email, "signed_in": False, "guest": False, "on_behalf": True}
        if visit.handover is not None:  # the customer completing a step handed to them
            email = visit.customer.email
            return {"email": email, "signed_in": False, "guest": False, "handover": True}
        return {"email": visit.customer.email, "signed_in": True, "guest": False}
    if visit.guest_email:
        return {"email": visit.guest_email, "signed_in": False, "guest": True}
    return None


def values_for(visit: Visit, step: StepBase | None) -> dict[str, Any]:
    """Saved answers of the step, else auto-fill from the signed-in customer's own profile."""
    if isinstance(step, AuthenticationStep | CustomerLookupStep):
        return {"email": visit.email} if visit.email else {}
    if step is not None and step.type in SUBSCRIPTION_STEP_TYPES:
        chosen = dict(visit.answers.get(step.id) or {})
        chosen.pop("version", None)
        return chosen
    if isinstance(step, ConfirmationStep):
        # The confirmation page shows the saved answers of the form steps that apply.
        values = merged(visit.journey, visit.answers, only=conditions.of(visit).applies)
        if step.confirmation_type == "quote":
            values.update(draft_discount(visit))
        return values
    if not isinstance(step, FormStep):
        return {}
    saved = visit.answers.get(step.id)
    if saved is not None:
        return dict(saved)
    values: dict[str, Any] = {}
    profile = (visit.customer.profile or {}) if visit.customer is not None else {}
    for form_field in visit.shop.forms[step.form].fields:
        key = form_field.profile_key
        if step.form_target == "sold_to_account" and key in profile:
            values[form_field.name] = profile[key]
        elif form_field.autocomplete == "email" and visit.email:
            values[form_field.name] = visit.email
        elif form_field.default is not None:
            values[form_field.name] = form_field.default
    return values


def draft_discount(visit: Visit) -> dict[str, str]:
    """The discount of the checkout's saved draft, for the quote step's field: a member
    who comes back to a draft finds it as they saved it."""
    if visit.cart.new:
        return {}
    draft = quotes.latest_for_checkout(visit.connection, visit.cart.checkout_id)
    if draft is None or draft.status != "draft" or draft.discount_percent in ("", "0"):
        return {}
    return {"discount": draft.discount_percent}


def shown_values(visit: Visit, step: StepBase | None, values: dict[str, Any]) -> dict[str, str]:
    """How the confirmation page shows answers stored as codes: a country by its name."""
    if not isinstance(step, ConfirmationStep):
        return {}
    names = dict(countries(visit.shop.site.locale))
    shown = {}
    for form_step in visit.journey.form_steps:
        for form_field in visit.shop.forms[form_step.form].fields:
            value = values.get(form_field.name)
            if form_field.type == "country" and value in names:
                shown[form_field.name] = names[value]
    return shown


def payment_json(visit: Visit) -> dict[str, Any] | None:
    chosen = visit.payment
    if not chosen or chosen.get("method") not in PROVIDERS:
        return None
    method = chosen["method"]
    label = (
        visit.shop.payment_methods[method].label if method in visit.shop.payment_methods else method
    )
    return {"method": method, "label": label, **PROVIDERS[method].public(chosen)}


@bp.get("/<key>/state")
def state(key: str) -> Response:
    visit = begin(key, changes_state=False)
    step_id = request.args.get("step", "")
    step = visit.step(step_id) if step_id else None
    entry = conditions.parse_entry(request.args.get("entry", ""))
    bind_subscription(visit, entry)
    keep_entry(visit, entry)
    return jsonify(state_of(visit, step))


def bind_subscription(visit: Visit, entry: dict[str, str]) -> None:
    """``?subscription=<id>``: the subscription journey acts on it from now on, if it is
    this visitor's own (anyone else's is not found, like a missing one). Another
    subscription than the one bound before starts the journey's answers afresh."""
    public_id = entry.get("subscription", "")
    if not visit.journey.about_subscription or not public_id or visit.handover is not None:
        return
    if subscriptions.owned(visit.connection, public_id, visit.owner) is None:
        raise NotFound(_(NO_SUBSCRIPTION))
    if visit.checkout is None or visit.checkout.subscription != public_id:
        checkouts.put(
            visit.connection,
            visit.cart.checkout_id,
            visit.journey.key,
            subscription=public_id,
            answers={},
            applied=None,
        )
        visit.cart.new = False  # its row exists now
        visit.forget_reads()


def keep_entry(visit: Visit, entry: dict[str, str]) -> None:
    """Keep the parameters the journey was entered with, for its conditions (``entry``)."""
    if (
        visit.handover is None  # a hand-over's customer does not steer the member's checkout
        and conditions.keeps_entry(visit.journey)
        and security.from_own_page(visit.app, request)
        and conditions.should_store_entry(visit, entry)
    ):
        checkouts.put(visit.connection, visit.cart.checkout_id, visit.journey.key, entry=entry)
        visit.cart.new = False  # its row exists now
        visit.forget_reads()


def state_of(visit: Visit, step: StepBase | None) -> dict[str, Any]:
    """Everything a page of ``step`` shows of this visitor (the contract in
    ``docs/pages-and-backend.md``); the errors kept for the page are handed out now.

    ``redirect`` is there when the customer belongs on another step's page.
    """
    handed = visit.handover
    if handed is not None and step is not None and step.id != handed.step_id:
        # A customer with a hand-over link is sent back to its step (below), and reads
        # nothing of this one: its answers and kept errors are the member's.
        return _handover_elsewhere(visit, visit.journey.step(handed.step_id))
    flash: dict[str, Any] = {}
    if visit.checkout is not None and visit.checkout.flash:
        with visit.writing(durable=False) as connection:
            flash = checkouts.take_flash(
                connection, visit.cart.checkout_id, step.id if step else None
            )
    values = values_for(visit, step)
    values.update(flash.get("values", {}))
    order = None
    if visit.cart.done:
        placed = orders.placed_for(visit.connection, visit.cart.done)
        order = {"number": placed.number} if placed else None
    customer = customer_json(visit)  # may notice an ended login and add a message
    body = {
        "csrf_token": security.csrf_token(visit.app, visit.cart),
        "journey": {"key": visit.journey.key, "version": visit.journey.version},
        "cart": visit.priced_cart.as_json(),
        "customer": customer,
        "values": values,
        "shown": shown_values(visit, step, values),
        "errors": flash.get("errors", {}),
        "messages": visit.messages + flash.get("messages", []),
        "payment": payment_json(visit),
        "order": order,
    }
    decide = conditions.of(visit)
    if visit.journey.about_subscription:
        # After a win-back order the checkout is a new one, bound to nothing: its done
        # page shows the order.
        ordered = isinstance(step, OrderDoneStep) and order is not None
        body["subscription"] = None if ordered else subscription_state(visit, step)
    elif not conditions.journey_open(visit):
        raise security.Forbidden(_(CLOSED))
    body["skipped"] = decide.skipped()
    target = None
    if step is not None and not decide.applies(step):
        target = navigation.instead_of(visit, step)
    elif isinstance(step, ConfirmationStep) and visit.journey.about_subscription:
        missing = navigation.gap(visit, step)
        if missing is not None:
            target = missing[0]
        elif (
            body["subscription"].get("change") is None
            and "changed_meanwhile" not in body["subscription"]
        ):
            # Nothing (more) to confirm: what was applied, or where to choose.
            target = navigation.after(visit, step) if visit.checkout.applied else None
    elif isinstance(step, ConfirmationStep) and order is not None and not visit.cart.lines:
        # The order of this cart is placed: confirming again has nothing to confirm.
        target = navigation.after(visit, step)
    elif isinstance(step, ConfirmationStep):
        # Nobody reaches confirmation with an earlier step undone (an empty cart, a
        # missing form): the page sends them to that step.
        missing = navigation.gap(visit, step)
        target = missing[0] if missing is not None else None
    if visit.staff is not None and step is not None and step.actor == "customer":
        body["handover"] = handover_views.staff_state(visit, step)
    if target is not None and target is not step:
        body["redirect"] = visit.page_url(target)
    elif step is not None:
        step_views.note(visit, step)  # the page is shown: a view, for the funnel report
    return body


def _handover_elsewhere(visit: Visit, handed: StepBase) -> dict[str, Any]:
    """The state of a page other than the handed step's, for the customer of a hand-over
    link: the way back to that step, and nothing of the checkout's other answers."""
    return {
        "csrf_token": security.csrf_token(visit.app, visit.cart),
        "journey": {"key": visit.journey.key, "version": visit.journey.version},
        "cart": visit.priced_cart.as_json(),
        "customer": customer_json(visit),
        "values": {},
        "shown": {},
        "errors": {},
        "messages": list(visit.messages),
        "payment": None,
        "order": None,
        "skipped": [],
        "redirect": visit.page_url(handed),
    }


def subscription_state(visit: Visit, step: StepBase | None) -> dict[str, Any]:
    """The subscription a subscription journey acts on, as its pages show it, with what
    the page of ``step`` offers or confirms (``changes``)."""
    row = visit.subscription
    if row is None:
        raise NotFound(_(NO_SUBSCRIPTION))
    # The journey's own condition lets customers in; the done page, after the change
    # that may have closed it, still shows what was done.
    if not isinstance(step, OrderDoneStep) and not conditions.journey_open(visit):
        raise security.Forbidden(_(CLOSED))
    shop, journey, locale, moment = visit.shop, visit.journey, visit.shop.site.locale, now()
    found = changes.view(row, shop)
    saved = visit.answers.get(step.id) or {} if step is not None else {}
    if isinstance(step, PlanChangeStep):
        choices = changes.plan_choices(shop, journey, step, row, moment)
        found["plans"] = [choice.as_json(row, locale) for choice in choices]
    elif isinstance(step, PauseStep):
        found["pauses"] = changes.pause_choices(step, row, locale)
    elif (
        isinstance(step, CancellationStep)
        and saved.get("offered")
        and changes.offer_applies(shop, saved["offered"], row)  # still in the catalog, still fits
    ):
        found["offer"] = {
            "reason": saved.get("reason", ""),
            "text": changes.offer_text(shop, step, saved["offered"], row),
        }
    elif isinstance(step, ConfirmationStep):
        wanted = changes.pending(
            shop, journey, visit.answers, row, moment, applies=conditions.of(visit).applies
        )
        found["change"] = changes.describe(wanted, row, shop, moment) if wanted else None
        if wanted is not None and wanted.version != row.version:
            # Chosen on an older version (another tab, support): nothing to confirm here.
            found["change"] = None
            found["changed_meanwhile"] = _(CHANGED)
    applied = visit.checkout.applied if visit.checkout is not None else None
    found["applied"] = {k: v for k, v in applied.items() if k != "token"} if applied else None
    return found
