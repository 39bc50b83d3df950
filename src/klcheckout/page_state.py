"""``GET API/KEY/state``: everything the static pages fill in for one visitor.

The shapes are the contract in ``docs/pages-and-backend.md``. Reading the state
changes nothing except handing out, once, the errors and messages kept for the
page after a plain form POST.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from kljourney.countries import countries
from kljourney.model import AuthenticationStep, ConfirmationStep, FormStep, StepBase

from . import checkouts, conditions, navigation, orders, security
from .answers import merged
from .payment import PROVIDERS
from .visit import Visit, begin

bp = Blueprint("state", __name__)


def customer_json(visit: Visit) -> dict[str, Any] | None:
    if visit.customer is not None:
        return {"email": visit.customer.email, "signed_in": True, "guest": False}
    if visit.guest_email:
        return {"email": visit.guest_email, "signed_in": False, "guest": True}
    return None


def values_for(visit: Visit, step: StepBase | None) -> dict[str, Any]:
    """Saved answers of the step, else auto-fill from the signed-in customer's own profile."""
    if isinstance(step, AuthenticationStep):
        return {"email": visit.email} if visit.email else {}
    if isinstance(step, ConfirmationStep):
        # The confirmation page shows the saved answers of the form steps that apply.
        return merged(visit.journey, visit.answers, only=conditions.of(visit).applies)
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
    keep_entry(visit, conditions.parse_entry(request.args.get("entry", "")))
    return jsonify(state_of(visit, step))


def keep_entry(visit: Visit, entry: dict[str, str]) -> None:
    """Keep the parameters the journey was entered with, for its conditions (``entry``)."""
    if (
        conditions.keeps_entry(visit.journey)
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
    body["skipped"] = decide.skipped()
    target = None
    if step is not None and not decide.applies(step):
        target = navigation.instead_of(visit, step)
    elif isinstance(step, ConfirmationStep) and order is not None and not visit.cart.lines:
        # The order of this cart is placed: confirming again has nothing to confirm.
        target = navigation.after(visit, step)
    elif isinstance(step, ConfirmationStep):
        # Nobody reaches confirmation with an earlier step undone (an empty cart, a
        # missing form): the page sends them to that step.
        missing = navigation.gap(visit, step)
        target = missing[0] if missing is not None else None
    if target is not None and target is not step:
        body["redirect"] = visit.page_url(target)
    return body
