"""Cross-site safety and response headers.

Every state-changing request passes two independent checks: its ``Origin`` (or,
missing that, its ``Referer``) must be exactly one of the configured page
origins, and it must carry a CSRF token bound to the visitor's cookie. The token
is an HMAC of the checkout id and login session under the app's secrets, so it
needs no storage and changes whenever the login does.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, Request, Response, request

from kljourney.i18n import gettext as _
from kljourney.model import Site, with_query

from .cart import Cart

#: The backend serves no script; its few pages (errors) need nothing but themselves.
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'self'"
)


def page_csp(site: Site) -> str:
    """The CSP of a page the backend renders itself: no script at all, the shop's
    stylesheet, logo and icon from wherever the pages are published, and the pages'
    empty ``data:`` icon (which keeps browsers from asking for a favicon)."""
    pages = origin_of(site.base_url)
    published = f"'self' {pages}" if pages else "'self'"
    csp = CSP.replace("style-src 'self'", f"style-src {published}")
    return csp.replace("img-src 'self'", f"img-src {published} data:")


class Forbidden(Exception):
    """A request refused (for cross-site safety, or not for this visitor); the message
    says why, for a person. ``sign_in_url``: where to sign in to be let in (the staff
    page, for a journey only staff walk)."""

    def __init__(self, message: str, sign_in_url: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.sign_in_url = sign_in_url


def own_origin(req: Request) -> str:
    return f"{req.scheme}://{req.host}".lower()


def allowed_origins(app: Flask, req: Request) -> set[str]:
    configured = app.config["KEYLIGHT_ALLOWED_ORIGINS"]
    return {origin.lower() for origin in configured} if configured else {own_origin(req)}


def origin_of(url: str) -> str | None:
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if not parts.scheme or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}".lower()


def backend_address(site: Site, path: str, base: Mapping[str, str] | None = None) -> str:
    """An absolute address of the backend's ``path``, for a link in an email, from the
    shop's own URLs (``api_url``, else ``base_url``'s origin), never from the request's
    Host, which whoever sends the request chooses. Only a development shop, whose URLs
    are paths, falls back to the address this request came to, or to ``base`` (the
    ``origin`` and ``root`` an earlier request recorded, for a link made without one).
    The link's page is in the language of the shop's copy ``site`` belongs to."""
    if "://" in site.api_url:
        url = f"{site.api_url.rstrip('/')}{path}"
    elif "://" in site.base_url:
        url = f"{origin_of(site.base_url)}{site.api_path}{path}"
    elif base is not None:
        url = f"{base.get('origin', '')}{base.get('root', '')}{path}"
    else:
        url = f"{request.host_url.rstrip('/')}{request.script_root}{path}"
    return with_query(url, site.language_query)


def check_origin(app: Flask, req: Request) -> None:
    """Refuse a state change that did not come from one of the shop's own pages."""
    origin = req.headers.get("Origin")
    if origin is None or origin == "null":
        referer = req.headers.get("Referer")
        origin = origin_of(referer) if referer else None
    if origin is None:
        raise Forbidden(
            _(
                "This request was refused because it did not say which page sent it "
                "(no Origin or Referer). Please go back to the shop page and try again."
            )
        )
    origin = origin.lower().rstrip("/")
    if origin not in allowed_origins(app, req):
        raise Forbidden(
            _(
                "This request was refused because it came from %(origin)s, "
                "which is not one of this shop's pages."
            )
            % {"origin": origin}
        )
    fetch_site = req.headers.get("Sec-Fetch-Site")
    if fetch_site == "cross-site" and not app.config["KEYLIGHT_ALLOWED_ORIGINS"]:
        raise Forbidden(_("This request was refused because the browser marked it as cross-site."))


def pages_origin_problem(config: Mapping[str, Any], site: Site) -> str | None:
    """What to set when the pages live on another origin than this backend and may not
    send it anything; None when they may (or share its origin)."""
    pages, api = origin_of(site.base_url), origin_of(site.api_url)
    if api is None or pages is None or pages == api:
        return None
    allowed = {origin.lower() for origin in config["KEYLIGHT_ALLOWED_ORIGINS"]}
    if pages in allowed:
        return None
    return (
        f"the pages are on {pages} (base_url) and this backend on {api} (api_url), but "
        f"KEYLIGHT_ALLOWED_ORIGINS does not name {pages}: every form would be refused. "
        f"Set KEYLIGHT_ALLOWED_ORIGINS={pages}"
    )


def from_own_page(app: Flask, req: Request) -> bool:
    """Whether a GET came from the shop's own page script (its Origin or Referer).

    The state request keeps the journey's entry parameters; a link on another site
    opened in a new tab must not choose a customer's branch for them.
    """
    try:
        check_origin(app, req)
    except Forbidden:
        return False
    return True


def _mac(key: str | bytes, cart: Cart) -> str:
    if isinstance(key, str):
        key = key.encode()
    message = f"keylight.csrf|{cart.checkout_id}|{cart.session}"
    if cart.handover:  # the customer of a hand-over shares the checkout, not the member's token
        message = f"{message}|{cart.handover}"
    digest = hmac.new(key, message.encode(), hashlib.sha256).digest()[:24]
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def csrf_token(app: Flask, cart: Cart) -> str:
    return _mac(app.config["SECRET_KEY"], cart)


def sent_token(req: Request) -> bool:
    """Whether the request carries a token at all (the page script adds it to forms)."""
    return bool(req.form.get("csrf_token") or req.headers.get("X-CSRF-Token"))


def check_csrf(app: Flask, req: Request, cart: Cart) -> None:
    """The token from the form (or the X-CSRF-Token header) must match this cookie."""
    sent = req.form.get("csrf_token") or req.headers.get("X-CSRF-Token") or ""
    if not sent:
        raise Forbidden(
            _(
                "This form was refused because it had no security token. "
                "Please reload the page and send it again."
            )
        )
    keys = [app.config["SECRET_KEY"], *(app.config.get("SECRET_KEY_FALLBACKS") or [])]
    if not any(hmac.compare_digest(sent, _mac(key, cart)) for key in keys):
        raise Forbidden(
            _(
                "This form was refused because its security token does not match your session. "
                "Please reload the page and send it again."
            )
        )


def cors_headers(app: Flask, req: Request, response: Response) -> None:
    """Credentials may be shared only with the exact configured origins, never '*'."""
    configured = app.config["KEYLIGHT_ALLOWED_ORIGINS"]
    if not configured:  # pages and backend on one origin: no CORS at all
        return
    response.vary.add("Origin")
    origin = req.headers.get("Origin", "").lower().rstrip("/")
    configured = {o.lower() for o in configured}
    if origin and origin in configured and origin != own_origin(req):
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Allow-Credentials"] = "true"
        if req.method == "OPTIONS":
            response.headers["Access-Control-Allow-Methods"] = "GET, POST"
            response.headers["Access-Control-Allow-Headers"] = "Content-Type, X-CSRF-Token, Accept"
            response.headers["Access-Control-Max-Age"] = "600"


def secure_headers(app: Flask) -> list[tuple[str, str]]:
    """The headers every answer carries; the same for every request, so built once."""
    headers = [
        ("Content-Security-Policy", CSP),
        ("X-Content-Type-Options", "nosniff"),
        ("X-Frame-Options", "DENY"),
        ("Referrer-Policy", "same-origin"),
        # Every answer of this backend is about one visitor (or is an error): never cache it.
        ("Cache-Control", "no-store"),
    ]
    if app.config["KEYLIGHT_ENV"] == "production":
        headers.append(("Strict-Transport-Security", "max-age=63072000; includeSubDomains"))
    return headers


#: What a redirect, which has no body and is never shown, still needs: not to be
#: cached (it may set the cookie), the referrer policy for the request it leads to,
#: and HSTS. CSP, nosniff and framing rules are for content, and cost on each answer.
REDIRECT_HEADERS = frozenset({"cache-control", "referrer-policy", "strict-transport-security"})


class StaticHeaders:
    """WSGI middleware adding fixed headers to every answer (to a redirect, those of
    ``REDIRECT_HEADERS``).

    Appending to the list handed to ``start_response`` costs a fraction of setting
    each header on the response object, on every request.
    """

    def __init__(self, wsgi_app: Any, headers: list[tuple[str, str]]) -> None:
        self.wsgi_app = wsgi_app
        self.headers = headers
        self.redirect_headers = [(k, v) for k, v in headers if k.lower() in REDIRECT_HEADERS]
        self.names = {name.lower() for name, _ in headers}

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            fixed = self.redirect_headers if status[0] == "3" else self.headers
            if any(name.lower() in self.names for name, _ in headers):
                # The answer set one of them itself (a page's own CSP): it wins.
                own = {name.lower() for name, _ in headers}
                fixed = [(k, v) for k, v in fixed if k.lower() not in own]
            headers.extend(fixed)
            return start_response(status, headers, exc_info)

        return self.wsgi_app(environ, start)
