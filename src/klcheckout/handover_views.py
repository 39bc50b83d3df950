"""The hand-over endpoints: staff send a step to the customer (or revoke the link), the
customer opens the emailed link, and sees a thank-you once their part is done.

``POST API/KEY/steps/STEP/handover`` and ``.../handover/revoke`` are the member's, on
the page of a step whose ``actor`` is "customer". ``GET API/handover/<token>`` is the
customer's link: opening it spends nothing (mail scanners open links too); it points
this browser's cart cookie at the checkout, with the cart staff had, and the step's
page follows. Completing the step is the step's own ``POST`` (``steps``).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, render_template, request
from sqlalchemy import Connection

from kljourney.i18n import N_
from kljourney.i18n import gettext as _
from kljourney.model import StepBase

from . import (
    accounts,
    checkouts,
    db,
    errors,
    handovers,
    language,
    responses,
    security,
    sign_in,
    staff_sign_in,
)
from . import cart as carts
from .clock import readable
from .steps import missing_before
from .visit import Visit, begin

bp = Blueprint("handover_views", __name__)

#: Translated where used.
STAFF_ONLY = N_("Only the shop's staff hand a step to the customer.")
NOT_THE_CUSTOMERS = N_(
    'This step is not the customer\'s to complete (its actor is not "customer"): '
    "complete it yourself."
)
NO_CUSTOMER = N_("Find or create the customer the order is for.")
SENT = N_("Sent to %(customer)s: the link works until %(expires)s.")
REPLACED = N_("The link sent before no longer works.")
REVOKED = N_("The link sent to %(customer)s no longer works.")
NOTHING_TO_REVOKE = N_("There is no open link of this step to withdraw.")
UNKNOWN = N_(
    "This link is not known: check that it was copied whole from the email, or ask the "
    "shop's staff who sent it for a new one."
)
USED = N_("This step was completed with this link already: there is nothing more to do.")
WITHDRAWN = N_(
    "This link was withdrawn or replaced by a newer one: use the newest email, or ask the "
    "shop's staff who sent it for a new link."
)
EXPIRED = N_("This link expired on %(moment)s. Ask the shop's staff who sent it to send it again.")
GONE = N_("The step of this link is no longer in the shop. Ask the shop's staff for help.")
CLOSED = N_(
    "The order this link was for is placed or no longer open: there is nothing more to do "
    "with this link."
)
ANOTHER_CUSTOMER = N_(
    "This link is for another customer than the one signed in in this browser: sign out "
    "first (on your account page), then open the link again."
)
STAFF_BROWSER = N_(
    "This link is for the customer, and this browser is signed in as staff: the customer "
    "completes the step in their own browser. (To try it, sign out as staff first.)"
)
THANKS_TITLE = N_("Thank you")
THANKS = N_(
    "Your part is done. The rest is done by %(shop)s: you get an email when the order is placed."
)


# -- the member's page of the step ----------------------------------------------------------


@bp.post("/<key>/steps/<step_id>/handover")
def send(key: str, step_id: str) -> Response:
    """Send the step to the customer the member orders for, replacing any open link."""
    visit = begin(key, changes_state=True)
    step = visit.step(step_id)
    refused = _not_for_staff_here(visit, step)
    if refused is not None:
        return refused
    loaded = current_app.extensions["keylight"]
    customer, member = visit.customer, visit.staff
    with visit.writing() as connection:
        # The checkout's row, locked: two sends at once leave one open link, not two.
        checkouts.lock(connection, visit.cart.checkout_id, visit.journey.key)
        sent = handovers.send(
            connection,
            shop=visit.shop,
            folders=loaded.folders,
            journey=visit.journey,
            step=step,
            checkout_id=visit.cart.checkout_id,
            customer=customer,
            member=member,
            lines=visit.cart.lines,
            days=visit.app.config["KEYLIGHT_HANDOVER_DAYS"],
        )
    visit.forget_reads()
    visit.messages.append(
        _(SENT) % {"customer": customer.email, "expires": readable(sent.expires_at)}
    )
    if sent.replaced:
        visit.messages.append(_(REPLACED))
    return responses.respond(visit, step)


@bp.post("/<key>/steps/<step_id>/handover/revoke")
def revoke(key: str, step_id: str) -> Response:
    """Withdraw the open link of the step: the customer can no longer complete it."""
    visit = begin(key, changes_state=True)
    step = visit.step(step_id)
    if visit.staff is None:
        return responses.respond(visit, step, errors={"_form": _(STAFF_ONLY)}, status=403)
    with visit.writing() as connection:
        row = handovers.latest(connection, visit.cart.checkout_id, step.id)
        done = row is not None and handovers.revoke(
            connection, row, actor="staff", who=visit.staff.email
        )
    if not done:
        return responses.respond(visit, step, errors={"_form": _(NOTHING_TO_REVOKE)}, status=409)
    visit.forget_reads()
    email = visit.customer.email if visit.customer is not None else ""
    visit.messages.append(_(REVOKED) % {"customer": email})
    return responses.respond(visit, step)


def _not_for_staff_here(visit: Visit, step: StepBase) -> Response | None:
    """Why this visitor cannot hand ``step`` over now, as the answer; None when they may:
    a member of staff, on a customer's step, the customer found and the steps before done."""
    if visit.staff is None:
        return responses.respond(visit, step, errors={"_form": _(STAFF_ONLY)}, status=403)
    if step.actor != "customer":
        return responses.respond(visit, step, errors={"_form": _(NOT_THE_CUSTOMERS)}, status=409)
    gap = missing_before(visit, step)
    if gap is not None:
        target = gap.target or step
        return responses.respond(visit, target, errors=dict(gap.errors), status=gap.status)
    if visit.customer is None:  # a journey without a lookup: nobody to send it to
        return responses.respond(visit, step, errors={"_form": _(NO_CUSTOMER)}, status=409)
    return None


def staff_state(visit: Visit, step: StepBase) -> dict[str, Any]:
    """What the member's page of a customer's step shows (the state's ``handover``):
    the latest link's ``status`` (``none``, ``open``, ``completed``, ``revoked``,
    ``expired``), when it was sent and ends, and whether the step is ``done``."""
    from .navigation import missing

    row = None
    if visit.checkout is not None:
        row = handovers.latest(visit.connection, visit.cart.checkout_id, step.id)
    customer = visit.customer
    return {
        "status": handovers.status(row) if row is not None else "none",
        "customer": customer.email if customer is not None else None,
        "sent_at": readable(row.created_at) if row is not None else None,
        "expires_at": readable(row.expires_at) if row is not None else None,
        "done": missing(visit, step) is None,
    }


# -- the customer's link ----------------------------------------------------------------------


@bp.get("/handover/<token>")
def open_link(token: str) -> Response:
    """Check the link, then point this browser at the checkout's step for its customer."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    shop = language.current_shop()
    with db.reads_outside_transactions(app.extensions["keylight_db"].connect()) as connection:
        row = handovers.find(connection, token)
        if row is None:
            return errors.answer(404, _(UNKNOWN))
        state = handovers.status(row)
        if state == "completed":
            return errors.answer(410, _(USED))
        if state == "revoked":
            return errors.answer(410, _(WITHDRAWN))
        if state == "expired":
            return errors.answer(410, _(EXPIRED) % {"moment": readable(row.expires_at)})
        journey = shop.journeys.get(row.journey_key)
        step = journey.step(row.step_id) if journey is not None else None
        if journey is None or step is None:
            return errors.answer(410, _(GONE))
        if checkouts.get(connection, row.checkout_id) is None:  # ordered, or cleared away
            return errors.answer(410, _(CLOSED))
        if staff_sign_in.has_session_cookie() and staff_sign_in.member(connection) is not None:
            return errors.answer(403, _(STAFF_BROWSER))
        session = _session_of(connection, row.customer_id)
    if session is None:
        return errors.answer(403, _(ANOTHER_CUSTOMER))
    cart = carts.Cart(
        journey=journey.key,
        version=journey.version,
        checkout_id=row.checkout_id,
        session=session,
        handover=token,
        lines={str(k): int(v) for k, v in (row.lines or {}).items()},
        dirty=True,
    )
    response = Response(status=303, headers={"Location": shop.site.page_url(journey, step)})
    carts.set_cookie(app, cart, response)
    return response


def _session_of(connection: Connection, customer_id: int) -> str | None:
    """The login this browser keeps while it completes the customer's step: the
    customer's own, or none; None when another customer is signed in here."""
    app = current_app
    cart = carts.decode_any(app, request.cookies.get(carts.cookie_name(app)))
    session = cart.session if cart is not None else ""
    if not session:
        return ""
    customer = accounts.customer_by_id(connection, customer_id)
    if sign_in.is_email_session(session):
        email = sign_in.session_email(connection, session)
        if email is None:
            return ""  # ended: nobody is signed in
        return session if email == customer.email else None
    signed_in = accounts.session_customer(connection, session)
    if signed_in is None:
        return ""
    return session if signed_in.id == customer_id else None


@bp.get("/handover/done")
def thanks() -> Response:
    """The customer's thank-you, once the step handed to them is done."""
    shop = language.current_shop()
    html = render_template(
        "keylight_error.html",
        title=_(THANKS_TITLE),
        message=_(THANKS) % {"shop": shop.site.title},
        request_id=None,
        site=shop.site,
        back=shop.site.pages_url,
        sign_in_url=None,
        stylesheet=errors.stylesheet(),
    )
    response = Response(html, mimetype="text/html")
    response.headers["Content-Security-Policy"] = security.page_csp(shop.site)
    return response
