"""What a subscription journey asks for: shown before it is confirmed, applied once after.

A journey with ``subject = "subscription"`` collects its customer's choice in its
plan change, cancellation or pause step (answers kept with the checkout, with the
version of the subscription they were made on). The confirmation step shows the
change this module describes (``pending``): before and after, what is charged or
credited now, the next renewal. Confirming applies it (``apply``) with the version
the choice was made on, so of two confirmations (a double click, two tabs, a
support agent meanwhile) exactly one changes the subscription; the other is told
it changed meanwhile.

What the page shows is made here too (``view``, ``plan_choices``), so the static
pages' script and the pages the backend renders show the same words and figures.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from babel.dates import format_date
from sqlalchemy import Connection

from kljourney import Shop
from kljourney.i18n import N_, ngettext
from kljourney.i18n import gettext as _
from kljourney.model import (
    CancellationStep,
    Journey,
    PauseStep,
    PlanChangeStep,
    Product,
    StepBase,
)

from . import customer_mail, discounts, orders, subscriptions
from .periods import current_period, period_boundary
from .pricing import format_money, format_price
from .proration import prorate

#: A subscription's status as the customer reads it (translated where used).
STATUS_LABELS = {
    # TRANSLATORS: the status of a subscription, on the account page.
    "active": N_("Active"),
    "paused": N_("Paused"),
    "cancelling": N_("Ends at the end of the period"),
    "cancelled": N_("Cancelled"),
}


def per_month(amount: Decimal, billing: str) -> Decimal:
    """A price per month, to compare plans billed monthly and yearly."""
    return amount / 12 if billing == "yearly" else amount


def day(moment: datetime | str | None, locale: str) -> str:
    """A date as customers read it: 'Dec 30, 2026' in en-US, '30.12.2026' in de-DE."""
    if moment is None:
        return ""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return format_date(moment.date(), format="medium", locale=locale.replace("-", "_"))


def money(amount: Decimal, row: Any, locale: str) -> str:
    return format_money(amount, row.currency, locale)


def price(amount: Decimal, row: Any, locale: str, billing: str | None = None) -> str:
    return format_price(amount, row.currency, locale, billing or row.billing)


# -- what the pages show ------------------------------------------------------------------


def view(row: Any, shop: Shop) -> dict[str, Any]:
    """A subscription as the account page and the journeys' pages show it."""
    locale = shop.site.locale
    found: dict[str, Any] = {
        "id": row.public_id,
        "product": row.product,
        "name": row.name,
        "quantity": row.quantity,
        "billing": row.billing,
        "status": row.status,
        "status_label": _(STATUS_LABELS[row.status]) if row.status in STATUS_LABELS else row.status,
        "price": price(Decimal(row.line_total), row, locale),
        "charge": price(subscriptions.charge_of(row), row, locale),
        "period_end": day(row.current_period_end, locale),
        "next_renewal": None,
        "cancel_at": day(row.cancel_at, locale),
        "cancelled_at": day(row.cancelled_at, locale),
        "resume_at": day(row.resume_at, locale),
        "scheduled_change": None,
        "discount": None,
    }
    if row.status == "active":
        found["next_renewal"] = {
            "date": day(row.current_period_end, locale),
            "amount": money(subscriptions.next_charge(row), row, locale),
        }
    elif row.status == "paused" and row.resume_at is not None:
        found["next_renewal"] = {
            "date": day(row.resume_at, locale),
            "amount": money(subscriptions.next_charge(row), row, locale),
        }
    if row.scheduled_change:
        plan = row.scheduled_change
        found["scheduled_change"] = {
            "product": plan["product"],
            "name": plan["name"],
            "price": price(subscriptions.charge_of(row, plan), row, locale),
            "date": day(plan["at"], locale),
        }
    # Each fact also as one line of text, for the pages to show as it is.
    found["next_renewal_text"] = renewal_text(found["next_renewal"])
    scheduled = found["scheduled_change"]
    found["scheduled_change_text"] = (
        # TRANSLATORS: a plan change scheduled for the end of the period:
        # "Pro from Dec 30, 2026, €29.00 / month".
        _("%(plan)s from %(date)s, %(price)s")
        % {"plan": scheduled["name"], "date": scheduled["date"], "price": scheduled["price"]}
        if scheduled
        else ""
    )
    if row.status != "paused":
        found["resume_at"] = ""
    found["discount_text"] = ""
    if row.discount:
        left = row.discount.get("periods_left")
        found["discount"] = {
            "id": row.discount["id"],
            "name": row.discount["name"],
            "periods_left": left,
            "text": discount_text(row.discount["name"], left),
        }
        found["discount_text"] = found["discount"]["text"]
    return found


def renewal_text(renewal: dict[str, str] | None) -> str:
    """The next renewal as one line: 'Dec 30, 2026: €9.90'."""
    if not renewal:
        return ""
    # TRANSLATORS: the next renewal of a subscription: its date and what it charges.
    return _("%(date)s: %(amount)s") % {"date": renewal["date"], "amount": renewal["amount"]}


def discount_text(name: str, left: int | None) -> str:
    """A subscription's discount with the renewals it still reduces (None: all of them)."""
    if left is None:
        return name
    return ngettext(
        "%(discount)s (%(count)d more renewal)", "%(discount)s (%(count)d more renewals)", left
    ) % {"discount": name, "count": left}


#: What a plan change step calls each plan it offers (translated where used).
CHOICE_LABELS = {
    "current": N_("Your plan"),
    "upgrade": N_("Upgrade"),
    "downgrade": N_("Downgrade"),
    "order": N_("Order again"),
}


@dataclass(frozen=True)
class PlanChoice:
    """One plan a plan change step offers, and what choosing it means now."""

    product: Product
    #: current, upgrade, downgrade, or order (a cancelled subscription ordered again)
    kind: str
    #: now or period_end
    timing: str
    #: What one period of it costs this subscription (its discount taken off).
    charge: Decimal
    #: What changing now charges (positive) or credits (negative); None at period end.
    now: Decimal | None = None
    days_left: int = 0

    def as_json(self, row: Any, locale: str) -> dict[str, Any]:
        billing = self.product.billing
        found = {
            "product": self.product.id,
            "name": self.product.name,
            "kind": self.kind,
            "timing": self.timing,
            "price": price(self.charge, row, locale, billing),
            "label": _(CHOICE_LABELS[self.kind]),
            "when": self.when_text(row, locale),
        }
        return found

    def when_text(self, row: Any, locale: str) -> str:
        if self.kind == "current":
            return _("What you have now.")
        if self.kind == "order":
            return _("Starts today.")
        if self.timing == "period_end":
            return _("From %(date)s, the end of your current period.") % {
                "date": day(row.current_period_end, locale)
            }
        if self.now is None or self.now == 0:
            return _("From today, at no charge for the rest of this period.")
        days = self.days_left
        if self.now > 0:
            return ngettext(
                "From today: %(amount)s now for the %(count)d day left.",
                "From today: %(amount)s now for the %(count)d days left.",
                days,
            ) % {"amount": money(self.now, row, locale), "count": days}
        return ngettext(
            "From today: %(amount)s credited for the %(count)d day left.",
            "From today: %(amount)s credited for the %(count)d days left.",
            days,
        ) % {"amount": money(-self.now, row, locale), "count": days}


def plan_choices(
    shop: Shop, journey: Journey, step: PlanChangeStep, row: Any, moment: datetime
) -> list[PlanChoice]:
    """The plans ``step`` offers this subscription, with what each means now.

    Only plans billed like the subscription are offered (a change keeps the period);
    a cancelled subscription is offered every plan of the selection, ordered anew
    with the journey's discount (win-back).
    """
    selection = shop.product_selections[step.product_selection]
    products = [shop.products[p] for p in selection.products if p in shop.products]
    if row.status == "cancelled":
        discount = shop.discount(journey)
        found = []
        for product in products:
            plan = subscriptions.plan_of(product, row.quantity, row.currency)
            charge = Decimal(plan["line_total"])
            if discount is not None and discount.applies_to(product):
                charge = discounts.reduce(charge, discount, row.currency)
            found.append(PlanChoice(product, "order", "now", charge))
        return found
    current = per_month(Decimal(row.line_total), row.billing)
    found = []
    for product in products:
        if product.billing != row.billing:
            continue
        plan = subscriptions.plan_of(product, row.quantity, row.currency)
        charge = subscriptions.charge_of(row, plan)
        if product.id == row.product:
            found.append(PlanChoice(product, "current", "now", charge))
            continue
        upgrade = per_month(Decimal(plan["line_total"]), product.billing) > current
        policy = step.upgrade if upgrade else step.downgrade
        timing = "now" if policy == "immediately" else "period_end"
        kind = "upgrade" if upgrade else "downgrade"
        if timing == "period_end":
            found.append(PlanChoice(product, kind, timing, charge))
            continue
        if step.proration == "none":
            found.append(PlanChoice(product, kind, timing, charge, Decimal(0)))
            continue
        proration = prorate(
            subscriptions.charge_of(row),
            charge,
            row.current_period_start,
            row.current_period_end,
            moment,
            row.currency,
        )
        found.append(
            PlanChoice(product, kind, timing, charge, proration.amount, proration.days_left)
        )
    return found


# -- what the journey's answers ask for --------------------------------------------------------


@dataclass
class Pending:
    """The change a subscription journey's answers ask for, before it is confirmed."""

    #: plan_change, order (win-back), cancel, pause
    kind: str
    step: StepBase
    #: The subscription's version when the customer chose.
    version: int
    choice: PlanChoice | None = None
    immediately: bool = False
    periods: int = 0
    reason: str = ""
    comment: str = ""
    details: dict[str, Any] = field(default_factory=dict)


def pending(
    shop: Shop,
    journey: Journey,
    answers: dict[str, Any],
    row: Any,
    moment: datetime,
    applies: Any = None,
) -> Pending | None:
    """The first answered subscription step's change, or None when nothing is chosen."""
    for step in journey.active_steps:
        if applies is not None and not applies(step):
            continue
        saved = answers.get(step.id)
        if not saved or saved.get("subscription") != row.public_id:
            continue  # nothing chosen here, or chosen for another subscription
        version = int(saved.get("version", -1))
        if isinstance(step, PlanChangeStep):
            choices = {c.product.id: c for c in plan_choices(shop, journey, step, row, moment)}
            choice = choices.get(saved.get("product", ""))
            if choice is None or choice.kind == "current":
                return None
            kind = "order" if choice.kind == "order" else "plan_change"
            return Pending(kind, step, version, choice=choice)
        if isinstance(step, CancellationStep) and saved.get("ready"):
            return Pending(
                "cancel",
                step,
                version,
                immediately=step.effective == "immediately",
                reason=str(saved.get("reason", "")),
                comment=str(saved.get("comment", "")),
            )
        if isinstance(step, PauseStep):
            return Pending("pause", step, version, periods=int(saved.get("periods", 0)))
    return None


def chosen_on_older_version(journey: Journey, answers: dict[str, Any], row: Any) -> bool:
    """Whether an answer about this subscription was given on a version it no longer has."""
    for step in journey.active_steps:
        saved = answers.get(step.id)
        if saved and saved.get("subscription") == row.public_id:
            if int(saved.get("version", -1)) != row.version:
                return True
    return False


def describe(pending: Pending, row: Any, shop: Shop, moment: datetime) -> dict[str, Any]:
    """The confirmation page's summary: before, after, what happens now, the next renewal."""
    locale = shop.site.locale
    before = {"name": row.name, "price": price(subscriptions.charge_of(row), row, locale)}
    summary: dict[str, Any] = {"kind": pending.kind, "before": before, "now": None}
    if pending.kind in ("plan_change", "order"):
        choice = pending.choice
        assert choice is not None
        after_price = price(choice.charge, row, locale, choice.product.billing)
        summary["after"] = {"name": choice.product.name, "price": after_price}
        if pending.kind == "order":
            summary["title"] = _("Order %(plan)s again") % {"plan": choice.product.name}
            # TRANSLATORS: when a subscription change takes effect.
            summary["effective"] = _("Today")
            summary["now"] = {
                "label": _("Charged now"),
                "amount": money(choice.charge, row, locale),
            }
            end = period_boundary(moment, choice.product.billing, 1)
            summary["next_renewal"] = {"date": day(end, locale), "amount": after_price}
        elif choice.timing == "period_end":
            summary["title"] = _("Change from %(plan)s to %(new_plan)s") % {
                "plan": row.name,
                "new_plan": choice.product.name,
            }
            summary["effective"] = day(row.current_period_end, locale)
            summary["next_renewal"] = {
                "date": day(row.current_period_end, locale),
                "amount": money(choice.charge, row, locale),
            }
        else:
            summary["title"] = _("Change from %(plan)s to %(new_plan)s") % {
                "plan": row.name,
                "new_plan": choice.product.name,
            }
            summary["effective"] = _("Today")
            if choice.now:
                label = _("Charged now") if choice.now > 0 else _("Credited now")
                summary["now"] = {"label": label, "amount": money(abs(choice.now), row, locale)}
            summary["next_renewal"] = {
                "date": day(row.current_period_end, locale),
                "amount": money(choice.charge, row, locale),
            }
    elif pending.kind == "cancel":
        ends = moment if pending.immediately else max(row.current_period_end, moment)
        summary["title"] = _("Cancel %(plan)s") % {"plan": row.name}
        summary["after"] = {"name": _("Cancelled"), "price": ""}
        summary["effective"] = _("Today") if pending.immediately else day(ends, locale)
        summary["next_renewal"] = None
    else:  # pause
        resume = _resume_at(row, pending.periods)
        summary["title"] = _("Pause %(plan)s") % {"plan": row.name}
        summary["after"] = {
            "name": _("Paused until %(date)s") % {"date": day(resume, locale)},
            "price": "",
        }
        summary["effective"] = day(row.current_period_end, locale)
        summary["next_renewal"] = {
            "date": day(resume, locale),
            "amount": money(subscriptions.next_charge(row), row, locale),
        }
    return _as_lines(summary)


def _as_lines(summary: dict[str, Any]) -> dict[str, Any]:
    """The summary's facts as lines of text, as the confirmation page shows them."""
    before, after = summary["before"], summary["after"]
    summary["before_text"] = ", ".join(x for x in (before["name"], before["price"]) if x)
    summary["after_text"] = ", ".join(x for x in (after["name"], after["price"]) if x)
    now_part = summary["now"]
    summary["now_label"] = now_part["label"] if now_part else ""
    summary["now_text"] = now_part["amount"] if now_part else ""
    summary["next_text"] = renewal_text(summary.get("next_renewal"))
    summary["button"] = _(BUTTONS[summary["kind"]])
    return summary


#: The confirmation button of each kind of change (translated where used).
BUTTONS = {
    "order": N_("Order and pay"),
    "plan_change": N_("Confirm the change"),
    "cancel": N_("Cancel my subscription"),
    "pause": N_("Pause my subscription"),
}


def pause_choices(step: PauseStep, row: Any, locale: str) -> list[dict[str, Any]]:
    """The durations a pause step offers, each with the day billing starts again."""
    return [
        {
            "periods": periods,
            "label": periods_text(periods, row.billing),
            "resume": day(_resume_at(row, periods), locale),
        }
        for periods in step.durations
    ]


def periods_text(count: int, billing: str) -> str:
    """A number of billing periods: '3 months', '1 year'."""
    if billing == "monthly":
        return ngettext("%(count)d month", "%(count)d months", count) % {"count": count}
    return ngettext("%(count)d year", "%(count)d years", count) % {"count": count}


def _resume_at(row: Any, periods: int) -> datetime:
    start = current_period(row.started_at, row.billing, row.current_period_end)[0]
    paid = subscriptions.period_index(row.started_at, row.billing, start)
    return period_boundary(row.started_at, row.billing, paid + periods)


# -- applying it, once --------------------------------------------------------------------------


@dataclass(frozen=True)
class Applied:
    action: str
    subscription: dict[str, Any]
    #: The number of the order the change made (a prorated charge or credit), if any.
    order_number: str | None = None


def apply(
    connection: Connection,
    shop: Shop,
    journey: Journey,
    pending: Pending,
    row: Any,
    *,
    token: str | None,
    moment: datetime,
) -> Applied:
    """Make the change in the caller's transaction, announce it and email the customer.

    ``subscriptions.Changed`` when the subscription is not the version the customer
    chose on; ``subscriptions.Refused`` when its state no longer allows the change.
    """
    if row.version != pending.version:
        raise subscriptions.Changed()
    reason = pending.reason + (f": {pending.comment}" if pending.comment else "")
    common: dict[str, Any] = {"actor": "customer", "reason": reason, "moment": moment}
    order_number = None
    extra: dict[str, Any] = {}
    if pending.kind == "plan_change":
        choice = pending.choice
        assert choice is not None
        plan = subscriptions.plan_of(choice.product, row.quantity, row.currency)
        if choice.timing == "period_end":
            action, after = subscriptions.schedule_change(connection, row, plan, **common)
        else:
            action, after = subscriptions.change_plan(connection, row, plan, **common)
            if choice.now:
                order_number = orders.place_proration(
                    connection,
                    row=row,
                    journey=journey,
                    product=choice.product,
                    amount=choice.now,
                    days=(choice.days_left, _days_in_period(row)),
                    moment=moment,
                )
                extra = {"order_number": order_number, "prorated": str(choice.now)}
        extra["from"] = {"product": row.product, "name": row.name, "line_total": row.line_total}
    elif pending.kind == "cancel":
        action, after = subscriptions.cancel(
            connection, row, immediately=pending.immediately, **common
        )
        extra = {"reason": pending.reason, "comment": pending.comment}
    elif pending.kind == "pause":
        action, after = subscriptions.pause(connection, row, periods=pending.periods, **common)
    else:
        raise ValueError(f"{pending.kind!r} is applied by placing an order")
    subscriptions.announce(connection, shop, row, action, after, extra, via=journey)
    notify(connection, journey, row, action, after, shop, order_number)
    return Applied(action, after, order_number)


def _days_in_period(row: Any) -> int:
    return (row.current_period_end.date() - row.current_period_start.date()).days


def take_offer(
    connection: Connection,
    shop: Shop,
    journey: Journey,
    step: CancellationStep,
    offer: str,
    row: Any,
    *,
    version: int,
    reason: str,
    moment: datetime,
) -> Applied:
    """The customer took the retention offer instead of cancelling."""
    if row.version != version:
        raise subscriptions.Changed()
    kind, _colon, name = offer.partition(":")
    common: dict[str, Any] = {
        "actor": "customer",
        "reason": f"offer instead of cancelling ({reason})",
        "moment": moment,
    }
    if kind == "discount":
        action, after = subscriptions.give_discount(connection, row, shop.discounts[name], **common)
    elif kind == "pause":
        action, after = subscriptions.pause(connection, row, periods=step.pause_periods, **common)
    else:
        plan = subscriptions.plan_of(shop.products[name], row.quantity, row.currency)
        action, after = subscriptions.schedule_change(connection, row, plan, **common)
    subscriptions.announce(connection, shop, row, action, after, {"offer": offer}, via=journey)
    notify(connection, journey, row, action, after, shop)
    return Applied(action, after)


def offer_applies(shop: Shop, offer: str, row: Any) -> bool:
    """Whether this subscription can take the offer now: a discount that covers its plan
    while it runs, a pause while it is active, another plan billed alike while it is
    active. An offer it cannot take is not made; the customer goes on cancelling."""
    kind, _colon, name = offer.partition(":")
    if kind == "discount":
        discount = shop.discounts.get(name)
        # A running subscription without a discount of its own (one would be replaced).
        running = row.status in ("active", "cancelling") and not row.discount
        current = shop.products.get(row.product)
        return (
            running
            and discount is not None
            and current is not None
            and discount.applies_to(current)
        )
    if kind == "pause":
        return row.status == "active"
    product = shop.products.get(name)
    return (
        row.status == "active"
        and product is not None
        and product.id != row.product
        and product.billing == row.billing
        and not row.scheduled_change
    )


def offer_text(shop: Shop, step: CancellationStep, offer: str, row: Any) -> str:
    """The retention offer as the customer reads it."""
    kind, _colon, name = offer.partition(":")
    locale = shop.site.locale
    now_price = price(Decimal(row.line_total), row, locale)
    if kind == "discount":
        discount = shop.discounts[name]
        reduced = price(
            discounts.reduce(Decimal(row.line_total), discount, row.currency), row, locale
        )
        return _("Stay with %(plan)s and get %(discount)s: %(price)s instead of %(old_price)s.") % {
            "plan": row.name,
            "discount": discount.name,
            "price": reduced,
            "old_price": now_price,
        }
    if kind == "pause":
        periods = step.pause_periods
        values = {"plan": row.name, "count": periods}
        if row.billing == "monthly":
            return (
                ngettext(
                    "Take a break instead: pause %(plan)s for %(count)d month "
                    "and pay nothing meanwhile.",
                    "Take a break instead: pause %(plan)s for %(count)d months "
                    "and pay nothing meanwhile.",
                    periods,
                )
                % values
            )
        return (
            ngettext(
                "Take a break instead: pause %(plan)s for %(count)d year "
                "and pay nothing meanwhile.",
                "Take a break instead: pause %(plan)s for %(count)d years "
                "and pay nothing meanwhile.",
                periods,
            )
            % values
        )
    product = shop.products[name]
    plan = subscriptions.plan_of(product, row.quantity, row.currency)
    cheaper = price(Decimal(plan["line_total"]), row, locale, product.billing)
    since = day(row.current_period_end, locale)
    return _("Switch to %(plan)s instead, for %(price)s from %(date)s.") % {
        "plan": product.name,
        "price": cheaper,
        "date": since,
    }


# -- telling the customer ----------------------------------------------------------------------

#: One sentence about each change (translated where used, ``sentence``).
SENTENCES = {
    "changed": N_("Your plan is now %(name)s."),
    "change_scheduled": N_("Your plan changes to %(scheduled)s on %(scheduled_date)s."),
    "change_unscheduled": N_("You keep %(name)s: the planned change was dropped."),
    "cancel_scheduled": N_("%(name)s ends on %(cancel_at)s. You can undo this until then."),
    "cancelled": N_("%(name)s is cancelled."),
    "reactivated": N_("%(name)s goes on: the cancellation was undone."),
    "paused": N_("%(name)s is paused until %(resume_at)s; you pay nothing meanwhile."),
    "resumed": N_("%(name)s is running again."),
    "discounted": N_("%(name)s now comes with %(discount)s."),
    "won_back": N_("Welcome back: your new subscription starts today."),
}


def sentence(action: str, after: dict[str, Any], shop: Shop) -> str:
    """One sentence about a change, for the email and the done page."""
    locale = shop.site.locale
    scheduled = after.get("scheduled_change") or {}
    values = {
        "name": after["name"],
        "scheduled": scheduled.get("name", ""),
        "scheduled_date": day(scheduled.get("at"), locale),
        "cancel_at": day(after.get("cancel_at"), locale),
        "resume_at": day(after.get("resume_at"), locale),
        "discount": (after.get("discount") or {}).get("name", ""),
    }
    return _(SENTENCES[action]) % values


def notify(
    connection: Connection,
    journey: Journey | None,
    row: Any,
    action: str,
    after: dict[str, Any],
    shop: Shop,
    order_number: str | None = None,
) -> None:
    """The customer's email about a change they made (with the number of the order that
    charged or credited it, if one did)."""
    text = sentence(action, after, shop)
    status = after.get("status", "")
    data = {
        "summary": text,
        "action": action,
        "subscription": after,
        "order_number": order_number,
        # As the customer reads them, in their language.
        "status_label": _(STATUS_LABELS[status]) if status in STATUS_LABELS else status,
        "price": format_price(
            Decimal(str(after.get("line_total", "0"))),
            str(after.get("currency", "EUR")),
            shop.site.locale,
            str(after.get("billing", "one_time")),
        ),
    }
    customer_mail.queue(
        connection,
        to=row.email,
        template="subscription_changed",
        subject=_("Your subscription: %(change)s") % {"change": text},
        data=data,
        journey=journey,
    )
