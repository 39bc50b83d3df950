"""Hooks: events written to the outbox with what they report, and the validate call.

An event (``step_completed``, ``account_created``, ``signed_in``, ``order_placed``)
is one JSON document::

    {"id": "evt_...", "type": "order_placed", "created": "2026-12-03T10:00:00Z",
     "journey": {"key": ..., "name": ..., "order_channel": ...}, "data": {...}}

``enqueue`` writes one outbox row per hook that listens for it (the journey's
hooks, and the hooks of the step it happened at) on the caller's connection, so
the row commits or rolls back with the order, account or answers it reports.
``step_completed`` of a step that saves something (a form's answers, the guest's
email, a sign-in, the payment method, the order) is written in that same transaction; a
step that saves nothing (the cart is in the cookie) gets its own durable
transaction right after, before the customer is sent on. ``outbox.py`` delivers the rows at
least once. Webhooks are signed like the big
payment providers sign theirs: ``Keylight-Signature: t=<unix>,v1=<hex>`` where
``<hex>`` is HMAC-SHA256 of ``"<t>.<body>"`` under the hook's secret; ``verify``
is the receiver's side of it.

``validate_step`` asks a step's validate hooks, synchronously and within their
timeout, whether the customer's answers are acceptable.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import logging
import os
import time
import uuid
from collections.abc import Mapping
from datetime import datetime
from importlib.metadata import entry_points
from typing import Any
from urllib.parse import urlsplit

from flask import g, request
from sqlalchemy import Connection, insert

from kljourney import Shop, expressions
from kljourney.model import Journey, StepBase, ValidateHook

from . import conditions
from .accounts import now
from .settings import SettingsError
from .tables import events

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "Keylight-Signature"
ENTRY_POINT_GROUP = "keylight.hooks"
#: Largest answer read from a receiver; a validate answer is a few field messages.
MAX_ANSWER = 64 * 1024
#: Shown when a validate hook cannot answer and its policy is on_error = "refuse".
UNAVAILABLE = "We could not check your answers just now. Please try again in a moment."
#: Hook kinds delivered from the outbox (validate hooks are called, not queued).
DELIVERED = ("webhook", "email", "python")


class HookFailed(Exception):
    """A delivery or a validate call that did not work; the message is for operators."""


# -- signatures --------------------------------------------------------------------------


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The ``Keylight-Signature`` header value for ``body``."""
    stamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={stamp},v1={digest}"


def verify(secret: str, body: bytes, header: str, tolerance: int = 300) -> bool:
    """True if ``header`` signs ``body`` with ``secret`` and is at most ``tolerance``
    seconds old: what a receiver checks before trusting an event (see README, Hooks)."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        stamp = int(parts["t"])
    except (ValueError, KeyError):
        return False
    if abs(time.time() - stamp) > tolerance:
        return False
    expected = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts.get("v1", ""))


def secret(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        raise HookFailed(
            f"the environment variable {name} (the hook's secret_env) is not set; "
            "set it to the secret the receiver verifies signatures with"
        )
    return value


# -- events ------------------------------------------------------------------------------


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def new_event(event_type: str, journey: Journey, data: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": f"evt_{uuid.uuid4().hex}",
        "type": event_type,
        "created": stamp(now()),
        "journey": journey.summary,
        "data": dict(data),
    }


def listeners(journey: Journey, event_type: str, step: StepBase | None) -> list[Any]:
    """The journey's hooks for this event, then those of the step it happened at."""
    found = [h for h in journey.hooks if h.type in DELIVERED and h.event == event_type]
    if step is not None:
        found += [h for h in step.hooks if h.type in DELIVERED and h.event == event_type]
    return found


def condition_context(
    journey: Journey,
    *,
    customer: Mapping[str, Any] | None = None,
    answers: Mapping[str, Any] | None = None,
    cart: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The names a hook's ``when`` reads, from the data an event carries.

    For events without a checkout behind them; with one, ``visit_context`` gives
    the full context that step conditions and rules read.
    """
    flat: dict[str, Any] = {}
    for value in (answers or {}).values():
        if isinstance(value, Mapping):
            flat.update(value)
    person = dict(customer or {})
    return {
        "journey": expressions.Record(journey.summary),
        "customer": expressions.Record({**person, "answers": expressions.Record(flat)}),
        "answers": expressions.Record(flat),
        "cart": expressions.Record(cart or {}),
        "entry": expressions.Record({}),
    }


def applies(hook: Any, context: Mapping[str, Any]) -> bool:
    return not hook.when or expressions.parse(hook.when).test(context)


def enqueue(
    connection: Connection,
    journey: Journey,
    event_type: str,
    data: Mapping[str, Any],
    *,
    step: StepBase | None = None,
    context: Mapping[str, Any] | None = None,
) -> str | None:
    """Write the event to the outbox for every hook that wants it, on ``connection``
    (inside the caller's transaction). Returns the event id, or None if no hook listens."""
    hooks = [
        h
        for h in listeners(journey, event_type, step)
        if applies(h, context or condition_context(journey))
    ]
    if not hooks:
        return None
    event = new_event(event_type, journey, data)
    moment = now()
    connection.execute(
        insert(events),
        [
            {
                "event_id": event["id"],
                "type": event_type,
                "journey_key": journey.key,
                "hook": hook.model_dump(exclude={"when"}),
                "payload": event,
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": moment,
                "created_at": moment,
            }
            for hook in hooks
        ],
    )
    return event["id"]


# -- HTTP --------------------------------------------------------------------------------


def post_json(
    url: str, body: bytes, headers: Mapping[str, str], timeout: float
) -> tuple[int, bytes]:
    """POST ``body``; (status, answer). ``timeout`` bounds the whole exchange: connecting,
    sending and every read, so a receiver that hangs or trickles cannot hold us longer."""
    parts = urlsplit(url)
    deadline = time.monotonic() + timeout
    kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    connection = kind(parts.hostname or "", parts.port, timeout=timeout)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        connection.request(
            "POST",
            path,
            body=body,
            headers={
                "Content-Type": "application/json",
                "User-Agent": "keylight-hooks",
                **headers,
            },
        )
        _remaining(connection, deadline)
        response = connection.getresponse()
        chunks: list[bytes] = []
        size = 0
        while size <= MAX_ANSWER:
            _remaining(connection, deadline)
            chunk = response.read1(8192)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return response.status, b"".join(chunks)[:MAX_ANSWER]
    except TimeoutError:
        raise HookFailed(f"no answer from {url} within {timeout:g} s") from None
    except (OSError, http.client.HTTPException) as error:
        raise HookFailed(f"could not reach {url}: {error or type(error).__name__}") from None
    finally:
        connection.close()


def _remaining(connection: http.client.HTTPConnection, deadline: float) -> None:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError
    if connection.sock is not None:
        connection.sock.settimeout(left)


def signed_headers(hook_secret_env: str, body: bytes, event: Mapping[str, Any]) -> dict[str, str]:
    return {
        SIGNATURE_HEADER: sign(secret(hook_secret_env), body),
        "Keylight-Event-Id": str(event["id"]),
        "Keylight-Event-Type": str(event["type"]),
    }


# -- validate hooks ----------------------------------------------------------------------


def validate_step(visit: Any, step: StepBase, answers: Mapping[str, Any]) -> dict[str, str]:
    """Field errors from the step's validate hooks ({} when all accept).

    Each hook gets ``{"id", "type": "validate", ..., "data": {"step", "answers",
    "customer", "cart"}}`` and answers ``{"ok": true}`` or ``{"errors": {"field": "message"}}``.
    A timeout, an error status or an answer of another shape follows the hook's
    ``on_error``: "accept" lets the step through, "refuse" shows ``UNAVAILABLE``.
    """
    hooks = [h for h in step.hooks if isinstance(h, ValidateHook)]
    if not hooks:
        return {}
    journey, customer = visit.journey, person(visit)
    context = visit_context(visit, answers)
    errors: dict[str, str] = {}
    for hook in hooks:
        if not applies(hook, context):
            continue
        data = {
            "step": {"id": step.id, "name": step.name, "type": step.type},
            "answers": dict(answers),
            "customer": customer,
            "cart": [
                {"product": product, "quantity": quantity}
                for product, quantity in visit.cart.lines.items()
            ],
        }
        event = new_event("validate", journey, data)
        try:
            found = _ask(hook, event)
        except HookFailed as problem:
            log.warning("validate hook %s for step %r: %s", hook.url, step.id, problem)
            if hook.on_error == "refuse":
                errors.setdefault("_form", UNAVAILABLE)
            continue
        for name, message in found.items():
            errors.setdefault(name, message)
    return errors


def _ask(hook: ValidateHook, event: Mapping[str, Any]) -> dict[str, str]:
    body = json.dumps(event, separators=(",", ":"), default=str).encode()
    status, answer = post_json(
        hook.url, body, signed_headers(hook.secret_env, body, event), hook.timeout
    )
    try:
        parsed = json.loads(answer)
    except ValueError:
        parsed = None
    errors = parsed.get("errors") if isinstance(parsed, dict) else None
    if isinstance(errors, dict) and all(
        isinstance(k, str) and isinstance(v, str) and v for k, v in errors.items()
    ):
        if errors and status < 500:
            return errors
        if not errors and 200 <= status < 300:
            return {}
    if 200 <= status < 300 and isinstance(parsed, dict) and parsed.get("ok") is True:
        return {}
    raise HookFailed(
        f"{hook.url} answered {status} with {answer[:200]!r}; expected "
        '{"ok": true} or {"errors": {"field": "message"}}'
    )


# -- Python hooks ------------------------------------------------------------------------


def python_function(name: str) -> Any:
    """The function registered as ``name`` in the ``keylight.hooks`` entry point group."""
    found = entry_points(group=ENTRY_POINT_GROUP, name=name)
    if not found:
        known = sorted(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP))
        raise HookFailed(
            f"no function {name!r} in the entry point group {ENTRY_POINT_GROUP!r} "
            f"(installed: {', '.join(known) or 'none'}). Register it in your package's "
            f'pyproject.toml: [project.entry-points."{ENTRY_POINT_GROUP}"] '
            f'{name} = "yourpackage.module:function", then reinstall the package'
        )
    return next(iter(found)).load()


def _hooks_of(journey: Any) -> list[Any]:
    return list(journey.hooks) + [hook for step in journey.steps for hook in step.hooks]


def missing_settings(shop: Shop, config: Mapping[str, Any]) -> list[str]:
    """The settings without which a journey's hooks can never succeed: the secret a
    webhook or validate hook signs with, the SMTP server and sender of email hooks.

    Found at start rather than as failed deliveries (``create_app`` refuses to start
    in production, and warns in development, where hooks may be of no interest yet).
    """
    smtp = config.get("KEYLIGHT_SMTP_HOST") and config.get("KEYLIGHT_SMTP_FROM")
    problems = set()
    for journey in shop.journeys.values():
        where = journey.source or journey.key
        for hook in _hooks_of(journey):
            if hook.type in ("webhook", "validate") and not os.environ.get(hook.secret_env):
                problems.add(
                    f"{where}: {hook.type} hooks sign with the environment variable "
                    f"{hook.secret_env}, which is not set; set it to the receiver's secret"
                )
            elif hook.type == "email" and not smtp:
                problems.add(f"{where}: email hooks need KEYLIGHT_SMTP_HOST and KEYLIGHT_SMTP_FROM")
    return sorted(problems)


def check_functions(shop: Shop) -> None:
    """Refuse to start when a journey names a Python hook no installed package provides."""
    for journey in shop.journeys.values():
        for hook in _hooks_of(journey):
            if hook.type != "python":
                continue
            try:
                python_function(hook.function)
            except HookFailed as problem:
                raise SettingsError(
                    f"{journey.source or journey.key}: a python hook cannot run: {problem}"
                ) from None
            except Exception as error:  # noqa: BLE001 - an import error in the hook's package
                raise SettingsError(
                    f"{journey.source or journey.key}: the python hook {hook.function!r} "
                    f"does not import: {type(error).__name__}: {error}"
                ) from None


# -- called from step processing ---------------------------------------------------------


def person(visit: Any) -> dict[str, Any]:
    """The customer as events show them: email, signed in, guest."""
    signed_in = visit.customer is not None
    return {
        "email": visit.email,
        "signed_in": signed_in,
        "guest": not signed_in and bool(visit.guest_email),
    }


def step_completed(visit: Any, step: StepBase, connection: Connection | None = None) -> str | None:
    """Queue ``step_completed`` for a step the customer just got past (if a hook listens).

    With ``connection``: inside the transaction that saved the step's answers (or
    the sign-in), so the two are committed together or not at all. Without: in a
    transaction of its own, for steps that write nothing (the cart lives in the
    cookie), from ``completed`` below once the step is done.
    """
    if not listeners(visit.journey, "step_completed", step):
        return None
    if connection is not None:
        visit.forget_reads()  # the event shows what this transaction saved
    customer = person(visit)
    answers = dict(visit.answers.get(step.id) or {})
    data = {
        "step": {"id": step.id, "name": step.name, "type": step.type},
        "checkout_id": visit.cart.checkout_id,
        "customer": customer,
        "answers": answers,
    }
    context = visit_context(visit)
    if connection is not None:
        g.keylight_step_event = True  # written: ``completed`` has nothing left to do
        return enqueue(
            connection, visit.journey, "step_completed", data, step=step, context=context
        )
    with visit.writing() as own:
        return enqueue(own, visit.journey, "step_completed", data, step=step, context=context)


def visit_context(visit: Any, submitted: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The context a hook's ``when`` is evaluated in: the one conditions and rules use."""
    return conditions.context(visit, submitted)


def init_app(app: Any) -> None:
    """Queue ``step_completed`` after every step POST that was not refused."""

    @app.after_request
    def completed(response: Any) -> Any:
        visit = g.get("keylight_visit")
        if (
            request.endpoint != "steps.post_step"
            or visit is None
            or g.get("keylight_refused", True)
            or g.get("keylight_step_event")  # written with the step's answers
        ):
            return response
        step = visit.journey.step((request.view_args or {}).get("step_id", ""))
        if step is not None:
            step_completed(visit, step)
        return response
