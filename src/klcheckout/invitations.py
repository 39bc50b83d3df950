"""Invitations: a customer created by staff (at a customer_lookup step) sets a password.

Staff never choose a customer's password. The new account gets an unusable password
hash, and an email with a one-time link (``sign_in`` links of purpose "invitation",
valid for ``sign_in.INVITATION_LIFETIME``) to the account page, where the customer
chooses one; that signs them in. Until then nobody can sign in to the account, and
the order staff place is still theirs (its confirmation goes to their email).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, request
from sqlalchemy import Connection

from kljourney import Shop
from kljourney.i18n import gettext as _
from kljourney.model import with_query

from . import accounts, customer_mail, db, security, sign_in
from .account_page import account_state, begin_account, page_url, render_page

bp = Blueprint("invitations", __name__)

#: Stored as the password hash of an invited customer: no password verifies against it
#: (argon2 refuses it as a hash), so nobody signs in before the invitation is used.
NO_PASSWORD_YET = "!invited"


def create_invited(connection: Connection, email: str) -> tuple[int, bool]:
    """The id of the customer with ``email``, created without a password if there is none;
    and whether it was created now (only a new customer is invited)."""
    created = accounts.new_customer(connection, email, NO_PASSWORD_YET)
    if created is not None:
        return created, True
    row = accounts.find_customer(connection, email)  # made by a concurrent request
    return row.id, False


def invite(connection: Connection, shop: Shop, email: str, invited_by: str) -> None:
    """Queue the invitation email to a customer staff just created, in the caller's
    transaction (no account without its invitation, no invitation for a rolled-back one)."""
    token = sign_in.new_link(
        connection, email, purpose=sign_in.INVITATION, lifetime=sign_in.INVITATION_LIFETIME
    )
    customer_mail.queue(
        connection,
        to=email,
        template="invitation",
        subject=_("Your account at %(shop)s") % {"shop": shop.site.title},
        data={
            "link": invitation_url(shop.site, token),
            "days": sign_in.INVITATION_LIFETIME.days,
            "shop": shop.site.title,
            "invited_by": invited_by,
        },
    )


def invitation_url(site: Any, token: str) -> str:
    """The invitation's address, from the shop's own URLs like a sign-in link's."""
    return security.backend_address(site, f"/account/invitation/{token}")


@bp.get("/account/invitation/<token>")
def invitation_page(token: str) -> Response:
    """The emailed link opens the account page with a form for the new password; the
    link is spent by that form, never by a GET (mail scanners open links on their own)."""
    visit = begin_account(changes_state=False)
    if not sign_in.link_open(visit.connection, token, purpose=sign_in.INVITATION):
        notice = "invitation-invalid"  # used already, or expired: said now, not after a form
        return Response(status=303, headers={"Location": page_url(visit.shop, notice)})
    found = account_state(visit, backend=True)
    site = visit.shop.site
    found["invitation"] = with_query(
        f"{site.account_api}/invitation/{token[:100]}", site.language_query
    )
    return render_page(visit, found)


@bp.post("/account/invitation/<token>")
def set_first_password(token: str) -> Response:
    """Spend the invitation: the customer's first password, and a session with it."""
    visit = begin_account(changes_state=True)
    password = request.form.get("password", "")
    problem = accounts.password_problem(password)
    if problem:
        found = account_state(visit, backend=True)
        site = visit.shop.site
        found["invitation"] = with_query(
            f"{site.account_api}/invitation/{token[:100]}", site.language_query
        )
        found["messages"] = [*found["messages"], problem]
        response = render_page(visit, found)
        response.status_code = 422
        return response
    params = current_app.config["KEYLIGHT_ARGON2"]
    password_hash = accounts.hasher(params).hash(password)  # outside the write transaction
    notice = "invitation-invalid"
    with db.writing(visit.connection) as connection:
        email = sign_in.use_link(connection, token, purpose=sign_in.INVITATION)
        customer = accounts.find_customer(connection, email) if email is not None else None
        if customer is not None:
            accounts.set_new_password(connection, customer.id, password_hash)
            if visit.cart.session:
                sign_in.end_any_session(connection, visit.cart.session)
            visit.cart.session = accounts.start_session(
                connection, customer.id, current_app.config["KEYLIGHT_SESSION_MAX_AGE"]
            )
            visit.cart.dirty = True
            notice = "password-set"
    return Response(status=303, headers={"Location": page_url(visit.shop, notice)})
