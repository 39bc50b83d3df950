"""One request's view of a customer: the journey, the cart cookie, the login, the checkout row.

Database reads happen lazily, the first time a handler asks, so the requests
that only touch the cart (the busiest ones) never open a connection. A request
that does use the database takes one connection from the pool, the first time,
for all its reads and writes, and gives it back when the request ends. Its reads
are single statements outside a transaction; its writes are transactions
(``writing``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from typing import Any

from flask import Flask, Response, abort, current_app, g, request
from sqlalchemy import Connection, Engine
from werkzeug.exceptions import NotFound

from kljourney import Shop
from kljourney.i18n import N_
from kljourney.i18n import gettext as _
from kljourney.model import Journey, Site, StepBase, with_query

from . import (
    accounts,
    checkouts,
    db,
    handovers,
    language,
    security,
    sign_in,
    staff_sign_in,
    subscriptions,
)
from . import cart as carts
from .cart import Cart
from .pricing import PricedCart

SIGNED_OUT = N_("Your sign-in has ended; please sign in again.")
STAFF_ONLY = N_(
    "This journey is for the shop's staff, not for customers. If you work for the shop, "
    "sign in on the staff page first."
)
#: The cookie's hand-over once the browser is done with it (``Visit.leave_handover``).
LEFT_HANDOVER = "-"
HANDOVER_ENDED = N_(
    "The link to this step no longer works: it was completed, withdrawn or replaced, or "
    "it expired. Ask the shop's staff who sent it for a new one."
)
NOT_YOUR_ROLE = N_(
    "This journey is not for your role (%(role)s). An admin of the shop can give you a "
    "role that walks it."
)


class Visit:
    def __init__(self, app: Flask, shop: Shop, journey: Journey, cart: Cart, messages: list[str]):
        self.app = app
        self.shop = shop
        self.journey = journey
        self.cart = cart
        #: Notes for the customer from this request (e.g. why the cart was reset).
        self.messages = messages
        #: Set for a login or sign-up: its JSON answer must be alike whether or not the
        #: email has an account, so it leaves out the next page's state (which shows
        #: whether the customer is signed in); that page asks for it itself.
        self.answer_without_state = False
        self._connection: Connection | None = None
        self._priced: tuple[tuple[tuple[str, int], ...], PricedCart] | None = None

    @property
    def engine(self) -> Engine:
        return self.app.extensions["keylight_db"]

    @property
    def connection(self) -> Connection:
        """This request's one database connection, taken from the pool on first use."""
        if self._connection is None:
            self._connection = db.reads_outside_transactions(self.engine.connect())
        return self._connection

    @contextmanager
    def writing(self, *, durable: bool = True) -> Iterator[Connection]:
        """A write transaction on this request's connection (``db.writing``)."""
        with db.writing(self.connection, durable=durable) as connection:
            yield connection

    def close(self) -> None:
        """Give the connection back (the request is over; an open read just ends)."""
        if self._connection is not None:
            connection, self._connection = self._connection, None
            connection.close()

    @property
    def max_quantity(self) -> int:
        return self.app.config["KEYLIGHT_MAX_QUANTITY"]

    def step(self, step_id: str) -> StepBase:
        """The journey's active step with this id; a 404 for a step it does not have."""
        step = self.journey.step(step_id)
        if step is None:
            raise NotFound(
                _("This shop has no step %(step)s. Check the address.")
                % {"step": repr(step_id[:40])}
            )
        return step

    def came_from(self) -> StepBase:
        """The step a form was sent from (its ``step`` field), or the journey's first step."""
        step_id = request.form.get("step", "")
        return self.step(step_id) if step_id else self.journey.active_steps[0]

    @cached_property
    def backend_pages(self) -> bool:
        """Whether this customer's browser uses the pages the backend renders (it runs no
        JavaScript): their forms say so, and so does the page endpoint itself."""
        return request.args.get("page") == "backend" or request.blueprint == "pages"

    def page_url(self, step: StepBase) -> str:
        """Where the customer sees ``step``: its static page, or the backend's rendering of it."""
        if self.backend_pages:
            return self.shop.site.backend_page_url(self.journey, step)
        return self.shop.site.page_url(self.journey, step)

    @property
    def priced_cart(self) -> PricedCart:
        """The cart at catalog prices, priced once for as long as its lines stay the same."""
        lines = tuple(self.cart.lines.items())
        if self._priced is None or self._priced[0] != lines:
            self._priced = (lines, PricedCart.of(self.shop, self.journey, self.cart.lines))
        return self._priced[1]

    def end_checkout(self) -> None:
        """The order is placed: the cart empties, the done page finds the order through the
        old checkout id, and anything the customer does next is a new checkout."""
        self.cart.done = self.cart.checkout_id
        self.new_checkout()

    def new_checkout(self) -> None:
        """Begin a new checkout in this browser: a new id (nothing of the old one's answers,
        payment or hand-overs comes along), an empty cart, and, for the funnel report, a
        new walk whose steps count again."""
        self.cart.checkout_id = carts.new_id()
        self.cart.lines = {}
        self.cart.seen = []
        self.cart.started = 0
        self.cart.new = True  # no row can exist yet for the new id
        self.cart.dirty = True

    @cached_property
    def signed_in_staff(self) -> Any:
        """The member of staff signed in with both factors in this browser's staff cookie,
        whatever their role, or None. Read from the database on every request, and only for
        journeys staff may walk: a journey for customers alone never reads it."""
        if self.journey.audience == ["customers"] or not staff_sign_in.has_session_cookie():
            return None  # no database read (the cart's requests open no connection)
        return staff_sign_in.member(self.connection)

    @property
    def staff(self) -> Any:
        """The member walking this journey as staff: signed in, and of a role its
        ``audience`` admits; None for a customer (or anyone else)."""
        found = self.signed_in_staff
        return found if found is not None and self.journey.admits(found.role) else None

    def check_audience(self) -> None:
        """Refuse anyone the journey's ``audience`` does not admit (a 403 that names the
        staff page); checked on every request of the journey, GET and POST alike."""
        if self.journey.for_customers or self.staff is not None or self.handover is not None:
            return
        member = self.signed_in_staff
        if member is None and (self.handover_ended or self.cart.handover == LEFT_HANDOVER):
            # A customer whose link stopped working, now or before (the back button after
            # completing the step, a second tab): told that, not to sign in as staff.
            raise security.Forbidden(_(HANDOVER_ENDED))
        if member is None:
            message = _(STAFF_ONLY)
        else:
            message = _(NOT_YOUR_ROLE) % {"role": member.role}
        raise security.Forbidden(message, sign_in_url=self.shop.site.staff_url)

    @cached_property
    def customer(self) -> Any:
        """The customer this checkout is for: the signed-in customer's row, or, for a member
        of staff, the customer they found or created at the journey's customer_lookup step
        (the forms fill in from that customer's profile and the order is theirs); None.
        A dead session is dropped from the cookie."""
        if self.staff is not None:
            return self.on_behalf_of
        if self.handover is not None:
            return accounts.customer_by_id(self.connection, self.handover.customer_id)
        if not self.cart.session or sign_in.is_email_session(self.cart.session):
            return None
        row = accounts.session_customer(self.connection, self.cart.session)
        if row is None:
            self._signed_out()
        return row

    @cached_property
    def on_behalf_of(self) -> Any:
        """The customer a member of staff orders for in this checkout, or None: never read
        from the browser, only from the checkout's row, which staff alone set."""
        if self.checkout is None or self.checkout.customer_id is None:
            return None
        return accounts.customer_by_id(self.connection, self.checkout.customer_id)

    @cached_property
    def handover(self) -> Any:
        """The open hand-over whose link this browser opened (``handovers``): the customer
        completes that one step of this checkout, and nothing else. None for anyone else,
        for a member of staff, and once the link stops working or its checkout is gone
        (which is then dropped from the cookie, and ``handover_ended`` says so)."""
        if self.cart.handover in ("", LEFT_HANDOVER) or self.signed_in_staff is not None:
            return None
        row = handovers.find(self.connection, self.cart.handover)
        if (
            row is None
            or row.checkout_id != self.cart.checkout_id
            or handovers.status(row) != "open"
            or self.checkout is None  # its order is placed (or the checkout cleared away)
        ):
            self.leave_handover()
            self.handover_ended = True
            self.messages.append(_(HANDOVER_ENDED))
            return None
        return row

    #: Set when this browser's hand-over link stopped working in this request.
    handover_ended = False
    #: Set when this request completed the step handed to this browser.
    handover_completed = False

    def leave_handover(self) -> None:
        """This browser is done with the hand-over (completed, or its link ended): it
        keeps nothing of the checkout, which is the member's of staff, only the mark that
        it had one, so that its way back to the step is answered in those words."""
        self.cart.handover = LEFT_HANDOVER
        self.new_checkout()
        self.forget_reads()  # what was read of the checkout is no longer this browser's

    @cached_property
    def link_email(self) -> str | None:
        """A guest's email when they signed in with an emailed link (``sign_in``)."""
        if not sign_in.is_email_session(self.cart.session):
            return None
        email = sign_in.session_email(self.connection, self.cart.session)
        if email is None:
            self._signed_out()
        return email

    def _signed_out(self) -> None:
        self.cart.session = ""
        self.cart.dirty = True
        self.messages.append(_(SIGNED_OUT))

    @property
    def owner(self) -> subscriptions.Owner | None:
        """Whose subscriptions this visitor may see and change."""
        if self.customer is not None:
            return subscriptions.Owner(self.customer.id, self.customer.email)
        if self.link_email:
            return subscriptions.Owner(None, self.link_email)
        return None

    @cached_property
    def subscription(self) -> Any:
        """The subscription this checkout acts on, checked on every request to be this
        visitor's own; None when none is bound or it is not theirs (any more)."""
        if not self.journey.about_subscription or self.checkout is None:
            return None
        return subscriptions.owned(self.connection, self.checkout.subscription, self.owner)

    @cached_property
    def checkout(self) -> Any:
        if self.cart.new:  # an id made by this request: no row can exist yet
            return None
        return checkouts.get(self.connection, self.cart.checkout_id)

    def forget_reads(self) -> None:
        """After a write, read again rather than trust what was read before it. (The
        hand-over this browser acts under stays: completing it is this request's own
        write, and what follows it in the request is still done under it.)"""
        for name in (
            "customer",
            "on_behalf_of",
            "link_email",
            "checkout",
            "conditions",
            "subscription",
            "signed_in_staff",
        ):
            self.__dict__.pop(name, None)

    def wrote(self, checkout: Any) -> None:
        """After a write that returned the checkout's row as written: that row is what a
        read would find now (the answer's state needs no second read)."""
        self.forget_reads()
        self.__dict__["checkout"] = checkout
        self.cart.new = False

    @property
    def answers(self) -> dict[str, Any]:
        return (self.checkout.answers or {}) if self.checkout is not None else {}

    @property
    def payment(self) -> dict[str, Any] | None:
        return self.checkout.payment if self.checkout is not None else None

    @property
    def guest_email(self) -> str | None:
        return self.checkout.guest_email if self.checkout is not None else None

    @property
    def email(self) -> str:
        """Where the order's emails go: the customer's, never the staff member's."""
        if self.customer is not None:
            return self.customer.email
        # The email a guest gives in this checkout wins over the one of a sign-in link.
        return self.guest_email or self.link_email or ""

    def set_cookie(self, response: Response) -> None:
        carts.set_cookie(self.app, self.cart, response)


def begin(journey_key: str, *, changes_state: bool) -> Visit:
    """Read the journey and the cookie; for a POST, refuse it unless it is from our pages."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if changes_state:
        security.check_origin(app, request)
    shop = language.current_shop()
    journey = shop.journeys.get(journey_key)
    if journey is None:
        raise NotFound(
            _("There is no shop journey %(journey)s. Check the address.")
            % {"journey": repr(journey_key[:40])}
        )
    if changes_state and not security.sent_token(request):
        _without_script(shop.site, journey)
    raw = request.cookies.get(carts.cookie_name(app))
    cart, reason = carts.decode(app, raw, journey)
    messages = [_(carts.MESSAGES[reason])] if reason else []
    if changes_state:
        if raw is None:
            raise security.Forbidden(
                _(
                    "Your browser did not send the shop's cookie. "
                    "Please allow cookies for this site, reload the page and try again."
                )
            )
        if reason:
            # The page's token belongs to a cart that is gone: start afresh and say so.
            g.keylight_visit = Visit(app, shop, journey, cart, messages)
            raise security.Forbidden(
                _("%(problem)s Please reload the page and try again.") % {"problem": messages[0]}
            )
        security.check_csrf(app, request, cart)
    changed = carts.recheck(cart, shop, journey, app.config["KEYLIGHT_MAX_QUANTITY"])
    if changed:
        messages.append(_(carts.MESSAGES[changed]))
    visit = Visit(app, shop, journey, cart, messages)
    g.keylight_visit = visit
    visit.check_audience()
    return visit


def _without_script(site: Site, journey: Journey) -> None:
    """A plain form of a static page, sent by a browser that did not run the page script
    (which adds the token): nothing changes, and the backend's own page of the step,
    which works without script, says so."""
    from .responses import wants_json

    if wants_json():
        return  # a script that left out the token: refused as such
    step_id = (request.view_args or {}).get("step_id") or request.form.get("step", "")
    step = journey.step(step_id) or journey.active_steps[0]
    location = with_query(site.backend_page_url(journey, step), "notice=no-script")
    abort(Response(status=303, headers={"Location": location}))
