"""The customer's quote page: its state, and accepting or declining the quote.

``GET API/quote/<token>`` is the state the static page (``site/quote/#<token>``) is
filled in from; ``GET API/quote/<token>/page`` renders the same template on the
backend for a browser without JavaScript. ``POST .../accept`` (the customer's name
and a tick) places the order once; ``POST .../decline`` takes a reason. The token
alone grants all of it (it is the customer's, from their email): only its SHA-256
is kept, and the page sends no referrer. A version no longer open (accepted,
declined, expired, superseded, withdrawn) gets a page that says so, never a 500.
"""

from __future__ import annotations

import secrets
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request
from sqlalchemy import Connection
from werkzeug.exceptions import NotFound

from kljourney import Shop
from kljourney.i18n import N_
from kljourney.i18n import gettext as _
from kljourney.model import with_query
from kljourney.pages import Visitor

from . import db, language, quotes, security, staff_sign_in
from .clock import readable
from .responses import wants_json

bp = Blueprint("quote_views", __name__)

#: Translated where used.
UNKNOWN = N_(
    "This quote link is not known: it may have been mistyped, or replaced by a newer email. "
    "Open the link in the latest email about your quote."
)
ACCEPTED = N_("Thank you: you accepted the quote. Your order number is %(order)s.")
DECLINED = N_("You declined the quote. Thank you for telling us why.")
NOTICES = {"accepted": ACCEPTED, "declined": DECLINED}


def _engine() -> Any:
    return current_app.extensions["keylight_db"]


def _found(connection: Connection, token: str) -> Any:
    row = quotes.find(connection, token)
    if row is None or row.status == "draft":  # a draft's token was never given to anyone
        raise NotFound(_(UNKNOWN))
    return row


def state_of(connection: Connection, row: Any, shop: Shop) -> dict[str, Any]:
    """What the quote page shows of a version (the contract of the page script)."""
    state = quotes.status(row)
    seller = row.seller or {}
    identity = ", ".join(part for part in (seller.get("name"), seller.get("address")) if part)
    if seller.get("vat_id"):
        identity += " (" + _("VAT ID %(vat_id)s") % {"vat_id": seller["vat_id"]} + ")"
    member = quotes.member_of(connection, row.staff_id)
    body: dict[str, Any] = {
        "number": row.number,
        "version": row.version,
        "status": state,
        "open": state == "sent",
        "message": "" if state == "sent" else quotes.closed_message(connection, row),
        "valid_until": readable(row.valid_until),
        "sent_at": readable(row.sent_at) if row.sent_at else None,
        "customer": row.email,
        "sent_by": member.email if member is not None else shop.site.title,
        "seller": seller,
        "seller_identity": identity,
        "terms_url": seller.get("terms_url") or "",
        "discount_percent": row.discount_percent,
        "lines": row.shown["lines"],
        "totals": row.shown["totals"],
        "total_rows": total_rows(row),
        "order_number": row.order_number,
    }
    if state == "superseded":
        body["newer"] = _newer(connection, row, shop)
    return body


def _newer(connection: Connection, row: Any, shop: Shop) -> dict[str, Any]:
    """The newest version of a superseded one, with the links to its page while it is
    open (the static page's and the backend's): the customer who holds the older link
    may read the newer one."""
    newer = quotes.newest(connection, row.number)
    found: dict[str, Any] = {
        "version": newer.version,
        "sent_at": readable(newer.sent_at) if newer.sent_at else None,
        "url": None,
        "page_url": None,
    }
    token = quotes.token_of(quotes.secret_keys(current_app.config), newer)
    if token is not None and quotes.status(newer) == "sent":
        site = shop.site
        found["url"] = with_query(site.quote_url, site.language_query) + "#" + token
        page = f"{request.script_root}/quote/{token}/page"
        found["page_url"] = with_query(page, site.language_query)
    return found


def total_rows(row: Any) -> list[tuple[str, str]]:
    """The totals as the page lists them, in the quote's language as frozen: each billing
    period's total that has lines, with the tax it includes. The discount's sum only
    when every line is paid alike (each line shows its own): a sum of a one-time and a
    monthly amount is nobody's price."""
    shown_totals = row.shown["totals"]
    billings = {line["billing"] for line in row.lines}
    rows = []
    if shown_totals.get("discount") and len(billings) == 1:
        label = _("Discount (%(percent)s %%)") % {"percent": row.discount_percent}
        rows.append((label, shown_totals["discount"]))
    labels = {"one_time": _("Due once"), "monthly": _("Monthly"), "yearly": _("Yearly")}
    for billing, label in labels.items():
        if billing not in billings:
            continue
        rows.append((label, shown_totals[f"{billing}_gross"]))
        tax = shown_totals.get(f"{billing}_tax")
        if tax:
            rows.append((_("Tax included"), tax))
    return rows


def _record_view(connection: Connection, row: Any) -> None:
    """The customer's first look is recorded; a member of staff checking the link is not
    the customer."""
    if row.viewed_at is not None or quotes.status(row) != "sent":
        return
    if staff_sign_in.has_session_cookie() and staff_sign_in.member(connection) is not None:
        return
    with db.writing(connection) as writing:
        quotes.viewed(writing, row)


@bp.get("/quote/<token>")
def state(token: str) -> Response:
    shop = language.current_shop()
    with _engine().connect() as connection:
        row = _found(connection, token)
        _record_view(connection, row)
        body = state_of(connection, row, shop)
    response = jsonify(body)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/quote/<token>/page")
def page(token: str) -> Response:
    """The quote page for a browser without JavaScript; ``?notice=`` says what happened."""
    shop = language.current_shop()
    with _engine().connect() as connection:
        row = _found(connection, token)
        _record_view(connection, row)
        body = state_of(connection, row, shop)
    notice = request.args.get("notice", "")
    messages = [_(NOTICES[notice]) % {"order": row.order_number or ""}] if notice in NOTICES else []
    return _page(shop, token, body, messages=messages)


def _page(
    shop: Shop,
    token: str,
    body: dict[str, Any],
    *,
    messages: list[str] | None = None,
    errors_: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    visitor = Visitor(
        csrf_token=secrets.token_hex(8),  # the token in the address is what authorises
        cart={},
        messages=messages or [],
        errors=errors_ or {},
        quote=body,
    )
    renderer = current_app.extensions["keylight"].renderer().in_language(shop.site.locale)
    html = renderer.quote_page(visitor, token)
    response = Response(html, status=status, mimetype="text/html")
    response.headers["Content-Security-Policy"] = security.page_csp(shop.site)
    response.headers["X-Robots-Tag"] = "noindex"
    response.headers["Cache-Control"] = "no-store"
    return response


def _answer(
    connection: Connection,
    token: str,
    *,
    notice: str | None = None,
    refusals: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    """JSON for the page script (the new state, any errors), else the backend's page: a
    303 to it after a change, the page itself with the errors of a refused form."""
    shop = language.current_shop()
    row = _found(connection, token)
    body = state_of(connection, row, shop)
    messages = [_(NOTICES[notice]) % {"order": row.order_number or ""}] if notice else []
    if wants_json():
        body["messages"] = messages
        if refusals:
            body.update(ok=False, errors=refusals, error=next(iter(refusals.values())))
        response = jsonify(body)
        response.status_code = status
        return response
    if refusals:
        return _page(shop, token, body, errors_=refusals, status=status)
    # This backend's own address of the page (where it is mounted: the script root).
    target = with_query(f"{request.script_root}/quote/{token}/page", shop.site.language_query)
    target = with_query(target, f"notice={notice}") if notice else target
    return Response(status=303, headers={"Location": target})


def _origin_checked() -> None:
    """A form from another site is refused like every other form of the shop's."""
    security.check_origin(current_app, request)  # type: ignore[arg-type]


@bp.post("/quote/<token>/accept")
def accept(token: str) -> Response:
    _origin_checked()
    shop = language.current_shop()
    name = request.form.get("name", "")
    refusals = {}
    if not " ".join(name.split()):
        refusals["name"] = _(quotes.TYPE_NAME)
    if request.form.get("accept_terms") != "on":
        refusals["accept_terms"] = _(quotes.TICK_TERMS)
    with _engine().connect() as connection:
        row = _found(connection, token)
        if refusals and quotes.status(row) == "sent":
            return _answer(connection, token, refusals=refusals, status=422)
        try:
            with db.writing(connection) as writing:
                quotes.accept(
                    writing, row, name=name, shop=shop, journey=shop.journeys.get(row.journey_key)
                )
        except quotes.QuoteRefused as refusal:
            return _answer(connection, token, refusals={"_form": refusal.message}, status=409)
        return _answer(connection, token, notice="accepted")


@bp.post("/quote/<token>/decline")
def decline(token: str) -> Response:
    _origin_checked()
    shop = language.current_shop()
    reason = request.form.get("reason", "")
    with _engine().connect() as connection:
        row = _found(connection, token)
        if not reason.strip() and quotes.status(row) == "sent":
            return _answer(
                connection, token, refusals={"reason": _(quotes.GIVE_REASON)}, status=422
            )
        try:
            with db.writing(connection) as writing:
                quotes.decline(
                    writing, row, reason=reason, journey=shop.journeys.get(row.journey_key)
                )
        except quotes.QuoteRefused as refusal:
            return _answer(connection, token, refusals={"_form": refusal.message}, status=409)
        return _answer(connection, token, notice="declined")
