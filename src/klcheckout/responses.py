"""Answers to the pages: a 303 to a static page for plain forms, JSON for the page script.

A plain form POST cannot carry errors across the redirect to a static page, so
errors, the values typed (never passwords) and messages are stored
under the checkout id and handed out once by the state endpoint.

The JSON answer carries the state of the page it sends the customer to, so that
page need not ask for it again: a checkout with the page script costs one request
per step instead of two (the page keeps the state for the next page in the tab's
``sessionStorage``; ``assets/app.js``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Response, jsonify, request
from werkzeug.exceptions import HTTPException

from kljourney.model import StepBase

from . import checkouts, security
from .visit import Visit

#: Typed values that are never kept for re-filling a form. (An IBAN is: it is kept in the
#: database like the chosen payment, and typing it again after a typo elsewhere is a chore.)
SECRET_FIELDS = frozenset({"password", "csrf_token", "confirm_token"})


def wants_json() -> bool:
    accept = request.headers.get("Accept", "")
    if "json" not in accept:
        return False  # the usual plain form POST: no need to parse the header
    if accept == "application/json":
        return True  # what the page script sends: no need to parse it either
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return (
        best == "application/json"
        and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]
    )


def respond(
    visit: Visit,
    target: StepBase,
    *,
    errors: dict[str, str] | None = None,
    values: Mapping[str, Any] | None = None,
    status: int = 422,
    location: str | None = None,
) -> Response:
    """Send the customer to ``target`` (a 303, or JSON), with errors kept for that page."""
    url = location or visit.page_url(target)
    if not wants_json():
        if errors or visit.messages:
            keep_for_page(visit, target, errors or {}, values or {})
        # No HTML body: browsers follow a 303 without showing it (and building one costs).
        return Response(status=303, headers={"Location": url})
    state = None
    if location is None and not visit.backend_pages and not visit.answer_without_state:
        state = next_state(visit, target, errors or {}, values or {})
    body = {
        "ok": not errors,
        "redirect": url,
        "errors": errors or {},
        "messages": visit.messages,
        # The state's token is this one: made once.
        "csrf_token": state["csrf_token"] if state else security.csrf_token(visit.app, visit.cart),
    }
    if state is not None:
        body["state"] = state
    elif location is None and (errors or visit.messages):
        # The page asks for its state itself, which hands these out as after a plain form.
        keep_for_page(visit, target, errors or {}, values or {})
    response = jsonify(body)
    response.status_code = status if errors else 200
    return response


def keep_for_page(
    visit: Visit, target: StepBase, errors: dict[str, str], values: Mapping[str, Any]
) -> None:
    """Keep the errors, typed values and messages for the next state request of ``target``'s
    page (a redirect cannot carry them to a static page)."""
    kept = {k: v for k, v in values.items() if k not in SECRET_FIELDS}
    with visit.writing(durable=False) as connection:
        row = checkouts.lock(connection, visit.cart.checkout_id, visit.journey.key)
        checkouts.add_flash(
            connection,
            row,
            step_id=target.id if errors else None,
            errors=errors,
            values=kept,
            messages=list(visit.messages),
        )
    visit.forget_reads()


def next_state(
    visit: Visit, target: StepBase, errors: dict[str, str], values: Mapping[str, Any]
) -> dict[str, Any] | None:
    """What the state endpoint would answer for ``target``'s page right now, with the
    errors and typed values of this answer; None when that page must ask itself (it is
    not open to this visitor: its own request says why)."""
    from .page_state import state_of  # page_state uses the steps, which use this module

    try:
        state = state_of(visit, target)
    except (security.Forbidden, HTTPException):
        return None
    state["errors"] = {**state["errors"], **errors}
    state["values"].update({k: v for k, v in values.items() if k not in SECRET_FIELDS})
    return state


def form_values() -> dict[str, str]:
    """The submitted fields, bounded, for re-filling the form after an error."""
    return {key: value[:2000] for key, value in list(request.form.items())[:100]}
