"""``POST API/KEY/logout`` and ``/account/password``: a signed-in customer's account.

Both send the customer back to the page the form was on (its ``step`` field).
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, request

from kljourney.i18n import N_
from kljourney.i18n import gettext as _

from . import accounts, ratelimit, responses, sign_in
from . import cart as carts
from .visit import begin

bp = Blueprint("account", __name__)

CHANGED = N_("Your password was changed; every other device you were signed in on is signed out.")


@bp.post("/<key>/logout")
def logout(key: str) -> Response:
    visit = begin(key, changes_state=True)
    back = visit.came_from()
    if visit.cart.session:
        with visit.writing() as connection:
            sign_in.end_any_session(connection, visit.cart.session)
    visit.cart.session = ""
    # A fresh checkout id too: the answers of the signed-in customer stay with them.
    visit.cart.checkout_id = carts.new_id()
    visit.cart.dirty = True
    visit.forget_reads()
    return responses.respond(visit, back)


@bp.post("/<key>/account/password")
def change_password(key: str) -> Response:
    """A signed-in customer's new password; every other session of theirs ends.

    Takes ``current_password``, ``new_password`` and ``step`` (the page to go back
    to). This browser gets a new session, so it stays signed in; a copy of the old
    cookie anywhere else is signed out. Wrong current passwords count as failed
    logins of the account (the same limit).
    """
    visit = begin(key, changes_state=True)
    back = visit.came_from()
    customer = visit.customer
    if customer is None:
        return responses.respond(
            visit, back, status=401, errors={"_form": _("Sign in to change your password.")}
        )
    current = request.form.get("current_password", "")
    new = request.form.get("new_password", "")
    wait = ratelimit.blocked(customer.email)
    if wait:
        return responses.respond(
            visit,
            back,
            status=429,
            errors={"_form": ratelimit.too_many_attempts(wait)},
        )
    problem = accounts.password_problem(new)
    if problem:
        return responses.respond(visit, back, errors={"new_password": problem})
    params = current_app.config["KEYLIGHT_ARGON2"]
    verified = None
    if len(current) <= accounts.MAX_PASSWORD:  # argon2 outside the write transaction
        verified = accounts.check_password(visit.connection, customer.email, current, params)[0]
    if verified != customer.id:
        ratelimit.failed(customer.email)
        return responses.respond(
            visit,
            back,
            status=401,
            errors={"current_password": _("The current password is wrong.")},
        )
    password_hash = accounts.hasher(params).hash(new)
    with visit.writing() as connection:
        accounts.set_new_password(connection, customer.id, password_hash)
        visit.cart.session = accounts.start_session(
            connection, customer.id, current_app.config["KEYLIGHT_SESSION_MAX_AGE"]
        )
    visit.cart.dirty = True
    visit.forget_reads()
    visit.messages.append(_(CHANGED))
    return responses.respond(visit, back)
