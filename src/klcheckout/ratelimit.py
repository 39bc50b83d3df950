"""Limits on failed logins, per account and per client address.

Only failures count, so a customer who signs in correctly is never slowed down.
Flask-Limiter provides the storage (memory by default; Redis when
``KEYLIGHT_RATELIMIT_STORAGE`` names one, so all worker processes share counts)
and its moving-window strategy; this module decides what is counted.
"""

from __future__ import annotations

import math
import time
from functools import partial

from flask import Flask, current_app, request
from flask_limiter import Limiter
from limits import RateLimitItem, parse

from kljourney.i18n import ngettext

from .accounts import normal_email


def init_app(app: Flask) -> None:
    limiter = Limiter(
        key_func=lambda: request.remote_addr or "unknown",
        app=app,
        storage_uri=app.config["KEYLIGHT_RATELIMIT_STORAGE"],
        strategy="moving-window",
        default_limits=[],
        headers_enabled=False,
    )
    _drop_request_hooks(app, limiter)
    app.extensions["keylight_limits"] = (limiter, parse(app.config["KEYLIGHT_LOGIN_LIMIT"]))


def _drop_request_hooks(app: Flask, limiter: Limiter) -> None:
    """Only failed logins are counted, by ``failed`` below; no route declares a limit.

    Flask-Limiter's per-request hooks would still run on every request (about a
    third of a millisecond, a quarter of an add-to-cart), so they are taken out.
    """
    own = [limiter._check_request_limit]
    app.before_request_funcs[None] = [f for f in app.before_request_funcs[None] if f not in own]
    app.after_request_funcs[None] = [
        f
        for f in app.after_request_funcs[None]
        if not (isinstance(f, partial) and f.args[:1] == (limiter,))
    ]
    release = getattr(limiter, "_Limiter__release_context", None)
    app.teardown_request_funcs[None] = [
        f for f in app.teardown_request_funcs.get(None, []) if f != release
    ]


def _identifiers(email: str) -> list[tuple[str, str]]:
    return [("account", normal_email(email)), ("address", request.remote_addr or "unknown")]


def _parts() -> tuple[Limiter, RateLimitItem]:
    return current_app.extensions["keylight_limits"]


#: What is counted: customers' logins, and staff's passwords and codes, each apart (a
#: member's wrong codes do not lock out their password, nor a customer's of the same email).
LOGIN, STAFF_PASSWORD, STAFF_CODE = (
    "keylight-login",
    "keylight-staff-password",
    "keylight-staff-code",
)


def blocked(email: str, scope: str = LOGIN) -> int | None:
    """How many minutes to wait (at least 1) if the account or the address is over its limit."""
    limiter, item = _parts()
    strategy = limiter.limiter
    wait = 0.0
    for kind, value in _identifiers(email):
        if not strategy.test(item, scope, kind, value):
            reset = strategy.get_window_stats(item, scope, kind, value)[0]
            wait = max(wait, reset - time.time(), 1)
    if not wait:
        return None
    return math.ceil(wait / 60)


def failed(email: str, scope: str = LOGIN) -> None:
    limiter, item = _parts()
    for kind, value in _identifiers(email):
        limiter.limiter.hit(item, scope, kind, value)


def too_many_attempts(minutes: int) -> str:
    """The refusal of a sign-in attempt while ``blocked`` says to wait ``minutes``."""
    return ngettext(
        "Too many failed sign-in attempts. Try again in %(count)d minute.",
        "Too many failed sign-in attempts. Try again in %(count)d minutes.",
        minutes,
    ) % {"count": minutes}
