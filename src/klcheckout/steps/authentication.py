"""The authentication steps: sign in, create an account, or (where allowed) go on as a guest.

Login and sign-up answer identically whether or not the email is registered:
a sign-up for a taken email gets the same redirect as a successful one, but no
login; the next step then asks the customer to sign in. Failed logins are
limited per account and per client address (``ratelimit``).
"""

from __future__ import annotations

from flask import current_app, request
from sqlalchemy import Connection

from kljourney.i18n import N_
from kljourney.i18n import gettext as _
from kljourney.model import AuthenticationStep, StepBase

from .. import accounts, forms, navigation, ratelimit, sign_in
from .. import cart as carts
from ..hooks import events
from ..visit import Visit
from . import handles
from .outcomes import Completed, Outcome, Passed, Refused

#: Translated where used.
WRONG = N_("The email or password is wrong.")


def start_session(visit: Visit, customer_id: int, connection: Connection) -> None:
    """A new session id on every login and sign-up; the old one, if any, ends."""
    if visit.cart.session:
        sign_in.end_any_session(connection, visit.cart.session)
    visit.cart.session = accounts.start_session(
        connection, customer_id, current_app.config["KEYLIGHT_SESSION_MAX_AGE"]
    )
    visit.cart.dirty = True


def _account_event(
    visit: Visit, step: StepBase, connection: Connection, event: str, customer_id: int, email: str
) -> None:
    """Queue ``account_created`` or ``signed_in`` in the account's own transaction."""
    if events.listeners(visit.journey, event, step):
        customer = {"id": customer_id, "email": accounts.normal_email(email)}
        context = events.condition_context(visit.journey, customer={**customer, "signed_in": True})
        data = {"customer": customer}
        events.enqueue(connection, visit.journey, event, data, step=step, context=context)


def _sign_in(
    visit: Visit, step: StepBase, connection: Connection, customer_id: int, email: str
) -> None:
    start_session(visit, customer_id, connection)
    _account_event(visit, step, connection, "signed_in", customer_id, email)
    visit.forget_reads()  # the step's event shows the customer signed in


def _not_signed_in(visit: Visit) -> None:
    """A sign-up for a taken email, answered like a successful one: a new cookie, no login."""
    visit.cart.session = ""
    visit.cart.checkout_id = carts.new_id()
    visit.cart.new = True
    visit.cart.dirty = True


@handles("authentication", "optional_authentication")
def authenticate(visit: Visit, step: StepBase) -> Outcome:
    assert isinstance(step, AuthenticationStep)
    action = request.form.get("action", "login")
    email = request.form.get("email", "").strip()
    password = request.form.get("password", "")
    values = {"email": email[:254], "action": action[:10]}
    if action not in ("login", "signup", "guest") or (action == "guest" and not step.guest_allowed):
        if step.guest_allowed:
            choose = _("Choose to sign in, create an account or continue as a guest.")
        else:
            choose = _("Choose to sign in or to create an account.")
        return Refused({"action": choose}, values=values)
    errors: dict[str, str] = {}
    if not forms.valid_email(email):
        errors["email"] = _("Enter your email address, such as name@example.com.")
    if action == "signup" and (problem := accounts.password_problem(password)):
        errors["password"] = problem
    if action == "login" and not password:
        errors["password"] = _("Enter your password.")
    if action == "login" and len(password) > accounts.MAX_PASSWORD:
        errors["password"] = _(WRONG)
    if errors:
        return Refused(errors, values=values)
    if action == "guest":
        return Completed(scratch={"guest_email": accounts.normal_email(email)})
    visit.answer_without_state = True
    wait = ratelimit.blocked(email)  # a sign-up for a taken email tries its password too
    if wait:
        return Refused({"_form": ratelimit.too_many_attempts(wait)}, status=429, values=values)
    # argon2 runs before the write transaction: it is slow on purpose, and inside
    # the transaction it would hold up every other writer (SQLite has one at a time).
    params = current_app.config["KEYLIGHT_ARGON2"]
    if action == "signup" and accounts.find_customer(visit.connection, email) is None:
        password_hash = accounts.hasher(params).hash(password)

        def sign_up(connection: Connection) -> bool:
            customer_id = accounts.new_customer(connection, email, password_hash)
            if customer_id is not None:
                _account_event(visit, step, connection, "account_created", customer_id, email)
            else:  # registered a moment ago by a concurrent request: try the password
                customer_id = accounts.authenticate(connection, email, password, params)
            if customer_id is None:
                ratelimit.failed(email)
                _not_signed_in(visit)
                return False
            _sign_in(visit, step, connection, customer_id, email)
            return True

        return Completed(write=sign_up, durable=True)
    # A login, or a sign-up for a taken email: answered exactly as for a new account
    # (one argon2 run either way), but only the right password signs in.
    customer_id, new_hash = accounts.check_password(visit.connection, email, password, params)
    if customer_id is None:
        ratelimit.failed(email)  # counted for sign-ups too, or they would be a way round it
        if action == "login":
            return Refused({"_form": _(WRONG)}, status=401, values=values)
        _not_signed_in(visit)
        return Passed(navigation.after(visit, step))

    def sign_in(connection: Connection) -> bool:
        assert customer_id is not None
        if new_hash is not None:
            accounts.set_password_hash(connection, customer_id, new_hash)
        _sign_in(visit, step, connection, customer_id, email)
        return True

    return Completed(write=sign_in, durable=True)
