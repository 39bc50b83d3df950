"""The customer's account page: ``API/account`` and what its forms send.

The page itself is static (``site/account/``, built by ``klbuild``) and fills
itself in from ``GET API/account``: the customer's subscriptions, each with what
can be done about it now (links into the journeys named in ``[account]``, and
the few changes that need no journey: undo a cancellation, resume a pause early,
keep the current plan instead of a scheduled change), and their orders. Without
JavaScript, ``GET API/account/page`` renders the same template with the same data.

Someone who is not signed in signs in here, or, having bought as a guest, asks
for a one-time sign-in link (``sign_in``). A plain form is answered with a 303 to
the page with ``?notice=<code>``: the message is looked up here, so nothing the
visitor typed travels in an address.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property
from typing import Any

from flask import Blueprint, Flask, Response, abort, current_app, g, jsonify, request
from sqlalchemy import Connection, select

from kljourney import Shop
from kljourney.expressions import Record
from kljourney.i18n import N_
from kljourney.i18n import gettext as _
from kljourney.model import Journey, with_query
from kljourney.pages import Visitor

from . import (
    accounts,
    changes,
    conditions,
    customer_mail,
    db,
    forms,
    language,
    orders,
    ratelimit,
    security,
    sign_in,
    subscriptions,
)
from . import cart as carts
from .cart import Cart
from .clock import now
from .pricing import format_money, format_price
from .responses import wants_json
from .tables import subscriptions as subscriptions_table

bp = Blueprint("account_page", __name__)

#: What ``?notice=<code>`` says on the page (translated where used, ``notice_text``).
NOTICES = {
    "signed-in": N_("You are signed in."),
    "signed-out": N_("You are signed out."),
    "wrong": N_("The email or password is wrong."),
    "missing": N_("Enter your email address and password."),
    "link-sent": N_(
        "If a subscription was bought as a guest with this email, a sign-in link is on its "
        "way to it. The link works once, for 15 minutes."
    ),
    "link-email": N_("Enter the email address you ordered with, such as name@example.com."),
    "link-invalid": N_(
        "This sign-in link has expired or was used already. Ask for a new one below."
    ),
    "invitation-invalid": N_(
        "This invitation has expired or was used already. Sign in below, or ask the person "
        "who invited you to order again: a new customer gets a new invitation."
    ),
    "password-set": N_("Your password is set, and you are signed in."),
    "too-many": N_("Too many attempts. Please wait a few minutes and try again."),
    "reactivated": N_("The cancellation is undone: your subscription goes on."),
    "resumed": N_("Your subscription is running again."),
    "change_unscheduled": N_("You keep your current plan."),
    "refused": N_("That could not be done; here is your subscription as it is now."),
    "sign-in": N_("Sign in to see your subscriptions."),
    "no-script": N_(
        "Your browser did not run the page script, so nothing was changed. "
        "This page works without it: please try again."
    ),
}


def notice_text(notice: str) -> str:
    """What the notice ``notice`` says, in the language of this request."""
    return _(NOTICES[notice])


#: The changes the account page makes itself: (form action, what it does).
ACTIONS = {
    "reactivate": subscriptions.reactivate,
    "resume": subscriptions.resume,
    "keep-plan": subscriptions.unschedule_change,
}


@dataclass
class AccountVisit:
    """One request to the account page: the cookie's login and the one connection."""

    app: Flask
    shop: Shop
    cart: Cart
    _connection: Connection | None = None

    @property
    def connection(self) -> Connection:
        if self._connection is None:
            engine = self.app.extensions["keylight_db"]
            self._connection = db.reads_outside_transactions(engine.connect())
        return self._connection

    def close(self) -> None:
        if self._connection is not None:
            connection, self._connection = self._connection, None
            connection.close()

    @cached_property
    def owner(self) -> subscriptions.Owner | None:
        token = self.cart.session
        if not token:
            return None
        if sign_in.is_email_session(token):
            email = sign_in.session_email(self.connection, token)
            found = subscriptions.Owner(None, email) if email else None
        else:
            row = accounts.session_customer(self.connection, token)
            found = subscriptions.Owner(row.id, row.email) if row is not None else None
        if found is None:
            self.cart.session = ""
            self.cart.dirty = True
        return found

    def set_cookie(self, response: Response) -> None:
        carts.set_cookie(self.app, self.cart, response)

    @property
    def csrf_token(self) -> str:
        return security.csrf_token(self.app, self.cart)


def begin_account(*, changes_state: bool) -> AccountVisit:
    """Read the cookie (whichever journey it was made for); for a POST, refuse it unless
    it comes from the shop's own page with the token that page was given."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    shop = language.current_shop()
    if changes_state:
        security.check_origin(app, request)
        if not security.sent_token(request) and not wants_json():
            # A plain form of the static page, whose script did not run: nothing changes,
            # and the page the backend renders, which works without script, says so.
            abort(Response(status=303, headers={"Location": page_url(shop, "no-script", True)}))
    raw = request.cookies.get(carts.cookie_name(app))
    cart = carts.decode_any(app, raw)
    if cart is None:
        cart = Cart(journey="", version="", dirty=True, new=True)
    visit = AccountVisit(app, shop, cart)
    g.keylight_visit = visit
    if changes_state:
        if raw is None:
            raise security.Forbidden(
                _(
                    "Your browser did not send the shop's cookie. "
                    "Please allow cookies for this site, reload the page and try again."
                )
            )
        security.check_csrf(app, request, cart)
    return visit


def page_url(shop: Shop, notice: str | None = None, backend: bool = False) -> str:
    site = shop.site
    if backend:
        url = with_query(site.account_api + "/page", site.language_query)
    else:
        url = site.account_url
    return with_query(url, f"notice={notice}" if notice else "")


def answer(visit: AccountVisit, notice: str, status: int = 200) -> Response:
    """JSON for the page script; a 303 back to the page for a plain form."""
    if wants_json():
        ok = status < 400
        body = {
            "ok": ok,
            "messages": [notice_text(notice)] if ok else [],
            "errors": {} if ok else {"_form": notice_text(notice)},
            "csrf_token": visit.csrf_token,
        }
        response = jsonify(body)
        response.status_code = status
        return response
    backend = request.args.get("page") == "backend"
    return Response(status=303, headers={"Location": page_url(visit.shop, notice, backend)})


# -- what the page shows -------------------------------------------------------------------


@bp.get("/account")
def state() -> Response:
    visit = begin_account(changes_state=False)
    return jsonify(account_state(visit, backend=False))


@bp.get("/account/page")
def page() -> Response:
    """The account page for a browser without JavaScript."""
    visit = begin_account(changes_state=False)
    return render_page(visit, account_state(visit, backend=True))


def render_page(visit: AccountVisit, found: dict[str, Any]) -> Response:
    """The account page rendered here, with ``found`` (the state) filled in."""
    visitor = Visitor(
        csrf_token=found["csrf_token"],
        cart={},
        customer=found["customer"],
        messages=found["messages"],
        account=found,
    )
    html = (
        visit.app.extensions["keylight"]
        .renderer()
        .in_language(visit.shop.site.locale)
        .account_page(visitor)
    )
    response = Response(html, mimetype="text/html")
    response.headers["Content-Security-Policy"] = security.page_csp(visit.shop.site)
    response.headers["X-Robots-Tag"] = "noindex"
    return response


def account_state(visit: AccountVisit, *, backend: bool) -> dict[str, Any]:
    notice = request.args.get("notice", "")
    messages = [notice_text(notice)] if notice in NOTICES else []
    owner = visit.owner
    found: dict[str, Any] = {
        "csrf_token": visit.csrf_token,
        "customer": None,
        "subscriptions": [],
        "orders": [],
        "messages": messages,
        "api": visit.shop.site.account_api,
    }
    if owner is None:
        return found
    found["customer"] = {
        "email": owner.email,
        "signed_in": owner.customer_id is not None,
        "by_link": owner.customer_id is None,
    }
    moment = now()
    rows = subscriptions.of_owner(visit.connection, owner)
    found["subscriptions"] = [
        {**changes.view(row, visit.shop), "actions": actions(visit, row, moment, backend)}
        for row in rows
    ]
    found["orders"] = [
        _order_view(visit.shop, order) for order in orders.of_owner(visit.connection, owner)
    ]
    return found


def _order_view(shop: Shop, order: dict[str, Any]) -> dict[str, Any]:
    return {
        "number": order["number"],
        "date": changes.day(order["created_at"], shop.site.locale),
        "total": _total(order, shop.site.locale),
        "lines": [line["name"] for line in order["lines"]],
    }


def _total(order: dict[str, Any], locale: str) -> str:
    """What an order costs by when it is paid: '€249.00 once + €9.90 / month'. One sum of
    a one-time and a recurring price is no price anybody pays."""
    totals, currency = order["totals"], order["currency"]
    parts = []
    once = Decimal(totals.get("one_time", {}).get("gross", "0"))
    if once:
        parts.append(_("%(amount)s once") % {"amount": format_money(once, currency, locale)})
    for billing in ("monthly", "yearly"):
        amount = Decimal(totals.get("recurring", {}).get(billing, {}).get("gross", "0"))
        if amount:
            parts.append(format_price(amount, currency, locale, billing))
    gross = Decimal(totals.get("gross", "0"))
    return " + ".join(parts) or format_money(gross, currency, locale)


#: The statuses each journey of the account page is offered for.
OFFERED_FOR = {
    "change": ("active",),
    "pause": ("active",),
    "winback": ("cancelled",),
    "cancel": ("active", "paused"),
}
#: The label of each journey's link on the account page (translated where used).
LABELS = {
    # TRANSLATORS: links on the account page, each opening a journey about one subscription.
    "change": N_("Change plan"),
    "pause": N_("Pause"),
    "cancel": N_("Cancel"),
    "winback": N_("Come back"),
}


def actions(visit: AccountVisit, row: Any, moment: Any, backend: bool) -> list[dict[str, str]]:
    """What the customer can do about this subscription now, in the order shown."""
    shop = visit.shop
    found: list[dict[str, str]] = []
    api = f"{shop.site.account_api}/subscriptions/{row.public_id}"
    suffix = with_query("?page=backend" if backend else "", shop.site.language_query)
    if row.status == "cancelling":
        found.append(_post(_("Undo the cancellation"), f"{api}/reactivate{suffix}"))
    if row.status == "paused":
        found.append(_post(_("Resume now"), f"{api}/resume{suffix}"))
    if row.scheduled_change:
        found.append(_post(_("Keep my current plan"), f"{api}/keep-plan{suffix}"))
    for action in OFFERED_FOR:  # leaving comes last
        journey = shop.journeys.get(shop.account.get(action, ""))
        if journey is None or row.status not in OFFERED_FOR[action] or not journey.active_steps:
            continue
        if action == "winback" and row.won_back_by:  # ordered again already
            continue
        if not _journey_open(journey, row, moment, visit.owner):
            continue
        first = journey.active_steps[0]
        site = shop.site
        url = site.backend_page_url(journey, first) if backend else site.page_url(journey, first)
        found.append(
            {
                "kind": "link",
                "label": _(LABELS[action]),
                "url": with_query(url, f"subscription={row.public_id}"),
            }
        )
    return found


def _post(label: str, url: str) -> dict[str, str]:
    return {"kind": "post", "label": label, "url": url}


def _journey_open(
    journey: Journey, row: Any, moment: Any, owner: subscriptions.Owner | None
) -> bool:
    """The journey's own ``when``, read with this subscription and who the customer is
    (the account page knows nothing of a cart or answers yet)."""
    if not journey.when:
        return True
    signed_in = owner is not None and owner.customer_id is not None
    customer = {
        "signed_in": signed_in,
        "guest": owner is not None and not signed_in,
        "email": owner.email if owner is not None else "",
        "segment": "",
        "answers": Record({}),
    }
    context = {
        "cart": Record({}),
        "customer": Record(customer),
        "answers": Record({}),
        "journey": Record(journey.summary),
        "entry": Record({}),
        "subscription": Record(subscriptions.condition_values(row, moment)),
    }
    return conditions.expression(journey.when).test(context)


# -- what its forms send ----------------------------------------------------------------------


@bp.post("/account/login")
def login() -> Response:
    """Sign in with the account's password (limited like the journeys' login)."""
    visit = begin_account(changes_state=True)
    email = request.form.get("email", "").strip()
    password = request.form.get("password", "")
    if not forms.valid_email(email) or not password or len(password) > accounts.MAX_PASSWORD:
        return answer(visit, "missing" if not password else "wrong", 422)
    if ratelimit.blocked(email):
        return answer(visit, "too-many", 429)
    params = visit.app.config["KEYLIGHT_ARGON2"]
    customer_id, new_hash = accounts.check_password(visit.connection, email, password, params)
    if customer_id is None:
        ratelimit.failed(email)
        return answer(visit, "wrong", 401)
    with db.writing(visit.connection) as connection:
        if new_hash is not None:
            accounts.set_password_hash(connection, customer_id, new_hash)
        if visit.cart.session:
            sign_in.end_any_session(connection, visit.cart.session)
        visit.cart.session = accounts.start_session(
            connection, customer_id, visit.app.config["KEYLIGHT_SESSION_MAX_AGE"]
        )
    visit.cart.dirty = True
    return answer(visit, "signed-in")


@bp.post("/account/logout")
def logout() -> Response:
    visit = begin_account(changes_state=True)
    if visit.cart.session:
        with db.writing(visit.connection) as connection:
            sign_in.end_any_session(connection, visit.cart.session)
    visit.cart.session = ""
    visit.cart.checkout_id = carts.new_id()
    visit.cart.dirty = True
    return answer(visit, "signed-out")


@bp.post("/account/link")
def ask_for_link() -> Response:
    """A one-time sign-in link by email, for a guest's subscriptions. The answer is the
    same whether or not the email has any: it must not tell who bought here."""
    visit = begin_account(changes_state=True)
    email = accounts.normal_email(request.form.get("email", ""))
    if not forms.valid_email(email):
        return answer(visit, "link-email", 422)
    if ratelimit.blocked(email):
        return answer(visit, "too-many", 429)
    ratelimit.failed(email)  # every link sent counts: nobody fills an inbox with them
    if _has_guest_subscription(visit.connection, email):
        with db.writing(visit.connection) as connection:
            token = sign_in.new_link(connection, email)
            link = link_url(visit.shop.site, token)
            customer_mail.queue(
                connection,
                to=email,
                template="sign_in_link",
                subject=_("Your sign-in link for %(shop)s") % {"shop": visit.shop.site.title},
                data={"link": link, "minutes": 15, "shop": visit.shop.site.title},
            )
    return answer(visit, "link-sent")


def _has_guest_subscription(connection: Connection, email: str) -> bool:
    query = select(subscriptions_table.c.id).where(
        subscriptions_table.c.customer_id.is_(None), subscriptions_table.c.email == email
    )
    return connection.execute(query.limit(1)).first() is not None


@bp.get("/account/link/<token>")
def link_page(token: str) -> Response:
    """The emailed link opens a page that asks to sign in: the link is spent by that form,
    never by a GET, which mail scanners and link previews send on their own."""
    visit = begin_account(changes_state=False)
    found = account_state(visit, backend=True)
    site = visit.shop.site
    found["link"] = with_query(f"{site.account_api}/link/{token[:100]}", site.language_query)
    return render_page(visit, found)


@bp.post("/account/link/<token>")
def use_link(token: str) -> Response:
    """Spend the link: it signs the guest in to the subscriptions bought with its email."""
    visit = begin_account(changes_state=True)
    with db.writing(visit.connection) as connection:
        email = sign_in.use_link(connection, token)
        if email is not None:
            if visit.cart.session:
                sign_in.end_any_session(connection, visit.cart.session)
            visit.cart.session = sign_in.start_email_session(
                connection, email, visit.app.config["KEYLIGHT_SESSION_MAX_AGE"]
            )
            visit.cart.dirty = True
    notice = "signed-in" if email is not None else "link-invalid"
    return Response(status=303, headers={"Location": page_url(visit.shop, notice)})


def link_url(site: Any, token: str) -> str:
    """The address of a sign-in link, from the shop's own URLs (``security.backend_address``)."""
    return security.backend_address(site, f"/account/link/{token}")


@bp.post("/account/subscriptions/<public_id>/<action>")
def change(public_id: str, action: str) -> Response:
    """Undo a cancellation, resume a pause early, keep the plan instead of a scheduled change."""
    visit = begin_account(changes_state=True)
    make = ACTIONS.get(action)
    row = subscriptions.owned(visit.connection, public_id[:64], visit.owner)
    if make is None or row is None:
        if visit.owner is None:
            return answer(visit, "sign-in", 401)
        return answer(visit, "refused", 404)
    moment = now()
    try:
        with db.writing(visit.connection) as connection:
            done, after = make(connection, row, actor="customer", reason="", moment=moment)
            extra = subscriptions.billed(row, after)  # resumed into a new period: charged
            subscriptions.announce(connection, visit.shop, row, done, after, extra)
            changes.notify(connection, None, row, done, after, visit.shop)
    except subscriptions.Refused:
        return answer(visit, "refused", 409)
    return answer(visit, done)
