"""The cart, kept in a signed cookie: ids and quantities only, never personal data.

The cookie is an itsdangerous ``URLSafeTimedSerializer`` token signed with the
app's ``SECRET_KEY`` and verified with ``SECRET_KEY_FALLBACKS`` too, so secrets
can be rotated without emptying every cart. Anyone holding the cookie can *read*
it, which is why it carries only product ids, quantities, the journey key and
version, a random checkout id, a random login-session token (whose meaning
lives in the database and can be revoked there), the token of a hand-over link the
customer opened (likewise), and for the funnel report the
positions of the steps already counted for this visitor and when their walk began
(``step_views``).

A cookie that cannot be trusted (tampered, truncated, expired, signed with a
retired key, made for another journey) is replaced by a fresh cart with a
message; a cart made against another build of the journey is re-checked against
today's catalog.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, Response
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from itsdangerous.encoding import base64_encode

from kljourney import Shop
from kljourney.i18n import N_, ngettext
from kljourney.i18n import gettext as _
from kljourney.model import Journey, PlanChangeStep, ProductSelectionStep

#: Browsers drop a cookie whose name, value and attributes pass 4096 bytes; stay clear.
COOKIE_LIMIT = 4000
#: Generous room for "; Path=/; Max-Age=...; Expires=...; HttpOnly; Secure; SameSite=Lax".
ATTRIBUTE_ROOM = 140

#: Why the cart was started afresh or changed, for the customer (translated where used).
MESSAGES = {
    "tampered": N_("Your cart could not be read, so a new one was started."),
    "expired": N_("Your cart had expired, so a new one was started."),
    "foreign": N_("Your cart belonged to another shop page, so a new one was started."),
    "changed": N_("Products or prices changed since you added them; your cart was updated."),
}

#: A quantity as a person types it: an optional minus and at most 12 ASCII digits.
WHOLE_NUMBER = re.compile(r"-?[0-9]{1,12}")


class CartError(ValueError):
    """A cart change the customer asked for and cannot have; ``field`` names the input."""

    def __init__(self, field: str, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.field = field
        self.message = message
        self.status = status


def new_id() -> str:
    return secrets.token_urlsafe(18)


@dataclass
class Cart:
    journey: str
    version: str
    checkout_id: str = field(default_factory=new_id)
    #: The login session token; "" when signed out.
    session: str = ""
    #: The checkout id of the last order placed, for the order done page.
    done: str = ""
    #: The token of the hand-over link this browser opened: it completes that one step of
    #: the checkout for the customer (``handovers``); "" otherwise.
    handover: str = ""
    lines: dict[str, int] = field(default_factory=dict)
    #: The steps of this walk already counted as viewed, by position in the journey's
    #: steps (a few bytes, where ids could fill the cookie): each counts once.
    seen: list[int] = field(default_factory=list)
    #: When this walk's first counted page was viewed (Unix seconds; 0: not yet), for an
    #: order's time to complete.
    started: int = 0
    #: Set when the cookie has to be written back.
    dirty: bool = False
    #: Set when this request made ``checkout_id`` (no checkout row can exist for it yet).
    new: bool = False
    #: The last encoding, reused when nothing changed since (signing twice costs).
    encoded: tuple[Any, str] | None = field(default=None, compare=False, repr=False)

    def payload(self) -> dict[str, Any]:
        data: dict[str, Any] = {"j": self.journey, "v": self.version, "c": self.checkout_id}
        if self.session:
            data["s"] = self.session
        if self.done:
            data["d"] = self.done
        if self.handover:
            data["h"] = self.handover
        if self.lines:
            data["l"] = [[product, quantity] for product, quantity in self.lines.items()]
        if self.seen:
            data["p"] = list(self.seen)
        if self.started:
            data["t"] = self.started
        return data


def cookie_name(app: Flask) -> str:
    """``__Host-`` in production: the browser then insists on Secure, Path=/ and no Domain."""
    return "__Host-keylight" if app.config["KEYLIGHT_ENV"] == "production" else "keylight"


class CartSerializer(URLSafeTimedSerializer):
    """The cart cookie's serializer: itsdangerous's URL-safe timed tokens, made cheaper
    to sign and verify on every request, and able to read every cookie it wrote before.

    - The signing keys are derived from the secrets once, here (itsdangerous derives
      them again on each sign and each verify: one more HMAC each time). Signing with
      a derived key and no further derivation gives the very same signatures.
    - One signer serves every request (a signer holds nothing but its keys).
    - The payload is not compressed: a cart of ids and quantities gains a few bytes
      at most from zlib, for a compression and a decompression per request.
      Compressed cookies of earlier versions still load.
    """

    def __init__(self, keys: list[str]) -> None:
        derived = [_derive(key) for key in keys]
        super().__init__(
            derived,
            salt=CART_SALT,
            signer_kwargs={"key_derivation": "none", "digest_method": hashlib.sha256},
        )
        self._signer = super().make_signer(CART_SALT)

    def make_signer(self, salt: str | bytes | None = None) -> Any:
        if salt is None or salt == CART_SALT:
            return self._signer
        return super().make_signer(salt)

    def dump_payload(self, obj: Any) -> bytes:
        return base64_encode(json.dumps(obj, separators=(",", ":")).encode())


#: itsdangerous's salt for the cart cookie: it separates these signatures from any
#: other signed with the same secrets.
CART_SALT = "keylight.cart"


def _derive(key: str) -> bytes:
    """The signing key itsdangerous's ``key_derivation="hmac"`` makes of a secret."""
    return hmac.new(key.encode(), CART_SALT.encode(), hashlib.sha256).digest()


def serializer(app: Flask) -> CartSerializer:
    """One serializer per set of secrets, rebuilt when the secrets change.

    The secrets and their serializer are kept as one pair, replaced in one assignment:
    a worker's threads share it, and one must never see new secrets with the old
    serializer (or none yet).
    """
    keys = (*reversed(app.config.get("SECRET_KEY_FALLBACKS") or []), app.config["SECRET_KEY"])
    cached = app.extensions.get("keylight_serializer")
    if cached is None or cached[0] != keys:
        cached = app.extensions["keylight_serializer"] = (keys, CartSerializer(list(keys)))
    return cached[1]


def decode(app: Flask, raw: str | None, journey: Journey) -> tuple[Cart, str | None]:
    """The cart from the cookie value, or a fresh cart and the reason it is fresh."""
    if not raw:
        return _fresh(journey), None
    try:
        data = serializer(app).loads(raw, max_age=app.config["KEYLIGHT_CART_MAX_AGE"])
    except SignatureExpired:
        return _fresh(journey), "expired"
    except (BadSignature, ValueError, UnicodeError):
        return _fresh(journey), "tampered"
    try:
        cart = _from_payload(data)
    except (KeyError, TypeError, ValueError):
        return _fresh(journey), "tampered"
    if cart.journey != journey.key:
        # The login stays (it is checked in the database); the lines and answers do not,
        # which is worth a word only when there were lines.
        fresh = _fresh(journey)
        fresh.session = cart.session
        return fresh, "foreign" if cart.lines else None
    return cart, None


def decode_any(app: Flask, raw: str | None) -> Cart | None:
    """The cart from the cookie whatever journey it belongs to (the account page reads
    only its login); None when there is no cookie to trust."""
    if not raw:
        return None
    try:
        data = serializer(app).loads(raw, max_age=app.config["KEYLIGHT_CART_MAX_AGE"])
        return _from_payload(data)
    except (BadSignature, ValueError, UnicodeError, KeyError, TypeError):
        return None


def _fresh(journey: Journey) -> Cart:
    return Cart(journey=journey.key, version=journey.version, dirty=True, new=True)


def _from_payload(data: Any) -> Cart:
    if not isinstance(data, dict):
        raise TypeError("not an object")
    lines: dict[str, int] = {}
    for product, quantity in data.get("l", []):
        if not isinstance(product, str) or type(quantity) is not int:
            raise TypeError("bad line")
        lines[product] = quantity
    values = [
        data["j"],
        data["v"],
        data["c"],
        data.get("s", ""),
        data.get("d", ""),
        data.get("h", ""),
    ]
    if not all(isinstance(value, str) for value in values) or not data["c"]:
        raise TypeError("bad ids")
    # Cookies written before the funnel report have neither: nothing counted yet.
    seen, started = data.get("p", []), data.get("t", 0)
    if not isinstance(seen, list) or not all(type(position) is int for position in seen):
        raise TypeError("bad steps seen")
    if type(started) is not int or started < 0:
        raise TypeError("bad start")
    return Cart(
        journey=values[0],
        version=values[1],
        checkout_id=values[2],
        session=values[3],
        done=values[4],
        handover=values[5],
        lines=lines,
        seen=seen,
        started=started,
    )


def encode(app: Flask, cart: Cart) -> str:
    payload = cart.payload()
    if cart.encoded is not None and cart.encoded[0] == payload:
        return cart.encoded[1]
    value = serializer(app).dumps(payload)
    cart.encoded = (payload, value)
    return value


def set_cookie(app: Flask, cart: Cart, response: Response) -> None:
    """Write the cart into ``response``'s cookie if this request changed it."""
    if not cart.dirty:
        return
    production = app.config["KEYLIGHT_ENV"] == "production"
    response.set_cookie(
        cookie_name(app),
        encode(app, cart),
        max_age=app.config["KEYLIGHT_CART_MAX_AGE"],
        path="/",
        secure=production,
        httponly=True,
        samesite=app.config["KEYLIGHT_COOKIE_SAMESITE"],
    )


def fits(app: Flask, value: str) -> bool:
    return len(cookie_name(app)) + 1 + len(value) + ATTRIBUTE_ROOM <= COOKIE_LIMIT


#: selections_of's answer for the last journeys asked about, keyed by their identity:
#: a rebuild makes new Journey and Shop objects, so a stale entry is never hit.
_SELECTIONS: dict[int, tuple[Shop, Journey, dict[str, Offering]]] = {}
#: A step that puts products in the cart: a product selection, or the plan change of a
#: win-back journey (which orders one plan again).
Offering = ProductSelectionStep | PlanChangeStep


def selections_of(shop: Shop, journey: Journey) -> dict[str, Offering]:
    """Product id to the active step that offers it (first one wins)."""
    cached = _SELECTIONS.get(id(journey))
    if cached is not None and cached[0] is shop and cached[1] is journey:
        return cached[2]
    found = _selections(shop, journey)
    if len(_SELECTIONS) > 1000:
        _SELECTIONS.clear()
    _SELECTIONS[id(journey)] = (shop, journey, found)
    return found


def _selections(shop: Shop, journey: Journey) -> dict[str, Offering]:
    found: dict[str, Offering] = {}
    for step in journey.active_steps:
        if isinstance(step, Offering) and step.product_selection in shop.product_selections:
            for product in shop.product_selections[step.product_selection].products:
                if product in shop.products:
                    found.setdefault(product, step)
    return found


def recheck(cart: Cart, shop: Shop, journey: Journey, max_quantity: int) -> str | None:
    """Drop what today's journey no longer sells and bound quantities; say if anything changed.

    Runs on every request (it is cheap), so a cookie from an older build, or one
    that is validly signed but odd, is never trusted as it stands.
    """
    offered = selections_of(shop, journey)
    kept: dict[str, int] = {}
    unique_taken: set[str] = set()
    for product, quantity in cart.lines.items():
        step = offered.get(product)
        if step is None or quantity < 1:
            continue
        if isinstance(step, PlanChangeStep) or step.unique_selection:  # one plan at a time
            if step.id in unique_taken:
                continue
            unique_taken.add(step.id)
        kept[product] = min(quantity, max_quantity)
    changed = kept != cart.lines
    if changed:
        cart.lines = kept
        cart.dirty = True
    if cart.version != journey.version:
        cart.version = journey.version
        cart.dirty = True
    return "changed" if changed else None


def parse_quantity(
    raw: str | None, max_quantity: int, *, allow_zero: bool, default: int | None
) -> int:
    """A whole number from 1 (or 0, meaning remove) to ``max_quantity``, or a CartError."""
    if raw is None or raw.strip() == "":
        if default is None:
            raise CartError("quantity", _("Enter a quantity."))
        return default
    text = raw.strip()
    if not WHOLE_NUMBER.fullmatch(text):  # ASCII digits only: int() refuses '²', accepts '٣'
        raise CartError(
            "quantity",
            _("Enter the quantity as a whole number, not %(typed)s.") % {"typed": repr(text[:20])},
        )
    quantity = int(text)
    lowest = 0 if allow_zero else 1
    if quantity < lowest:
        raise CartError(
            "quantity", _("Enter a quantity of at least %(lowest)d.") % {"lowest": lowest}
        )
    if quantity > max_quantity:
        raise CartError(
            "quantity",
            ngettext(
                "You can order at most %(count)d of one product.",
                "You can order at most %(count)d of one product.",
                max_quantity,
            )
            % {"count": max_quantity},
        )
    return quantity


def add(
    cart: Cart,
    shop: Shop,
    journey: Journey,
    step_id: str,
    product: str,
    quantity: int,
    max_quantity: int,
) -> None:
    """Add ``quantity`` of ``product`` from the product selection step ``step_id``.

    With unique selection the product replaces any other of that selection.
    """
    step = journey.step(step_id)
    if not isinstance(step, ProductSelectionStep):
        raise CartError(
            "step",
            _("%(step)s is not a product selection step of this shop.") % {"step": repr(step_id)},
            404,
        )
    selection = shop.product_selections[step.product_selection]
    if product not in selection.products or product not in shop.products:
        raise CartError("product", _("This product is not available here."))
    if step.unique_selection:
        for other in selection.products:
            if other != product:
                cart.lines.pop(other, None)
        new_quantity = quantity
    else:
        new_quantity = cart.lines.get(product, 0) + quantity
    if new_quantity > max_quantity:
        raise CartError(
            "quantity",
            ngettext(
                "You can order at most %(count)d of %(product)s.",
                "You can order at most %(count)d of %(product)s.",
                max_quantity,
            )
            % {"count": max_quantity, "product": shop.products[product].name},
        )
    cart.lines[product] = new_quantity
    cart.dirty = True


def update(cart: Cart, shop: Shop, product: str, quantity: int) -> None:
    """Set a line's quantity; 0 removes it. Only lines already in the cart can change."""
    if product not in cart.lines:
        raise CartError("product", _("This product is not in your cart."))
    if quantity == 0:
        del cart.lines[product]
    else:
        cart.lines[product] = quantity
    cart.dirty = True
