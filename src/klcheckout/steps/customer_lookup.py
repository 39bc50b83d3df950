"""The customer lookup step: staff find the customer an order is for, or create them.

Only staff reach the handler (``steps.wrong_actor`` refuses customers first). The
customer found is kept on the checkout's row (``checkouts.customer_id``), never in
the browser: from then on ``Visit.customer`` is that customer for the member of
staff, so the forms fill in from their profile, the sold-to answers are saved to
it, and the order is theirs. A customer who did not exist is created without a
password and invited to choose one (``invitations``), in the same transaction.
"""

from __future__ import annotations

from flask import request
from sqlalchemy import Connection

from kljourney.i18n import N_
from kljourney.i18n import gettext as _
from kljourney.model import StepBase

from .. import accounts, checkouts, forms, invitations
from ..visit import Visit
from . import handles
from .outcomes import Completed, Outcome, Refused

#: Translated where used.
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
    checkout_id, key = visit.cart.checkout_id, visit.journey.key

    def write(connection: Connection) -> bool:
        customer_id, created = invitations.create_invited(connection, email)
        if created:
            invitations.invite(connection, visit.shop, email, invited_by=member.email)
        checkouts.put(connection, checkout_id, key, customer_id=customer_id)
        visit.cart.new = False  # the checkout's row exists now
        visit.forget_reads()  # the step's event shows the customer found
        return True

    return Completed(write=write, durable=True)
