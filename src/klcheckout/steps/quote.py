"""The quote step (``confirmation_type = "quote"``): staff send the customer a quote.

Nothing is ordered here: the cart, priced now with the member's discount, is frozen
into a quote (``quotes.send``) that the customer accepts or declines from the link
they are emailed. The checkout stays, so walking it again and sending revises the
quote (a new version under the same number). "Save as draft" freezes the quote
without sending it (the member stays on the page to send it, or an operator sends it
later). The page's one-time token makes a double click send one version, not two.
"""

from __future__ import annotations

from flask import current_app, request
from sqlalchemy import Connection

from kljourney.i18n import N_
from kljourney.i18n import gettext as _
from kljourney.model import ConfirmationStep, OrderDoneStep

from .. import checkouts, conditions, navigation, quotes
from ..answers import by_target
from ..clock import readable
from ..visit import Visit
from . import missing_before, passed_over, refused_by_rules
from .outcomes import Completed, Outcome, Passed, Refused, StepRefused

#: Translated where used.
STAFF_ONLY = N_(
    "Only the shop's staff send quotes: sign in on the staff page to send one for a customer."
)
NO_CUSTOMER = N_("Find the customer first: the quote is theirs, and its email goes to them.")
EMPTY = N_("The cart is empty: choose what the quote offers first.")
SENT = N_("Quote %(number)s (version %(version)s) is sent to %(customer)s, valid until %(until)s.")
DRAFTED = N_(
    "Quote %(number)s (version %(version)s) is saved as a draft: %(customer)s is told nothing "
    "until you send it from this page."
)


def send_quote(visit: Visit, step: ConfirmationStep, token: str | None) -> Outcome:
    member, customer = visit.staff, visit.customer
    if member is None:
        return Refused({"_form": _(STAFF_ONLY)}, status=403)
    refused = missing_before(visit, step)
    if refused is not None:
        return refused
    if customer is None:
        return Refused({"_form": _(NO_CUSTOMER)}, status=409)
    elsewhere = passed_over(visit, step) or refused_by_rules(visit, step)
    if elsewhere is not None:
        return elsewhere
    if not visit.cart.lines:
        return Refused({"_form": _(EMPTY)}, status=409)
    draft = request.form.get("action") == "draft"
    target = step if draft else navigation.after(visit, step)  # a draft stays to be sent
    location = (target.external_url or None) if isinstance(target, OrderDoneStep) else None
    if token and quotes.by_confirm_token(visit.connection, token) is not None:
        return Passed(target, location)  # this page's send arrived twice: one version
    typed = request.form.get("discount", "")[:20]
    try:
        percent = quotes.parse_discount(typed, visit.shop.quotes.limit_of(member.role))
    except quotes.QuoteRefused as refusal:
        return Refused({"discount": refusal.message}, values={"discount": typed})
    journey_discount = visit.shop.discount(visit.journey)
    if percent and journey_discount is not None:
        message = _(quotes.NOT_WITH_JOURNEY_DISCOUNT) % {"discount": journey_discount.name}
        return Refused({"discount": message}, values={"discount": typed})
    applies = conditions.of(visit).applies
    context = conditions.context(visit)
    checkout_id, key = visit.cart.checkout_id, visit.journey.key
    folders = current_app.extensions["keylight"].folders

    def write(connection: Connection) -> bool:
        row = checkouts.lock(connection, checkout_id, key)  # sends of one checkout in turn
        if token and quotes.by_confirm_token(connection, token) is not None:
            return False
        answers = by_target(visit.journey, dict(row.answers or {}), only=applies)
        try:
            sent = quotes.send(
                connection,
                shop=visit.shop,
                folders=folders,
                journey=visit.journey,
                step=step,
                cart=visit.priced_cart,
                checkout_id=checkout_id,
                answers=answers,
                payment=dict(row.payment or {}),
                customer=customer,
                member=member,
                percent=percent,
                confirm_token=token,
                keys=quotes.secret_keys(visit.app.config),
                context=context,
                draft=draft,
            )
        except quotes.QuoteRefused as refusal:
            raise StepRefused(Refused({"_form": refusal.message}, status=409)) from None
        visit.messages.append(
            _(DRAFTED if draft else SENT)
            % {
                "number": sent.number,
                "version": sent.version,
                "customer": customer.email,
                "until": readable(sent.valid_until),
            }
        )
        return True

    return Completed(write=write, durable=True, target=target, location=location)
