"""Configuration of the checkout backend, from ``KEYLIGHT_``-prefixed environment variables.

Every setting has a safe local default so ``klcheckout serve`` works in a fresh
checkout; production mode (``KEYLIGHT_ENV=production``) refuses to start without
a real secret, because a generated development secret would log everyone out on
every restart and could not be shared between workers.

=============================  ===========================================================
variable                       meaning (default)
=============================  ===========================================================
KEYLIGHT_ENV                   ``development`` or ``production`` (development). Production
                               needs KEYLIGHT_SECRET_KEYS, sets ``Secure`` cookies with the
                               ``__Host-`` prefix and sends HSTS.
KEYLIGHT_JOURNEYS              the journeys folder read through ``kljourney.load``
                               (``./journeys``)
KEYLIGHT_TEMPLATES             the theme folder the pages were built with (``klbuild build
                               --templates``), for the pages the backend renders itself for
                               browsers without JavaScript (none: the built-in templates)
KEYLIGHT_INSTANCE              folder for the SQLite file and the generated dev secret
                               (``./instance``)
KEYLIGHT_SECRET_KEYS           comma-separated secrets, newest first; the first signs,
                               the others still verify (key rotation). Development
                               default: a random secret kept in the instance folder
KEYLIGHT_DATABASE_URL          SQLAlchemy URL (development: ``sqlite:///<instance>/keylight.sqlite3``;
                               production: required);
                               PostgreSQL: ``postgresql+psycopg://user@host/db``
KEYLIGHT_ALLOWED_ORIGINS       comma-separated page origins allowed to POST, e.g.
                               ``https://shop.example.com`` (default: the request's own
                               origin, which fits pages and backend on one host)
KEYLIGHT_RATELIMIT_STORAGE     Flask-Limiter storage URI (``memory://``); use
                               ``redis://127.0.0.1:6379`` so several processes share limits
KEYLIGHT_LOGIN_LIMIT           failed logins allowed per account and per client address
                               (``10 per 15 minutes``)
KEYLIGHT_MAX_QUANTITY          largest quantity of one product in a cart (50)
KEYLIGHT_CART_MAX_AGE          seconds a cart cookie stays valid (1209600, 14 days)
KEYLIGHT_CHECKOUT_RETENTION    seconds an unfinished checkout's answers (a guest's email,
                               form answers, payment details) are kept after their last
                               change; ``klcheckout worker`` deletes older ones (2592000,
                               30 days; at least KEYLIGHT_CART_MAX_AGE)
KEYLIGHT_SESSION_MAX_AGE       absolute lifetime of a login in seconds (43200, 12 hours)
KEYLIGHT_HANDOVER_DAYS         days a step's hand-over link to the customer works (7)
KEYLIGHT_MAX_CONTENT_LENGTH    largest request body in bytes (65536)
KEYLIGHT_COOKIE_SAMESITE       ``Lax`` (default) or ``None`` when pages and backend are on
                               different sites (requires production mode, i.e. Secure)
KEYLIGHT_TRUSTED_PROXIES       number of reverse proxies whose X-Forwarded-For/-Proto to
                               trust (0)
KEYLIGHT_HOOK_MAX_ATTEMPTS     deliveries of an event to a hook before it is ``failed`` (12)
KEYLIGHT_SMTP_HOST             mail server for email hooks (none: they cannot send, and
                               production refuses to start)
KEYLIGHT_SMTP_PORT             its port (587 for starttls, 465 for ssl, 25 for none)
KEYLIGHT_SMTP_USERNAME         login, if the server wants one
KEYLIGHT_SMTP_PASSWORD         its password
KEYLIGHT_SMTP_FROM             the sender address of emails, e.g. ``Shop <shop@example.com>``
KEYLIGHT_SMTP_TLS              ``starttls`` (default), ``ssl`` or ``none``
KEYLIGHT_CLOCK_FILE            for tests and demos only: a file holding the seconds the
                               backend's clock runs ahead (``clock``); production refuses it
=============================  ===========================================================
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

PREFIX = "KEYLIGHT_"

#: Every environment variable read here, for the docs test and ``klcheckout config``.
VARIABLES = (
    "ENV",
    "JOURNEYS",
    "TEMPLATES",
    "INSTANCE",
    "SECRET_KEYS",
    "DATABASE_URL",
    "ALLOWED_ORIGINS",
    "RATELIMIT_STORAGE",
    "LOGIN_LIMIT",
    "MAX_QUANTITY",
    "CART_MAX_AGE",
    "CHECKOUT_RETENTION",
    "SESSION_MAX_AGE",
    "MAX_CONTENT_LENGTH",
    "COOKIE_SAMESITE",
    "TRUSTED_PROXIES",
    "HOOK_MAX_ATTEMPTS",
    "SMTP_HOST",
    "SMTP_PORT",
    "SMTP_USERNAME",
    "SMTP_PASSWORD",
    "SMTP_FROM",
    "SMTP_TLS",
)
SMTP_PORTS = {"starttls": 587, "ssl": 465, "none": 25}


class SettingsError(RuntimeError):
    """The environment asks for something the backend cannot run with."""


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 1) -> int:
    raw = env.get(PREFIX + name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{PREFIX}{name}: expected a whole number, got {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{PREFIX}{name}: expected at least {minimum}, got {value}")
    return value


def _list(raw: str) -> list[str]:
    return [item.strip() for item in raw.split(",") if item.strip()]


def from_env(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Flask config keys (``KEYLIGHT_*`` and Flask's own) read from ``env``."""
    env = os.environ if env is None else env
    mode = env.get(PREFIX + "ENV", "development").strip() or "development"
    if mode not in ("development", "production"):
        raise SettingsError(f"{PREFIX}ENV: expected 'development' or 'production', got {mode!r}")
    instance = Path(env.get(PREFIX + "INSTANCE", "") or "instance").resolve()
    samesite = env.get(PREFIX + "COOKIE_SAMESITE", "Lax").strip().capitalize() or "Lax"
    if samesite not in ("Lax", "Strict", "None"):
        raise SettingsError(
            f"{PREFIX}COOKIE_SAMESITE: expected 'Lax', 'Strict' or 'None', got {samesite!r}"
        )
    tls = env.get(PREFIX + "SMTP_TLS", "").strip().lower() or "starttls"
    if tls not in SMTP_PORTS:
        raise SettingsError(f"{PREFIX}SMTP_TLS: expected 'starttls', 'ssl' or 'none', got {tls!r}")
    return {
        "KEYLIGHT_ENV": mode,
        "KEYLIGHT_JOURNEYS": str(Path(env.get(PREFIX + "JOURNEYS", "") or "journeys").resolve()),
        "KEYLIGHT_TEMPLATES": str(Path(templates).resolve())
        if (templates := env.get(PREFIX + "TEMPLATES", "").strip())
        else "",
        "KEYLIGHT_INSTANCE": str(instance),
        "KEYLIGHT_SECRET_KEYS": _list(env.get(PREFIX + "SECRET_KEYS", "")),
        #: "" when not set: ``finish`` chooses the development default, or refuses.
        "KEYLIGHT_DATABASE_URL": env.get(PREFIX + "DATABASE_URL", "").strip(),
        "KEYLIGHT_ALLOWED_ORIGINS": [
            o.rstrip("/") for o in _list(env.get(PREFIX + "ALLOWED_ORIGINS", ""))
        ],
        "KEYLIGHT_RATELIMIT_STORAGE": env.get(PREFIX + "RATELIMIT_STORAGE", "").strip()
        or "memory://",
        "KEYLIGHT_LOGIN_LIMIT": env.get(PREFIX + "LOGIN_LIMIT", "").strip() or "10 per 15 minutes",
        "KEYLIGHT_MAX_QUANTITY": _int(env, "MAX_QUANTITY", 50),
        "KEYLIGHT_CART_MAX_AGE": _int(env, "CART_MAX_AGE", 14 * 24 * 3600),
        "KEYLIGHT_CHECKOUT_RETENTION": _int(env, "CHECKOUT_RETENTION", 30 * 24 * 3600),
        "KEYLIGHT_SESSION_MAX_AGE": _int(env, "SESSION_MAX_AGE", 12 * 3600),
        "KEYLIGHT_HANDOVER_DAYS": _int(env, "HANDOVER_DAYS", 7),
        "MAX_CONTENT_LENGTH": _int(env, "MAX_CONTENT_LENGTH", 64 * 1024),
        "KEYLIGHT_COOKIE_SAMESITE": samesite,
        "KEYLIGHT_TRUSTED_PROXIES": _int(env, "TRUSTED_PROXIES", 0, minimum=0),
        #: argon2id parameters; OWASP's minimum for argon2id. Tests may lower them
        #: through test_config only.
        "KEYLIGHT_ARGON2": {"time_cost": 2, "memory_cost": 19 * 1024, "parallelism": 1},
        "KEYLIGHT_HOOK_MAX_ATTEMPTS": _int(env, "HOOK_MAX_ATTEMPTS", 12),
        #: Retry delays of the outbox (first, largest) in seconds, and how long a worker's
        #: claim on a delivery lasts; tests shorten them through test_config only.
        "KEYLIGHT_HOOK_BACKOFF": (10.0, 3600.0),
        "KEYLIGHT_HOOK_LEASE": 120.0,
        "KEYLIGHT_SMTP_HOST": env.get(PREFIX + "SMTP_HOST", "").strip(),
        "KEYLIGHT_SMTP_PORT": _int(env, "SMTP_PORT", SMTP_PORTS[tls]),
        "KEYLIGHT_SMTP_USERNAME": env.get(PREFIX + "SMTP_USERNAME", "").strip(),
        "KEYLIGHT_SMTP_PASSWORD": env.get(PREFIX + "SMTP_PASSWORD", ""),
        "KEYLIGHT_SMTP_FROM": env.get(PREFIX + "SMTP_FROM", "").strip(),
        "KEYLIGHT_SMTP_TLS": tls,
    }


def finish(config: dict[str, Any]) -> None:
    """Fill in the secret and check what only makes sense as a whole; raise on nonsense."""
    production = config["KEYLIGHT_ENV"] == "production"
    keys = list(config["KEYLIGHT_SECRET_KEYS"])
    if not keys:
        if production:
            raise SettingsError(
                f"{PREFIX}SECRET_KEYS is not set: production mode needs a real secret "
                '(e.g. python -c "import secrets; print(secrets.token_urlsafe(48))")'
            )
        keys = [dev_secret(Path(config["KEYLIGHT_INSTANCE"]))]
    if production and any(len(key) < 32 for key in keys):
        raise SettingsError(f"{PREFIX}SECRET_KEYS: each secret needs at least 32 characters")
    if not config["KEYLIGHT_DATABASE_URL"]:
        if production:
            # A default here would be a new, empty database wherever the command was run,
            # answering "No orders yet" about a shop that has them.
            raise SettingsError(
                f"{PREFIX}DATABASE_URL is not set: production mode keeps its orders where you "
                "say, e.g. sqlite:////var/lib/keylight/keylight.sqlite3 or "
                "postgresql+psycopg://keylight@db.internal/keylight"
            )
        instance = Path(config["KEYLIGHT_INSTANCE"])
        config["KEYLIGHT_DATABASE_URL"] = f"sqlite:///{instance / 'keylight.sqlite3'}"
    if config["KEYLIGHT_COOKIE_SAMESITE"] == "None" and not production:
        raise SettingsError(
            f"{PREFIX}COOKIE_SAMESITE=None needs Secure cookies: set {PREFIX}ENV=production"
        )
    if config["KEYLIGHT_CHECKOUT_RETENTION"] < config["KEYLIGHT_CART_MAX_AGE"]:
        raise SettingsError(
            f"{PREFIX}CHECKOUT_RETENTION ({config['KEYLIGHT_CHECKOUT_RETENTION']} s) is shorter "
            f"than {PREFIX}CART_MAX_AGE ({config['KEYLIGHT_CART_MAX_AGE']} s): answers would "
            "go while the cart that holds them is still valid; make it at least as long"
        )
    if production and os.environ.get("KEYLIGHT_CLOCK_FILE"):
        raise SettingsError(
            f"{PREFIX}CLOCK_FILE moves the clock for tests and demos; production keeps real "
            "time: unset it"
        )
    config["SECRET_KEY"] = keys[0]
    config["SECRET_KEY_FALLBACKS"] = keys[1:]


def dev_secret(instance: Path) -> str:
    """A random secret kept in the instance folder, so a restart keeps carts and logins."""
    path = instance / "dev-secret"
    try:
        secret = path.read_text().strip()
        if secret:
            return secret
    except FileNotFoundError:
        pass
    instance.mkdir(mode=0o700, parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another worker wrote it first: use theirs
        for _ in range(50):
            existing = path.read_text().strip()
            if existing:
                return existing
            time.sleep(0.01)
        raise SettingsError(f"{path} is empty; delete it and start again") from None
    with os.fdopen(fd, "w") as handle:
        handle.write(secret + "\n")
    return secret
