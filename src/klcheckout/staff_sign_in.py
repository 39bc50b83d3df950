"""``API/staff``: staff sign in with a password and a second factor, and sign out.

The staff page (``site/staff/``, built by ``klbuild``) fills itself in from
``GET API/staff/state`` and sends its forms here:

- ``POST API/staff/sign-in`` (``email``, ``password``): a session at the "password"
  stage. The answer is the same whether or not the email is a member's, and as slow.
- ``POST API/staff/enrol`` (``code``): a member without a second factor scans the QR
  code the state shows (or types the secret) and confirms with a code; the answer
  holds the recovery codes, shown this once, and the session is full.
- ``POST API/staff/code`` (``code`` or ``recovery_code``): the second factor; the
  session is full.
- ``POST API/staff/sign-out``.

The session's token travels in its own cookie (``kl_staff``; ``__Host-kl_staff`` in
production), HttpOnly and SameSite=Strict, never in the cart cookie: a customer's
sign-in never carries staff rights, and the staff rights of a request are read from
the database on every request (``member``), never from the page. Before any sign-in
the cookie holds a random value that binds the page's CSRF token, so a sign-in form
on another site cannot sign a browser in either. Wrong passwords and wrong codes are
rate limited per email and per client address (``ratelimit``). A plain form (without
the page script) is answered with a 303 back to the page with ``?notice=<code>``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from typing import Any

from flask import Blueprint, Flask, Response, current_app, g, jsonify, request
from sqlalchemy import Connection

from kljourney import Shop
from kljourney.i18n import N_
from kljourney.i18n import gettext as _
from kljourney.model import with_query
from kljourney.pages import Visitor

from . import db, language, quotes, ratelimit, security, staff, totp
from .clock import readable

bp = Blueprint("staff", __name__)

#: The cookie's value before a sign-in: not a session, only what the CSRF token binds.
ANONYMOUS = "anon."

#: What the staff page says (``?notice=<code>`` for a plain form; translated where used).
NOTICES = {
    "wrong": N_("The email or password is wrong."),
    "missing": N_("Enter your email address and password."),
    "wrong-code": N_(
        "That code is not right, or was used already. Enter the newest code your "
        "authenticator app shows (it changes every 30 seconds)."
    ),
    "wrong-recovery-code": N_(
        "That recovery code is not right, or was used already: each one signs in once. "
        "Type another of the codes you were given, or the code your authenticator app shows."
    ),
    "too-many": N_("Too many attempts. Please wait a few minutes and try again."),
    "signed-out": N_("You are signed out."),
    "signed-in": N_("You are signed in as staff."),
    "session-ended": N_(
        "Your staff session has ended (after a working day, or it was ended for you). "
        "Please sign in again."
    ),
}


def cookie_name(app: Flask) -> str:
    """``__Host-`` in production: the browser then insists on Secure, Path=/ and no Domain."""
    return "__Host-kl_staff" if app.config["KEYLIGHT_ENV"] == "production" else "kl_staff"


def sent_cookie() -> str:
    return request.cookies.get(cookie_name(current_app), "")


def has_session_cookie() -> bool:
    """Whether this request's staff cookie may hold a session (not empty, not the value
    a browser has before any sign-in): only then is the database asked."""
    value = sent_cookie()
    return bool(value) and not value.startswith(ANONYMOUS)


def member(connection: Connection) -> Any:
    """The member of staff signed in with both factors in this request's cookie, or None."""
    found = staff.session_member(connection, sent_cookie())
    return found if found is not None and found.stage == staff.FULL else None


def set_cookie(response: Response, value: str) -> None:
    app = current_app
    response.set_cookie(
        cookie_name(app),
        value,
        max_age=staff.SESSION_HOURS * 3600,
        path="/",
        secure=app.config["KEYLIGHT_ENV"] == "production",
        httponly=True,
        samesite="Strict",
    )


def csrf_token(value: str) -> str:
    key = current_app.config["SECRET_KEY"]
    key = key.encode() if isinstance(key, str) else key
    digest = hmac.new(key, f"keylight.staff-csrf|{value}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:24]).decode().rstrip("=")


def check_request() -> str:
    """Refuse a POST that is not from the shop's pages or whose token does not match this
    browser's staff cookie; the cookie's value."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    security.check_origin(app, request)
    value = sent_cookie()
    sent = request.form.get("csrf_token") or request.headers.get("X-CSRF-Token") or ""
    if not value or not sent or not hmac.compare_digest(sent, csrf_token(value)):
        raise security.Forbidden(
            _(
                "This form was refused because its security token does not match your "
                "browser's. Please reload the staff page and try again."
            )
        )
    return value


class StaffRequest:
    """One request's database connection, opened on first use and closed at its end."""

    def __init__(self) -> None:
        self._connection: Connection | None = None

    @property
    def connection(self) -> Connection:
        if self._connection is None:
            engine = current_app.extensions["keylight_db"]
            self._connection = db.reads_outside_transactions(engine.connect())
        return self._connection

    def close(self) -> None:
        if self._connection is not None:
            connection, self._connection = self._connection, None
            connection.close()


def _request() -> StaffRequest:
    found = g.get("keylight_staff")
    if found is None:
        found = g.keylight_staff = StaffRequest()
    return found


@bp.teardown_app_request
def _release(_error: BaseException | None) -> None:
    found = g.pop("keylight_staff", None)
    if found is not None:
        found.close()


# -- the state ----------------------------------------------------------------------------


def state_of(connection: Connection, value: str) -> dict[str, Any]:
    """What the staff page shows for this cookie (the contract of the page script)."""
    site = language.current_shop().site
    body: dict[str, Any] = {"csrf_token": csrf_token(value), "stage": "signed-out"}
    session = staff.session_member(connection, value)
    if session is None:
        return body
    body["email"] = session.email
    body["expires_at"] = readable(session.expires_at)
    if session.stage == staff.FULL:
        body.update(stage="signed-in", role=session.role, partner=session.partner or "")
        body["journeys"] = journeys_for(language.current_shop(), session.role)
        body["quotes"] = quotes.of_member(connection, session.id)
    elif staff.enrolled(session):
        body["stage"] = "code"
    else:
        with db.writing(connection) as writing:
            secret = staff.begin_enrolment(writing, session.id)
        uri = totp.provisioning_uri(secret, session.email, site.title)
        body["stage"] = "enrol"
        body["enrolment"] = {"qr_svg": totp.qr_svg(uri), "secret": totp.grouped(secret)}
    return body


def journeys_for(shop: Shop, role: str) -> list[dict[str, str]]:
    """The journeys for staff that ``role`` walks (an admin: all of them), by name, with
    the address of each one's first page: where a member starts from once signed in.
    Journeys only customers walk are left out, though an admin may walk them too."""
    found = []
    for journey in shop.journeys.values():
        if not journey.staff_walk or not journey.admits(role) or not journey.active_steps:
            continue
        first = journey.active_steps[0]
        found.append(
            {
                "key": journey.key,
                "name": journey.name,
                "url": shop.site.page_url(journey, first),
                "page_url": shop.site.backend_page_url(journey, first),
            }
        )
    return sorted(found, key=lambda entry: entry["name"].casefold())


def current_state() -> tuple[dict[str, Any], str | None]:
    """This browser's staff state, and the cookie to set when it needs a new one (none
    yet, or a session that ended, which the page then names once)."""
    value = sent_cookie()
    fresh = None
    if not value:
        value = fresh = ANONYMOUS + secrets.token_urlsafe(16)
    body = state_of(_request().connection, value)
    body["messages"] = []
    if body["stage"] == "signed-out" and not value.startswith(ANONYMOUS):
        body["messages"] = [_(NOTICES["session-ended"])]
        fresh = ANONYMOUS + secrets.token_urlsafe(16)
        body["csrf_token"] = csrf_token(fresh)
    return body, fresh


@bp.get("/staff/state")
def state() -> Response:
    body, fresh = current_state()
    response = jsonify(body)
    if fresh:
        set_cookie(response, fresh)
    return response


@bp.get("/staff/page")
def page() -> Response:
    """The staff page for a browser without JavaScript; ``?notice=`` names what happened."""
    body, fresh = current_state()
    notice = request.args.get("notice", "")
    if notice in NOTICES and not body["messages"]:
        body["messages"] = [_(NOTICES[notice])]
    response = _page(body)
    if fresh:
        set_cookie(response, fresh)
    return response


def _page(body: dict[str, Any], recovery_codes: list[str] | None = None) -> Response:
    shop = language.current_shop()
    visitor = Visitor(
        csrf_token=body["csrf_token"],
        cart={},
        messages=body.get("messages", []),
        values={"recovery_codes": recovery_codes} if recovery_codes else {},
        staff=body,
    )
    renderer = current_app.extensions["keylight"].renderer().in_language(shop.site.locale)
    response = Response(renderer.staff_page(visitor), mimetype="text/html")
    response.headers["Content-Security-Policy"] = security.page_csp(shop.site)
    response.headers["X-Robots-Tag"] = "noindex"
    return response


# -- the forms ----------------------------------------------------------------------------


def _answer(
    notice: str | None = None,
    *,
    status: int = 200,
    errors: dict[str, str] | None = None,
    cookie: str | None = None,
    extra: dict[str, Any] | None = None,
) -> Response:
    """JSON for the page script (the new state, any errors), else a 303 to the page."""
    from .responses import wants_json  # it imports the visit, which reads the staff cookie here

    value = cookie if cookie is not None else sent_cookie()
    if wants_json():
        body = state_of(_request().connection, value)
        body.update(extra or {})
        if errors:
            body.update(ok=False, errors=errors, error=next(iter(errors.values())))
        elif notice:
            body["messages"] = [_(NOTICES[notice])]
        response = jsonify(body)
        response.status_code = status
    elif extra and extra.get("recovery_codes"):
        # Shown this once: on the page itself, not behind a redirect that would lose them.
        body = state_of(_request().connection, value)
        body["messages"] = [_(NOTICES[notice])] if notice else []
        response = _page(body, extra["recovery_codes"])
    else:
        # A plain form: back to the page the backend renders (the static page needs its
        # script), which says what happened.
        site = language.current_shop().site
        target = with_query(site.staff_api + "/page", site.language_query)
        target = with_query(target, f"notice={notice}") if notice else target
        response = Response(status=303, headers={"Location": target})
    if cookie is not None:
        set_cookie(response, cookie)
    return response


@bp.post("/staff/sign-in")
def sign_in() -> Response:
    value = check_request()
    email = request.form.get("email", "").strip()
    password = request.form.get("password", "")
    if not email or not password:
        return _answer("missing", status=422, errors={"_form": _(NOTICES["missing"])})
    wait = ratelimit.blocked(email, ratelimit.STAFF_PASSWORD)
    if wait:
        return _answer("too-many", status=429, errors={"_form": ratelimit.too_many_attempts(wait)})
    connection = _request().connection
    params = current_app.config["KEYLIGHT_ARGON2"]
    found = None
    if len(password) <= 1024:  # argon2 outside the write transaction
        found = staff.check_password(connection, email, password, params)
    if found is None:
        ratelimit.failed(email, ratelimit.STAFF_PASSWORD)
        return _answer("wrong", status=401, errors={"_form": _(NOTICES["wrong"])})
    with db.writing(connection) as writing:
        if value and not value.startswith(ANONYMOUS):
            staff.end_session(writing, value)  # a sign-in over another ends that one
        token = staff.start_session(writing, found.id, request.user_agent.string)
    return _answer(cookie=token)


def _password_session(connection: Connection, value: str) -> Any:
    """The session that signed in with its password and awaits its second factor."""
    session = staff.session_member(connection, value)
    if session is None or session.stage != staff.PASSWORD:
        raise security.Forbidden(_(NOTICES["session-ended"]))
    return session


def _refused_code(email: str, *, recovery: bool = False) -> Response:
    """A wrong code (or recovery code), counted against the member's attempts."""
    ratelimit.failed(email, ratelimit.STAFF_CODE)
    notice = "wrong-recovery-code" if recovery else "wrong-code"
    return _answer(notice, status=401, errors={"code": _(NOTICES[notice])})


def _blocked(email: str) -> Response | None:
    wait = ratelimit.blocked(email, ratelimit.STAFF_CODE)
    if not wait:
        return None
    return _answer("too-many", status=429, errors={"code": ratelimit.too_many_attempts(wait)})


@bp.post("/staff/enrol")
def enrol() -> Response:
    value = check_request()
    connection = _request().connection
    session = _password_session(connection, value)
    blocked = _blocked(session.email)
    if blocked is not None:
        return blocked
    with db.writing(connection) as writing:
        codes = staff.confirm_enrolment(writing, session.id, request.form.get("code", ""))
        token = staff.promote(writing, value) if codes is not None else None
    if codes is None or token is None:
        return _refused_code(session.email)
    return _answer("signed-in", cookie=token, extra={"recovery_codes": codes})


@bp.post("/staff/code")
def code() -> Response:
    value = check_request()
    connection = _request().connection
    session = _password_session(connection, value)
    if not staff.enrolled(session):
        raise security.Forbidden(_(NOTICES["session-ended"]))
    blocked = _blocked(session.email)
    if blocked is not None:
        return blocked
    typed = request.form.get("code", "").strip()
    recovery = request.form.get("recovery_code", "").strip()
    with db.writing(connection) as writing:
        if recovery:
            accepted = staff.use_recovery_code(writing, session.id, recovery)
        else:
            accepted = staff.accept_code(writing, session.id, session.totp_secret, typed)
        token = staff.promote(writing, value) if accepted else None
    if token is None:
        return _refused_code(session.email, recovery=bool(recovery))
    return _answer("signed-in", cookie=token)


@bp.post("/staff/sign-out")
def sign_out() -> Response:
    value = check_request()
    if not value.startswith(ANONYMOUS):
        with db.writing(_request().connection) as writing:
            staff.end_session(writing, value)
    return _answer("signed-out", cookie=ANONYMOUS + secrets.token_urlsafe(16))
