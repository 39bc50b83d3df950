"""Quotes: what staff offer a customer before it is an order (``confirmation_type = "quote"``).

A member of staff walks a journey for a customer (found by its ``customer_lookup``)
and, at its quote step, sends a quote instead of placing an order: its lines and
totals are frozen as priced then, with the member's discount (at most their role's
limit, ``[quotes] discount_limits``), valid for the step's ``valid_days``. The
customer gets an email with a link (a random token whose SHA-256 alone is kept) to
the quote page, where they accept it (their name and a tick) or decline it.

Accepting places the order from the frozen lines, once: the version's status moves
from "sent" to "accepted" in one conditional statement, and the order's unique
``checkout_id`` (``quote-<id>``) catches whatever might race it. Walking the same
checkout again and sending revises the quote: a new version under the same number,
the older one superseded (its link then points to the newer one).

Every change is written in one transaction with its row in the audit trail and its
hook event, like an order.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from flask import has_request_context, request
from sqlalchemy import Connection, and_, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from kljourney import Shop, i18n
from kljourney.i18n import N_
from kljourney.i18n import gettext as _
from kljourney.model import Discount, Journey, Product, with_query
from kljourney.money import tax_included

from . import audit, checkouts, customer_mail, security, subscriptions
from .accounts import token_hash
from .clock import now, readable, shown
from .discounts import reduce
from .handovers import customer_language
from .hooks import events
from .orders import ALPHABET, INSERT_LINES, INSERT_ORDER, new_number
from .pricing import PricedCart, PricedLine
from .tables import orders, quotes, staff

Status = Literal["draft", "sent", "accepted", "declined", "expired", "superseded", "withdrawn"]
STATUSES: tuple[Status, ...] = (
    "draft",
    "sent",
    "accepted",
    "declined",
    "expired",
    "superseded",
    "withdrawn",
)
#: How many of the token's characters are kept in the clear (as for hand-overs).
PREFIX_LENGTH = 8
#: The email's template (``templates/emails/quote.html`` and ``.txt``).
EMAIL = "quote"
#: The id of the discount a member of staff gives (it shows on the lines it reduces).
STAFF_DISCOUNT = "quote-discount"
#: The longest name and reason the quote page takes.
NAME_LENGTH, REASON_LENGTH = 200, 2000


class QuoteRefused(Exception):
    """Something asked of a quote that cannot be done; the message says why and what to do."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Sent:
    number: str
    version: int
    token: str
    valid_until: datetime
    #: The version this one superseded (0: the first, or a draft rewritten).
    revised: int = 0
    #: Saved, not sent: the customer was told nothing.
    draft: bool = False


def new_quote_number() -> str:
    """'Q-2026-4F7Q-9K2M': like an order's number, with Q for quote."""
    code = "".join(secrets.choice(ALPHABET) for _ in range(8))
    return f"Q-{now().year}-{code[:4]}-{code[4:]}"


def secret_keys(config: Any) -> list[str]:
    """The app's secret keys, newest first (``KEYLIGHT_SECRET_KEYS``, or the development
    secret ``settings.finish`` made when it is not set)."""
    return [config["SECRET_KEY"], *config.get("SECRET_KEY_FALLBACKS", [])]


def link_token(keys: Sequence[str], number: str, version: int, nonce: str) -> str:
    """A version's link token: an HMAC of the version and a random nonce under the
    shop's first secret key. The database keeps the token's SHA-256 and the nonce, never
    the token, and neither makes a link without the secret key; with it, the page of a
    superseded version can link to the newer one (``token_of``)."""
    message = f"quote|{number}|{version}|{nonce}".encode()
    mac = hmac.new(keys[0].encode(), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def token_of(keys: Sequence[str], row: Any) -> str | None:
    """The token of a version's current link (made under any of the keys, newest first:
    a key rotated out still names the links it made); None when none matches."""
    for key in keys:
        token = link_token([key], row.number, row.version, row.token_nonce)
        if hmac.compare_digest(token_hash(token), row.token_hash):
            return token
    return None


def status(row: Any, moment: datetime | None = None) -> Status:
    """Where a version stands: a sent quote past its ``valid_until`` is expired even
    before the worker marks it so."""
    if row.status == "sent" and row.valid_until <= (moment or now()):
        return "expired"
    return row.status


# -- the member's discount (pure) -------------------------------------------------------------

#: Translated where used.
NOT_A_PERCENTAGE = N_(
    "Enter the discount as a percentage from 0 to 100, such as 10 or 12.5 (or leave it empty)."
)
ABOVE_LIMIT = N_(
    "A discount of %(percent)s %% is more than your role may give: at most %(limit)s %%. "
    "Lower it, or ask someone whose limit is higher."
)
NOT_WITH_JOURNEY_DISCOUNT = N_(
    "This journey already gives the discount “%(discount)s”, and a quote's discount does not "
    "add to it: leave the discount empty."
)


#: A percentage as people type it: digits, and at most two after the point.
PERCENTAGE = re.compile(r"[0-9]{1,3}(\.[0-9]{1,2})?")


def parse_discount(text: str, limit: Decimal) -> Decimal:
    """The discount a member typed, in percent (empty: none); refused with a message that
    names the member's ``limit`` when it is above it."""
    text = (text or "").strip().replace(",", ".").rstrip("%").strip()
    if not text:
        return Decimal(0)
    if not PERCENTAGE.fullmatch(text):  # Decimal would read "1e1" and "Infinity" too
        raise QuoteRefused(_(NOT_A_PERCENTAGE))
    try:
        percent = Decimal(text)
    except InvalidOperation:
        raise QuoteRefused(_(NOT_A_PERCENTAGE)) from None
    if not percent.is_finite() or not 0 <= percent <= 100 or percent != round(percent, 2):
        raise QuoteRefused(_(NOT_A_PERCENTAGE))
    if percent > limit:
        raise QuoteRefused(_(ABOVE_LIMIT) % {"percent": _plain(percent), "limit": _plain(limit)})
    return Decimal(_plain(percent)) if percent else Decimal(0)


def _plain(number: Decimal) -> str:
    """12.50 as "12.5", 15.00 as "15"."""
    return format(number.normalize(), "f")


def with_discount(priced: PricedCart, percent: Decimal) -> PricedCart:
    """The cart with ``percent`` off every line (the member's discount on a quote)."""
    if not percent:
        return priced
    name = _("Discount of %(percent)s %%") % {"percent": _plain(percent)}
    discount = Discount(id=STAFF_DISCOUNT, name=name, percent=_plain(percent))
    lines = []
    for line in priced.lines:
        reduced = reduce(line.line_total, discount, priced.currency)
        tax = tax_included(reduced, line.product.tax_rate, priced.currency)
        lines.append(
            replace(
                line, line_total=reduced, tax=tax, discount=discount, list_total=line.line_total
            )
        )
    return PricedCart(lines, priced.currency, priced.locale)


# -- sending ----------------------------------------------------------------------------------


def latest_for_checkout(connection: Connection, checkout_id: str) -> Any:
    """The newest version made from a checkout (walking it again revises it), or None."""
    query = (
        select(quotes)
        .where(quotes.c.checkout_id == checkout_id)
        .order_by(quotes.c.id.desc())
        .limit(1)
    )
    return connection.execute(query).first()


def by_confirm_token(connection: Connection, token: str) -> Any:
    return connection.execute(select(quotes).where(quotes.c.confirm_token == token)).first()


def send(
    connection: Connection,
    *,
    shop: Shop,
    folders: Any,
    journey: Journey,
    step: Any,
    cart: PricedCart,
    checkout_id: str,
    answers: dict[str, Any],
    payment: dict[str, Any],
    customer: Any,
    member: Any,
    percent: Decimal,
    confirm_token: str | None,
    keys: Sequence[str],
    context: dict[str, Any] | None = None,
    draft: bool = False,
) -> Sent:
    """Freeze the cart, with ``percent`` off, into a new quote (or a new version of the
    checkout's quote), email the customer its link, and record and announce it; in the
    caller's transaction, which holds the checkout's row locked (two sends at once make
    two versions, in turn).

    A ``draft`` is frozen and recorded but not sent: the customer hears of nothing, and
    the version they may hold stays open. A draft is never shown to anyone, so saving or
    sending the checkout's quote again rewrites it in place rather than adding a version.
    """
    moment = now()
    previous = latest_for_checkout(connection, checkout_id)
    if previous is not None and previous.customer_id != customer.id:
        # A quote is one customer's: never a version of another's (whose link would lead
        # to it). The lookup begins a new checkout for another customer; this holds anyway.
        previous = None
    if previous is not None and previous.status == "accepted":
        raise QuoteRefused(
            _(
                "Quote %(number)s was accepted and is order %(order)s now. Start a new quote "
                "from the journey's first page."
            )
            % {"number": previous.number, "order": previous.order_number}
        )
    rewrites = previous is not None and previous.status == "draft"
    locale = _language_of(connection, shop, customer.id)
    spoken = shop.in_language(locale)
    entity = shop.entity(journey)
    with i18n.speaking(locale, folders):
        # The discount's label is the customer's to read, on the quote and its order.
        priced = with_discount(cart, percent)
        shown_cart = PricedCart(priced.lines, priced.currency, spoken.site.locale)
        view = {
            "lines": shown_cart.lines_json(),
            "totals": shown_cart.formatted_totals(),
            "links": request_base(),
        }
    if previous is None:
        number, version = new_quote_number(), 1
    else:
        number = previous.number
        version = previous.version if rewrites else previous.version + 1
    nonce = secrets.token_urlsafe(16)
    token = link_token(keys, number, version, nonce)
    valid_until = moment + timedelta(days=step.quote_days)
    seller = {
        key: getattr(entity, key)
        for key in ("name", "address", "vat_id", "terms_url", "withdrawal_url", "privacy_url")
    }
    values = {
        "number": number,
        "version": version,
        "status": "draft" if draft else "sent",
        "token_hash": token_hash(token),
        "token_prefix": token[:PREFIX_LENGTH],
        "token_nonce": nonce,
        "checkout_id": checkout_id,
        "confirm_token": confirm_token,
        "journey_key": journey.key,
        "journey_version": journey.version,
        "step_id": step.id,
        "business_entity": entity.id,
        "order_channel": journey.order_channel,
        "customer_id": customer.id,
        "email": customer.email,
        "staff_id": member.id,
        "partner": member.partner,
        "currency": entity.currency,
        "lines": [_frozen(line) for line in priced.lines],
        "totals": priced.totals(),
        "shown": view,
        "discount_percent": _plain(percent),
        "answers": answers,
        "payment_method": payment.pop("method", "") or "none",
        "payment": payment,
        "seller": seller,
        "locale": locale,
        "valid_until": valid_until,
        "created_at": moment,
        "sent_at": None if draft else moment,
    }
    if rewrites:
        connection.execute(update(quotes).where(quotes.c.id == previous.id).values(**values))
        quote_id = previous.id
    else:
        quote_id = connection.execute(
            insert(quotes).values(**values).returning(quotes.c.id)
        ).scalar_one()
    who = {"actor": "staff", "who": member.email, "at": moment}
    if previous is None:
        detail = {"version": version, "valid_until": events.stamp(valid_until), "draft": draft}
        audit.record(connection, "quote", number, "created", detail=detail, **who)
    elif not rewrites:  # a draft saved again is the same version: no revision
        detail = {"from_version": previous.version, "to_version": version, "draft": draft}
        audit.record(connection, "quote", number, "revised", detail=detail, **who)
    if percent and not (rewrites and previous.discount_percent == _plain(percent)):
        limit = shop.quotes.limit_of(member.role)
        audit.record(
            connection,
            "quote",
            number,
            "discount_given",
            detail={"version": version, "percent": _plain(percent), "limit": _plain(limit)},
            **who,
        )
    row = connection.execute(select(quotes).where(quotes.c.id == quote_id)).one()
    if not draft:
        _deliver(
            connection, shop, folders, row, token, member=member, journey=journey, context=context
        )
    revised = previous.version if previous is not None and not rewrites else 0
    return Sent(number, version, token, valid_until, revised, draft=draft)


def send_draft(
    connection: Connection, shop: Shop, folders: Any, number: str, keys: Sequence[str]
) -> Any:
    """Send quote ``number``'s draft as it was saved (``quotes send``): valid from now for
    as many days as it was made for, emailed, recorded and announced like a send from the
    journey's page. The version sent."""
    row = newest(connection, number.strip().upper())
    if row is None:
        raise QuoteRefused(f"no quote {number!r}; `klcheckout quotes list` shows them")
    if row.status != "draft":
        raise QuoteRefused(
            f"quote {row.number} (version {row.version}) is {status(row)}, not a draft: "
            "`klcheckout quotes resend` emails a sent quote again"
        )
    moment = now()
    nonce = secrets.token_urlsafe(16)
    token = link_token(keys, row.number, row.version, nonce)
    connection.execute(
        update(quotes)
        .where(quotes.c.id == row.id, quotes.c.status == "draft")
        .values(
            status="sent",
            token_hash=token_hash(token),
            token_prefix=token[:PREFIX_LENGTH],
            token_nonce=nonce,
            valid_until=moment + (row.valid_until - row.created_at),
            sent_at=moment,
        )
    )
    row = connection.execute(select(quotes).where(quotes.c.id == row.id)).one()
    journey = shop.journeys.get(row.journey_key)
    context = _context(journey, row) if journey is not None else None
    _deliver(connection, shop, folders, row, token, member=None, journey=journey, context=context)
    return row


def _deliver(
    connection: Connection,
    shop: Shop,
    folders: Any,
    row: Any,
    token: str,
    *,
    member: Any,
    journey: Journey | None,
    context: dict[str, Any] | None,
) -> None:
    """What sending a version does once it is stored as sent: the versions the customer
    may still hold are superseded, the customer is emailed the link, and the send is
    recorded (by ``member``, or by an operator's command) and announced."""
    moment = row.sent_at
    connection.execute(
        update(quotes)
        .where(quotes.c.number == row.number, quotes.c.id != row.id, quotes.c.status == "sent")
        .values(status="superseded", decided_at=moment)
    )
    sender = member if member is not None else member_of(connection, row.staff_id)
    _email(connection, shop, folders, row, token, sender)
    who = {"actor": "staff", "who": member.email} if member is not None else {"actor": "system"}
    audit.record(
        connection,
        "quote",
        row.number,
        "sent",
        detail={"version": row.version, "to": row.email},
        at=moment,
        **who,
    )
    if journey is not None:
        events.enqueue(
            connection,
            journey,
            "quote_sent",
            {"quote": event_json(row, sender)},
            step=journey.step(row.step_id),
            context=context,
        )


def _email(
    connection: Connection, shop: Shop, folders: Any, row: Any, token: str, sender: Any
) -> None:
    """The customer's email with the link to a version, in the quote's language."""
    spoken = shop.in_language(row.locale)
    links = row.shown.get("links") or {}
    with i18n.speaking(row.locale, folders):
        customer_mail.queue(
            connection,
            to=row.email,
            template=EMAIL,
            subject=_("%(shop)s: your quote %(number)s")
            % {"shop": spoken.site.title, "number": row.number},
            data={
                "link": page_link(spoken.site, token, links),
                "backend_link": backend_link(spoken.site, token, links),
                "number": row.number,
                "version": row.version,
                "shop": spoken.site.title,
                "sent_by": sender.email if sender is not None else spoken.site.title,
                "valid_until": readable(row.valid_until),
                "total": total_text(row),
                "seller": row.seller.get("name", ""),
            },
            journey=shop.journeys.get(row.journey_key),
        )


def total_text(row: Any) -> str:
    """What a quote costs, by when it is paid: '€249.00 once + €9.90 / month'. One sum of
    a one-time and a recurring amount is no price anybody pays. In the quote's language
    as frozen, but for the word "once", in the language being written."""
    totals = row.shown["totals"]
    billings = {line["billing"] for line in row.lines}
    parts = []
    if "one_time" in billings:
        parts.append(_("%(amount)s once") % {"amount": totals["one_time_gross"]})
    parts += [totals[f"{period}_gross"] for period in ("monthly", "yearly") if period in billings]
    return " + ".join(parts)


def _frozen(line: PricedLine) -> dict[str, Any]:
    product = line.product
    found: dict[str, Any] = {
        "product": product.id,
        "name": product.name,
        "quantity": line.quantity,
        "billing": product.billing,
        "unit_price": str(line.unit_price),
        "line_total": str(line.line_total),
        "list_total": str(line.full_total),
        "tax_rate": str(product.tax_rate),
        "tax": str(line.tax),
    }
    if line.discount is not None:
        found["discount"] = {
            "id": line.discount.id,
            "name": line.discount.name,
            "percent": str(line.discount.percent) if line.discount.percent is not None else None,
            "amount": str(line.discount.amount) if line.discount.amount is not None else None,
            "periods": line.discount.periods,
        }
    return found


def _language_of(connection: Connection, shop: Shop, customer_id: int) -> str:
    return customer_language(connection, shop, customer_id)


def request_base() -> dict[str, str]:
    """This request's origin and the backend's path on it: links made later, with no
    request to read them from (``quotes resend``), lead where the first one did."""
    if not has_request_context():
        return {}
    return {"origin": request.host_url.rstrip("/"), "root": request.script_root}


def page_link(site: Any, token: str, base: dict[str, str]) -> str:
    """The quote page's address with the token in its fragment: browsers send a fragment
    to no server, so the token is in no access log and no referrer."""
    url = site.pages_url + "quote/"
    if "://" not in url:
        url = base.get("origin", "") + url
    return with_query(url, site.language_query) + "#" + token


def backend_link(site: Any, token: str, base: dict[str, str]) -> str:
    """The same page as the backend renders it, for a browser without JavaScript."""
    return security.backend_address(site, f"/quote/{token}/page", base)


# -- the customer's link ----------------------------------------------------------------------


def find(connection: Connection, token: str) -> Any:
    """The version of a link's token, whatever its status; None for an unknown token."""
    if not token or len(token) > 100:
        return None
    query = select(quotes).where(quotes.c.token_hash == token_hash(token))
    return connection.execute(query).first()


def newest(connection: Connection, number: str, *, drafts: bool = True) -> Any:
    """The newest version of quote ``number``; without ``drafts``, the newest one sent
    (what the customer may know of)."""
    query = select(quotes).where(quotes.c.number == number)
    if not drafts:
        query = query.where(quotes.c.status != "draft")
    return connection.execute(query.order_by(quotes.c.version.desc()).limit(1)).first()


def versions(connection: Connection, number: str) -> list[Any]:
    query = select(quotes).where(quotes.c.number == number).order_by(quotes.c.version)
    return list(connection.execute(query))


def viewed(connection: Connection, row: Any) -> bool:
    """Record the customer's first look at a version (once); whether this was it."""
    moment = now()
    done = connection.execute(
        update(quotes)
        .where(quotes.c.id == row.id, quotes.c.viewed_at.is_(None))
        .values(viewed_at=moment)
    )
    if done.rowcount != 1:
        return False
    audit.record(
        connection,
        "quote",
        row.number,
        "viewed",
        actor="customer",
        who=row.email,
        detail={"version": row.version},
        at=moment,
    )
    return True


#: Translated where used.
TICK_TERMS = N_("Tick the box to accept the terms shown above.")
TYPE_NAME = N_("Type your full name to accept the quote: it stands for your signature.")
GIVE_REASON = N_("Tell us why you decline, in a few words: it helps us make a better offer.")


def accept(
    connection: Connection, row: Any, *, name: str, shop: Shop, journey: Journey | None
) -> str:
    """Accept a sent version and place its order from the frozen lines, once; the order's
    number. A version accepted already (a double click, a replay, another tab) answers
    with the same order; anything else no longer open is refused."""
    name = " ".join(name.split())[:NAME_LENGTH]
    moment = now()
    done = connection.execute(
        update(quotes)
        .where(
            and_(quotes.c.id == row.id, quotes.c.status == "sent", quotes.c.valid_until > moment)
        )
        .values(status="accepted", decided_at=moment, accepted_name=name)
    )
    if done.rowcount != 1:
        current = connection.execute(select(quotes).where(quotes.c.id == row.id)).one()
        if current.status == "accepted" and current.order_number:
            return current.order_number
        raise QuoteRefused(closed_message(connection, current))
    for _attempt in range(5):
        try:
            with connection.begin_nested():
                number = _place(connection, row, shop, journey, moment)
            break
        except IntegrityError:
            found = connection.execute(
                select(orders.c.number).where(orders.c.checkout_id == f"quote-{row.id}")
            ).scalar()
            if found:
                return found
    else:
        raise QuoteRefused(_("The order could not be placed. Please try again."))
    connection.execute(update(quotes).where(quotes.c.id == row.id).values(order_number=number))
    audit.record(
        connection,
        "quote",
        row.number,
        "accepted",
        actor="customer",
        who=row.email,
        detail={"version": row.version, "name": name, "order": number},
        at=moment,
    )
    # The checkout the quote came from is done with: walking it again starts afresh.
    checkouts.take(connection, row.checkout_id)
    if journey is not None:
        member = member_of(connection, row.staff_id)
        data = {"quote": event_json(row, member, status="accepted"), "order_number": number}
        data["quote"]["accepted_name"] = name
        events.enqueue(connection, journey, "quote_accepted", data, context=_context(journey, row))
    return number


def _place(
    connection: Connection, row: Any, shop: Shop, journey: Journey | None, moment: datetime
) -> str:
    """Insert the order of an accepted version: its lines, totals and answers as frozen."""
    number = new_number()
    member = member_of(connection, row.staff_id)
    order_id = connection.execute(
        INSERT_ORDER,
        {
            "number": number,
            # One order per version, whatever races to place it.
            "checkout_id": f"quote-{row.id}",
            "confirm_token": None,
            "journey_key": row.journey_key,
            "journey_version": row.journey_version,
            "business_entity": row.business_entity,
            "order_channel": row.order_channel,
            "customer_id": row.customer_id,
            "email": row.email,
            "currency": row.currency,
            "totals": row.totals,
            "answers": row.answers,
            "payment_method": row.payment_method,
            "payment": row.payment,
            "status": "placed",
            "locale": row.locale,
            "seconds_to_order": None,
            "placed_by_staff_id": row.staff_id,
            "partner": row.partner,
            "created_at": moment,
            "updated_at": moment,
        },
    ).scalar_one()
    connection.execute(
        INSERT_LINES,
        [
            {
                "order_id": order_id,
                "position": position,
                "product": line["product"],
                "name": line["name"],
                "quantity": line["quantity"],
                "billing": line["billing"],
                "unit_price": line["unit_price"],
                "line_total": line["line_total"],
                "tax_rate": line["tax_rate"],
                "tax": line["tax"],
            }
            for position, line in enumerate(row.lines, start=1)
        ],
    )
    lines = [_priced(shop, line) for line in row.lines]
    created = subscriptions.create_for_order(
        connection,
        order_id=order_id,
        lines=lines,
        currency=row.currency,
        customer_id=row.customer_id,
        email=row.email,
        journey_key=row.journey_key,
        business_entity=row.business_entity,
        moment=moment,
    )
    placed_by = {"staff": member.email, "partner": row.partner} if member is not None else {}
    audit.record(
        connection,
        "order",
        number,
        "created",
        actor="customer",
        who=row.email,
        detail={**placed_by, "quote": row.number, "version": row.version},
        at=moment,
    )
    if journey is None:
        return number
    context = _context(journey, row)
    for subscription in created:
        data = {"subscription": subscription, "order_number": number}
        events.enqueue(connection, journey, "subscription_created", data, context=context)
    payment_label = ""
    if row.payment_method in shop.payment_methods:
        payment_label = shop.in_language(row.locale).payment_methods[row.payment_method].label
    order = {
        "number": number,
        "email": row.email,
        "customer_id": row.customer_id,
        "business_entity": row.business_entity,
        "order_channel": row.order_channel,
        "currency": row.currency,
        "totals": row.totals,
        "lines": row.shown["lines"],
        "formatted": row.shown["totals"],
        "answers": row.answers,
        "placed_by": {"email": member.email, "role": member.role} if member else None,
        "partner": row.partner,
        "payment_method": row.payment_method,
        "payment_label": payment_label,
        "locale": row.locale,
        "quote": {"number": row.number, "version": row.version},
    }
    events.enqueue(
        connection,
        journey,
        "order_placed",
        {"order": order, "seller": row.seller},
        context=context,
    )
    return number


def _priced(shop: Shop, line: dict[str, Any]) -> PricedLine:
    """A frozen line as the subscriptions of its order need it: at the quote's prices,
    whatever the catalog says now."""
    frozen = {
        "name": line["name"],
        "billing": line["billing"],
        "price": Decimal(line["unit_price"]),
        "tax_rate": Decimal(line["tax_rate"]),
    }
    known = shop.products.get(line["product"])
    if known is not None:
        product = known.model_copy(update=frozen)
    else:
        product = Product.model_construct(id=line["product"], **frozen)
    kept = line.get("discount")
    discount = None
    if kept:
        discount = Discount.model_construct(
            id=kept["id"],
            name=kept["name"],
            percent=Decimal(kept["percent"]) if kept.get("percent") else None,
            amount=Decimal(kept["amount"]) if kept.get("amount") else None,
            periods=kept.get("periods"),
            products=None,
        )
    return PricedLine(
        product=product,
        quantity=int(line["quantity"]),
        unit_price=Decimal(line["unit_price"]),
        line_total=Decimal(line["line_total"]),
        tax=Decimal(line["tax"]),
        discount=discount,
        list_total=Decimal(line.get("list_total") or line["line_total"]),
    )


def decline(connection: Connection, row: Any, *, reason: str, journey: Journey | None) -> None:
    """Decline a sent version, with the customer's reason; refused when it is not open."""
    reason = reason.strip()[:REASON_LENGTH]
    moment = now()
    done = connection.execute(
        update(quotes)
        .where(
            and_(quotes.c.id == row.id, quotes.c.status == "sent", quotes.c.valid_until > moment)
        )
        .values(status="declined", decided_at=moment, decline_reason=reason)
    )
    if done.rowcount != 1:
        current = connection.execute(select(quotes).where(quotes.c.id == row.id)).one()
        raise QuoteRefused(closed_message(connection, current))
    audit.record(
        connection,
        "quote",
        row.number,
        "declined",
        actor="customer",
        who=row.email,
        detail={"version": row.version, "reason": reason},
        at=moment,
    )
    if journey is not None:
        member = member_of(connection, row.staff_id)
        data = {"quote": event_json(row, member, status="declined"), "reason": reason}
        events.enqueue(connection, journey, "quote_declined", data, context=_context(journey, row))


#: Translated where used: what the page of a version no longer open says.
CLOSED = {
    "accepted": N_("You accepted this quote: it is order %(order)s now."),
    "declined": N_("You declined this quote. Ask us for a new one if you changed your mind."),
    "expired": N_(
        "This quote expired on %(valid_until)s and can no longer be accepted. Ask us for a new one."
    ),
    "superseded": N_("This quote was replaced by a newer version (version %(newer)s)."),
    "withdrawn": N_("This quote was withdrawn by the shop and can no longer be accepted."),
}


def closed_message(connection: Connection, row: Any) -> str:
    state = status(row)
    newer = newest(connection, row.number, drafts=False)
    return _(CLOSED.get(state, CLOSED["withdrawn"])) % {
        "order": row.order_number or "",
        "valid_until": readable(row.valid_until),
        "newer": newer.version if newer is not None else "",
    }


# -- the worker and operators -----------------------------------------------------------------


def expire_due(connection: Connection, shop: Shop, moment: datetime | None = None) -> int:
    """Mark the sent versions past their ``valid_until`` expired, each once, with its
    row in the trail and ``quote_expired``; how many. Several workers may run it at once:
    the conditional update lets one of them have each."""
    moment = moment or now()
    due = connection.execute(
        select(quotes).where(quotes.c.status == "sent", quotes.c.valid_until <= moment)
    ).all()
    count = 0
    for row in due:
        done = connection.execute(
            update(quotes)
            .where(quotes.c.id == row.id, quotes.c.status == "sent")
            .values(status="expired", decided_at=moment)
        )
        if done.rowcount != 1:
            continue
        count += 1
        audit.record(
            connection,
            "quote",
            row.number,
            "expired",
            actor="system",
            detail={"version": row.version, "valid_until": events.stamp(row.valid_until)},
            at=moment,
        )
        journey = shop.journeys.get(row.journey_key)
        if journey is not None:
            member = member_of(connection, row.staff_id)
            data = {"quote": event_json(row, member, status="expired")}
            events.enqueue(
                connection, journey, "quote_expired", data, context=_context(journey, row)
            )
    return count


def withdraw(connection: Connection, number: str) -> Any:
    """Withdraw the open version of quote ``number`` (its link then says so), or discard
    its draft."""
    row = _open_version(connection, number, "withdraw", drafts=True)
    connection.execute(
        update(quotes).where(quotes.c.id == row.id).values(status="withdrawn", decided_at=now())
    )
    audit.record(
        connection,
        "quote",
        row.number,
        "withdrawn",
        actor="system",
        detail={"version": row.version},
    )
    return row


def resend(
    connection: Connection, shop: Shop, folders: Any, number: str, keys: Sequence[str]
) -> str:
    """Email the open version of quote ``number`` to its customer again, with a new link
    (only the token's hash is kept, so the old link cannot be sent again: it stops
    working). The new token."""
    row = _open_version(connection, number, "resend")
    nonce = secrets.token_urlsafe(16)
    token = link_token(keys, row.number, row.version, nonce)
    connection.execute(
        update(quotes)
        .where(quotes.c.id == row.id)
        .values(
            token_hash=token_hash(token),
            token_prefix=token[:PREFIX_LENGTH],
            token_nonce=nonce,
            sent_at=now(),
        )
    )
    _email(connection, shop, folders, row, token, member_of(connection, row.staff_id))
    audit.record(
        connection,
        "quote",
        row.number,
        "sent",
        actor="system",
        detail={"version": row.version, "to": row.email, "resent": True},
    )
    return token


def _open_version(connection: Connection, number: str, verb: str, drafts: bool = False) -> Any:
    """The newest version of ``number`` that is sent and open (or, with ``drafts``, a
    draft above it); ``QuoteRefused`` saying why there is none."""
    row = newest(connection, number.strip().upper(), drafts=drafts)
    if row is None:
        raise QuoteRefused(f"no quote {number!r}; `klcheckout quotes list` shows them")
    state = status(row)
    if state != "sent" and not (drafts and state == "draft"):
        raise QuoteRefused(
            f"quote {row.number} (version {row.version}) is {state}: only a sent quote that "
            f"has not expired can be {'withdrawn' if verb == 'withdraw' else 'sent again'}"
        )
    return row


def listing(
    connection: Connection,
    only: str | None = None,
    *,
    staff_id: int | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """The newest version of every quote, newest first, as ``quotes list`` shows them;
    with ``staff_id``, those a member sent (the staff page lists them)."""
    newest_ids = select(func.max(quotes.c.id)).group_by(quotes.c.number)
    query = (
        select(quotes, staff.c.email.label("staff_email"))
        .outerjoin(staff, staff.c.id == quotes.c.staff_id)
        .where(quotes.c.id.in_(newest_ids))
        .order_by(quotes.c.id.desc())
    )
    if staff_id is not None:
        query = query.where(quotes.c.staff_id == staff_id)
    if limit is not None:
        query = query.limit(limit)
    moment = now()
    found = []
    for row in connection.execute(query):
        state = status(row, moment)
        if only and state != only:
            continue
        found.append({"row": row, "status": state})
    return found


#: Translated where used: a status as the staff page names it.
STATUS_LABELS = {
    "draft": N_("draft"),
    "sent": N_("sent, waiting for the customer"),
    "accepted": N_("accepted"),
    "declined": N_("declined"),
    "expired": N_("expired"),
    "superseded": N_("superseded"),
    "withdrawn": N_("withdrawn"),
}


def of_member(connection: Connection, staff_id: int, limit: int = 20) -> list[dict[str, Any]]:
    """The quotes a member sent, newest first, as their staff page lists them: where
    each stands, without the customer's answers or the link."""
    found = []
    for item in listing(connection, staff_id=staff_id, limit=limit):
        row = item["row"]
        found.append(
            {
                "number": row.number,
                "version": row.version,
                "status": item["status"],
                "status_label": _(STATUS_LABELS[item["status"]]),
                "customer": row.email,
                "total": total_text(row),
                "valid_until": readable(row.valid_until),
                "order_number": row.order_number or "",
            }
        )
    return found


def show(connection: Connection, number: str) -> dict[str, Any] | None:
    """A quote with every version and its history, as plain data for ``quotes show``."""
    rows = versions(connection, number.strip().upper())
    if not rows:
        return None
    members = {}
    ids = {row.staff_id for row in rows if row.staff_id is not None}
    if ids:
        query = select(staff.c.id, staff.c.email).where(staff.c.id.in_(ids))
        members = {found.id: found.email for found in connection.execute(query)}
    shown_versions = []
    for row in rows:
        data = dict(row._mapping)
        for key in ("token_hash", "token_nonce", "confirm_token", "shown"):
            data.pop(key)
        data["status"] = status(row)
        data["staff"] = members.get(row.staff_id)
        for key in ("valid_until", "created_at", "sent_at", "viewed_at", "decided_at"):
            data[key] = shown(data[key]) if data[key] is not None else None
        shown_versions.append(data)
    latest = shown_versions[-1]
    return {
        "number": rows[0].number,
        "status": latest["status"],
        "customer": latest["email"],
        "order_number": next(
            (v["order_number"] for v in shown_versions if v["order_number"]), None
        ),
        "versions": shown_versions,
        "history": [
            entry.as_json() for entry in audit.trail(connection, [("quote", rows[0].number)])
        ],
    }


# -- helpers ----------------------------------------------------------------------------------


def member_of(connection: Connection, staff_id: int | None) -> Any:
    """The member of staff who sent a version; None when they are gone (or none did)."""
    if staff_id is None:
        return None
    return connection.execute(select(staff).where(staff.c.id == staff_id)).first()


def _context(journey: Journey, row: Any) -> dict[str, Any]:
    return events.condition_context(journey, customer={"email": row.email}, answers=row.answers)


def event_json(row: Any, member: Any, status: str | None = None) -> dict[str, Any]:
    """A version as the quote_* events carry it."""
    return {
        "number": row.number,
        "version": row.version,
        "status": status or row.status,
        "customer": {"id": row.customer_id, "email": row.email},
        "staff": (
            {"email": member.email, "role": member.role, "partner": member.partner}
            if member is not None
            else None
        ),
        "partner": row.partner,
        "currency": row.currency,
        "totals": row.totals,
        "lines": row.lines,
        "formatted": row.shown["totals"],
        "discount_percent": row.discount_percent,
        "valid_until": events.stamp(row.valid_until),
        "business_entity": row.business_entity,
        "locale": row.locale,
    }
