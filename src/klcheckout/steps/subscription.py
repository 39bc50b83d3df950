"""The steps of a subscription journey: a new plan, a cancellation, a pause.

Each keeps the customer's choice with the checkout, together with the version of
the subscription it was made on; nothing changes until the confirmation step
(``changes.apply``). The one exception is a retention offer: a customer who
accepts it has decided, and the offer is applied there and then.
"""

from __future__ import annotations

import re
from typing import Any

from flask import request
from sqlalchemy import Connection

from kljourney import i18n
from kljourney.i18n import N_, ngettext
from kljourney.i18n import gettext as _
from kljourney.model import CancellationStep, OrderDoneStep, PauseStep, PlanChangeStep, StepBase

from .. import changes, checkouts, subscriptions
from ..clock import now
from ..visit import Visit
from . import handles
from .outcomes import Completed, Outcome, Passed, Refused, StepRefused

MAX_COMMENT = 1000
#: Translated where used, like ``CHANGED``.
NO_OFFER = N_("This offer is not open to your subscription any more. Choose your reason again.")
CHANGED = N_(
    "Your subscription changed meanwhile (in another window, or by our support team). "
    "Here it is as it is now: please choose again."
)


@handles("plan_change")
def choose_plan(visit: Visit, step: StepBase) -> Outcome:
    assert isinstance(step, PlanChangeStep)
    row = visit.subscription
    if row.won_back_by:
        return Refused(
            {
                "_form": _("You ordered again already: see %(subscription)s.")
                % {"subscription": row.won_back_by}
            },
            status=409,
        )
    choices = changes.plan_choices(visit.shop, visit.journey, step, row, now())
    offered = {c.product.id: c for c in choices if c.kind != "current"}
    product = request.form.get("product", "")
    if product not in offered:
        names = i18n.format_list([c.product.name for c in offered.values()])
        values = {"plan": row.name, "plans": names}
        if not names:
            message = _("There is no other plan to choose.")
        elif product == row.product:
            message = _("You have %(plan)s already. Choose one of the plans offered: %(plans)s.")
        else:
            message = _("Choose one of the plans offered: %(plans)s.")
        message = message % values
        return Refused({"product": message}, values={"product": product[:64]})
    if offered[product].kind == "order":
        # Ordered anew (win-back): the plan goes in the cart, and the order is placed
        # at the confirmation like any other, with the journey's discount.
        visit.cart.lines = {product: row.quantity}
        visit.cart.dirty = True
    return Completed(answers={"product": product, **_made_on(row)})


@handles("pause")
def choose_pause(visit: Visit, step: StepBase) -> Outcome:
    assert isinstance(step, PauseStep)
    row = visit.subscription
    if row.status != "active":
        return Refused(
            {
                "_form": _("%(plan)s is not active: only an active subscription can pause.")
                % {"plan": row.name}
            }
        )
    raw = request.form.get("periods", "").strip()
    if not re.fullmatch(r"[0-9]{1,2}", raw) or int(raw) not in step.durations:
        return Refused({"periods": pause_durations_text(step, row.billing)})
    return Completed(answers={"periods": int(raw), **_made_on(row)})


@handles("cancellation")
def choose_cancellation(visit: Visit, step: StepBase) -> Outcome:
    """A reason (and its comment); a reason with an offer shows the offer first, which the
    customer accepts (applied now, the journey ends) or declines (on to confirming)."""
    assert isinstance(step, CancellationStep)
    row = visit.subscription
    if row.status in ("cancelling", "cancelled"):
        return Refused(
            {"_form": _("%(plan)s is cancelled already.") % {"plan": row.name}}, status=409
        )
    reason = step.reason(request.form.get("reason", ""))
    comment = request.form.get("comment", "").strip()
    values = {"reason": request.form.get("reason", "")[:64], "comment": comment[:MAX_COMMENT]}
    if reason is None:
        return Refused({"reason": _("Choose the reason you are leaving.")}, values=values)
    if len(comment) > MAX_COMMENT:
        too_long = ngettext(
            "Keep it under %(count)d character, please.",
            "Keep it under %(count)d characters, please.",
            MAX_COMMENT,
        ) % {"count": MAX_COMMENT}
        return Refused({"comment": too_long}, values=values)
    answers = {"reason": reason.id, "comment": comment if reason.comment else "", **_made_on(row)}
    decision = request.form.get("decision", "")
    saved = visit.answers.get(step.id) or {}
    if decision == "accept" and saved.get("taken") == reason.offer:
        # The same page sent again after the offer was taken: where the first one went.
        return Passed(_done_step(visit) or step)
    offer = reason.offer or ""
    if offer and not changes.offer_applies(visit.shop, offer, row):
        offer = ""  # an offer this subscription cannot take is not made
    if not offer and decision == "accept":  # a page showing an offer that is gone
        return Refused({"reason": _(NO_OFFER)}, status=409, values=values)
    if not offer or decision == "decline":
        return Completed(answers={**answers, "ready": True})
    if decision != "accept":  # show the offer: the page asks to accept or decline it
        return Completed(answers={**answers, "offered": offer}, target=step)
    if saved.get("offered") != offer or saved.get("subscription") != row.public_id:
        # Only an offer shown to this customer, for this subscription, is taken.
        return Refused({"reason": _("Choose the reason you are leaving first.")}, values=values)
    version = int(saved["version"])

    def accept(connection: Connection) -> bool:
        try:
            applied = changes.take_offer(
                connection,
                visit.shop,
                visit.journey,
                step,
                offer,
                row,
                version=version,
                reason=reason.id,
                moment=now(),
            )
        except subscriptions.Changed:
            raise StepRefused(Refused({"_form": _(CHANGED)}, status=409)) from None
        except subscriptions.Refused as refusal:
            raise StepRefused(Refused({"_form": refusal.message}, status=409)) from None
        done = {
            "action": applied.action,
            "text": changes.sentence(applied.action, applied.subscription, visit.shop),
            "offer": offer,
            "token": None,
        }
        # The step remembers the offer was taken: the same page sent again changes nothing.
        kept = {**visit.answers, step.id: {"reason": reason.id, "taken": offer}}
        checkouts.put(
            connection, visit.cart.checkout_id, visit.journey.key, applied=done, answers=kept
        )
        return True

    return Completed(write=accept, durable=True, target=_done_step(visit) or step)


def pause_durations_text(step: PauseStep, billing: str) -> str:
    """The refusal of a pause of a length the step does not offer: which lengths it does."""
    allowed = i18n.format_list([str(d) for d in step.durations])
    longest = max(step.durations, default=0)
    if billing == "monthly":
        message = ngettext(
            "Choose how long to pause: %(durations)s month.",
            "Choose how long to pause: %(durations)s months.",
            longest,
        )
    else:
        message = ngettext(
            "Choose how long to pause: %(durations)s year.",
            "Choose how long to pause: %(durations)s years.",
            longest,
        )
    return message % {"durations": allowed}


def _made_on(row: Any) -> dict[str, Any]:
    """Which subscription, as of which change, a choice was made on: confirming applies it
    to that one only, and only if nothing changed it since."""
    return {"subscription": row.public_id, "version": row.version}


def _done_step(visit: Visit) -> StepBase | None:
    return next((s for s in visit.journey.active_steps if isinstance(s, OrderDoneStep)), None)
