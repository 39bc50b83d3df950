"""Login, sign-up, guest checkout, logout and password change.

Login and sign-up answer identically whether or not the email is registered:
a sign-up for a taken email gets the same redirect as a successful one, but no
login; the next step then asks the customer to sign in. Failed logins are
limited per account and per client address (``ratelimit``).
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, request

from kljourney.model import AuthenticationStep, StepBase

from .. import accounts, forms, hooks, progress, ratelimit, web
from .. import cart as carts
from ..visit import Visit, begin
from . import find_step, handles, save_scratch

bp = Blueprint("auth", __name__)

WRONG = "The email or password is wrong."
CHANGED = "Your password was changed; every other device you were signed in on is signed out."


def _params() -> dict[str, int]:
    return current_app.config["KEYLIGHT_ARGON2"]


def _sign_in(visit: Visit, customer_id: int, connection) -> None:  # type: ignore[no-untyped-def]
    """A new session id on every login and sign-up; the old one, if any, ends."""
    if visit.cart.session:
        accounts.end_session(connection, visit.cart.session)
    visit.cart.session = accounts.start_session(
        connection, customer_id, current_app.config["KEYLIGHT_SESSION_MAX_AGE"]
    )
    visit.cart.dirty = True


def _account_event(  # type: ignore[no-untyped-def]
    visit: Visit, step: StepBase, connection, event: str, customer_id: int, email: str
) -> None:
    """Queue ``account_created`` or ``signed_in`` in the account's own transaction."""
    if hooks.listeners(visit.journey, event, step):
        customer = {"id": customer_id, "email": accounts.normal_email(email)}
        context = hooks.condition_context(visit.journey, customer={**customer, "signed_in": True})
        data = {"customer": customer}
        hooks.enqueue(connection, visit.journey, event, data, step=step, context=context)


@handles("authentication", "optional_authentication")
def authenticate(visit: Visit, step: StepBase) -> Response:
    assert isinstance(step, AuthenticationStep)
    action = request.form.get("action", "login")
    email = request.form.get("email", "").strip()
    password = request.form.get("password", "")
    values = {"email": email[:254], "action": action[:10]}
    if action not in ("login", "signup", "guest") or (action == "guest" and not step.guest_allowed):
        choices = "sign in, create an account" + (
            " or continue as a guest" if step.guest_allowed else ""
        )
        return web.respond(visit, step, errors={"action": f"Choose to {choices}."}, values=values)
    errors: dict[str, str] = {}
    if not forms.valid_email(email):
        errors["email"] = "Enter your email address, such as name@example.com."
    if action == "signup" and (problem := accounts.password_problem(password)):
        errors["password"] = problem
    if action == "login" and not password:
        errors["password"] = "Enter your password."
    if action == "login" and len(password) > accounts.MAX_PASSWORD:
        errors["password"] = WRONG
    if errors:
        return web.respond(visit, step, errors=errors, values=values)
    done = web.respond  # the same answer for every outcome below that is not an error
    if action == "guest":
        save_scratch(visit, step, guest_email=accounts.normal_email(email))
        return done(visit, progress.after(visit, step))
    if action in ("login", "signup"):  # a sign-up for a taken email tries its password too
        wait = ratelimit.blocked(email)
        if wait:
            return web.respond(
                visit,
                step,
                status=429,
                values=values,
                errors={"_form": f"Too many failed sign-in attempts. Try again in {wait}."},
            )
    # argon2 runs before the write transaction: it is slow on purpose, and inside
    # the transaction it would hold up every other writer (SQLite has one at a time).
    params = _params()
    new_account = action == "signup" and accounts.find_customer(visit.connection, email) is None
    customer_id: int | None = None
    password_hash = new_hash = None
    if new_account:
        password_hash = accounts.hasher(params).hash(password)
    else:
        # A login, or a sign-up for a taken email: answered exactly as for a new
        # account (one argon2 run either way), but only the right password signs in.
        customer_id, new_hash = accounts.check_password(visit.connection, email, password, params)
    with visit.writing() as connection:
        if password_hash is not None:
            customer_id = accounts.new_customer(connection, email, password_hash)
            if customer_id is None:  # registered a moment ago by a concurrent request
                customer_id = accounts.authenticate(connection, email, password, params)
            else:
                _account_event(visit, step, connection, "account_created", customer_id, email)
        elif customer_id is not None and new_hash is not None:
            accounts.set_password_hash(connection, customer_id, new_hash)
        if customer_id is not None:
            _sign_in(visit, customer_id, connection)
            _account_event(visit, step, connection, "signed_in", customer_id, email)
            hooks.step_completed(visit, step, connection)  # with the sign-in, or neither
    visit.forget_reads()
    if customer_id is None:
        ratelimit.failed(email)  # counted for sign-ups too, or they would be a way round it
    if customer_id is None and action == "login":
        return web.respond(visit, step, errors={"_form": WRONG}, values=values, status=401)
    if customer_id is None:
        # Same redirect and body as a successful sign-up; a new cookie either way.
        visit.cart.session = ""
        visit.cart.checkout_id = carts.new_id()
        visit.cart.dirty = True
    return done(visit, progress.after(visit, step))


@bp.post("/<key>/logout")
def logout(key: str) -> Response:
    visit = begin(key, changes_state=True)
    step_id = request.form.get("step", "")
    back = find_step(visit, step_id) if step_id else visit.journey.active_steps[0]
    if visit.cart.session:
        with visit.writing() as connection:
            accounts.end_session(connection, visit.cart.session)
    visit.cart.session = ""
    # A fresh checkout id too: the answers of the signed-in customer stay with them.
    visit.cart.checkout_id = carts.new_id()
    visit.cart.dirty = True
    visit.forget_reads()
    return web.respond(visit, back)


@bp.post("/<key>/account/password")
def change_password(key: str) -> Response:
    """A signed-in customer's new password; every other session of theirs ends.

    Takes ``current_password``, ``new_password`` and ``step`` (the page to go back
    to). This browser gets a new session, so it stays signed in; a copy of the old
    cookie anywhere else is signed out. Wrong current passwords count as failed
    logins of the account (the same limit).
    """
    visit = begin(key, changes_state=True)
    step_id = request.form.get("step", "")
    back = find_step(visit, step_id) if step_id else visit.journey.active_steps[0]
    customer = visit.customer
    if customer is None:
        return web.respond(
            visit, back, status=401, errors={"_form": "Sign in to change your password."}
        )
    current = request.form.get("current_password", "")
    new = request.form.get("new_password", "")
    wait = ratelimit.blocked(customer.email)
    if wait:
        return web.respond(
            visit,
            back,
            status=429,
            errors={"_form": f"Too many failed sign-in attempts. Try again in {wait}."},
        )
    problem = accounts.password_problem(new)
    if problem:
        return web.respond(visit, back, errors={"new_password": problem})
    verified = None
    if len(current) <= accounts.MAX_PASSWORD:  # argon2 outside the write transaction
        verified, _ = accounts.check_password(visit.connection, customer.email, current, _params())
    if verified != customer.id:
        ratelimit.failed(customer.email)
        return web.respond(
            visit, back, status=401, errors={"current_password": "The current password is wrong."}
        )
    password_hash = accounts.hasher(_params()).hash(new)
    with visit.writing() as connection:
        accounts.set_new_password(connection, customer.id, password_hash)
        visit.cart.session = accounts.start_session(
            connection, customer.id, current_app.config["KEYLIGHT_SESSION_MAX_AGE"]
        )
    visit.cart.dirty = True
    visit.forget_reads()
    visit.messages.append(CHANGED)
    return web.respond(visit, back)
