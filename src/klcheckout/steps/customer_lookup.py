"""The customer lookup step: staff find the customer an order is for, or create them.

Only staff reach the handler (``steps.wrong_actor`` refuses customers first). The
customer found is kept on the checkout's row (``checkouts.customer_id``), never in
the browser: from then on ``Visit.customer`` is that customer for the member of
staff, so the forms fill in from their profile, the sold-to answers are saved to
it, and the order is theirs. A customer who did not exist is created without a
password and invited to choose one (``invitations``), in the same transaction.

A checkout is one customer's. A member who finds another customer than the one the
checkout is for, or who starts over after the checkout's quote was accepted, begins
a new checkout: the answers, payment, hand-overs and quote of the old one stay with
it (its open hand-over links are revoked), and nothing of one customer's order can
end up in another's.
"""

from __future__ import annotations

from flask import request
from sqlalchemy import Connection

from kljourney.i18n import N_
from kljourney.i18n import gettext as _
from kljourney.model import StepBase

from .. import accounts, checkouts, forms, handovers, invitations, quotes
from ..visit import Visit
from . import handles
from .outcomes import Completed, Outcome, Refused

#: Translated where used.
NEW_CHECKOUT = N_(
    "A new order for %(customer)s: the cart and the answers given before are left behind."
)
NOT_AN_EMAIL = N_(
    "Enter the customer's email address, such as name@example.com: the order is theirs, "
    "and its confirmation goes there."
)


@handles("customer_lookup")
def look_up(visit: Visit, step: StepBase) -> Outcome:
    email = accounts.normal_email(request.form.get("email", ""))
    if not forms.valid_email(email):
        return Refused({"email": _(NOT_AN_EMAIL)}, values={"email": email[:254]})
    member = visit.staff

    def write(connection: Connection) -> bool:
        customer_id, created = invitations.create_invited(connection, email)
        if created:
            invitations.invite(connection, visit.shop, email, invited_by=member.email)
        if _another_order(connection, visit, customer_id):
            handovers.revoke_left_behind(connection, visit.cart.checkout_id, who=member.email)
            visit.new_checkout()
            visit.messages.append(_(NEW_CHECKOUT) % {"customer": email})
        checkouts.put(
            connection, visit.cart.checkout_id, visit.journey.key, customer_id=customer_id
        )
        visit.cart.new = False  # the checkout's row exists now
        visit.forget_reads()  # the step's event shows the customer found
        return True

    return Completed(write=write, durable=True)


def _another_order(connection: Connection, visit: Visit, customer_id: int) -> bool:
    """Whether finding ``customer_id`` begins another order than this checkout's: it is
    another customer's, or its quote was accepted (and became an order) already."""
    if visit.cart.new:
        return False
    row = checkouts.get(connection, visit.cart.checkout_id)
    if row is not None and row.customer_id not in (None, customer_id):
        return True
    # An accepted quote's checkout row is gone (``quotes.accept``); its quote says so.
    quote = quotes.latest_for_checkout(connection, visit.cart.checkout_id)
    return quote is not None and quote.status == "accepted"
