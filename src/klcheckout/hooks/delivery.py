"""Sending an event to where a hook says: a signed HTTP POST, an email, a Python function.

``deliver`` sends one outbox row (``outbox`` decides when, and retries); the
validate hooks use ``post_json`` too. Whatever goes wrong is a ``HookFailed``
with a message for operators.
"""

from __future__ import annotations

import http.client
import json
import os
import time
from collections.abc import Mapping
from importlib.metadata import entry_points
from typing import Any
from urllib.parse import urlsplit

from flask import Flask

from kljourney import i18n

from . import HookFailed, mail
from .signing import SIGNATURE_HEADER, sign

ENTRY_POINT_GROUP = "keylight.hooks"
#: Largest answer read from a receiver; a validate answer is a few field messages.
MAX_ANSWER = 64 * 1024
#: Webhook deliveries wait this long for the receiver's answer.
WEBHOOK_TIMEOUT = 10.0


def deliver(app: Flask, row: Any) -> None:
    """Send one delivery; raise ``HookFailed`` (or anything) if it did not arrive."""
    hook, event = row.hook, row.payload
    kind = hook["type"]
    if kind == "webhook":
        body = json.dumps(event, separators=(",", ":"), default=str).encode()
        headers = signed_headers(hook["secret_env"], body, event)
        status, answer = post_json(hook["url"], body, headers, WEBHOOK_TIMEOUT)
        if not 200 <= status < 300:
            raise HookFailed(f"{hook['url']} answered {status}: {answer[:200]!r}")
    elif kind == "email":
        # In the language the event was recorded in (the customer's pages', or the
        # order's for what happens without them); the shop's default for any other.
        loaded = app.extensions["keylight"]
        locale = loaded.shop.in_language(event.get("locale") or loaded.shop.site.locale)
        with i18n.speaking(locale.site.locale, loaded.folders):
            mail.send_event(app.config, hook, event)
    elif kind == "python":
        python_function(hook["function"])(event)
    else:
        raise HookFailed(f"unknown hook type {kind!r}")


# -- HTTP --------------------------------------------------------------------------------


def secret(name: str) -> str:
    """The secret in the environment variable ``name`` (a hook's ``secret_env``)."""
    value = os.environ.get(name, "")
    if not value:
        raise HookFailed(
            f"the environment variable {name} (the hook's secret_env) is not set; "
            "set it to the secret the receiver verifies signatures with"
        )
    return value


def signed_headers(secret_env: str, body: bytes, event: Mapping[str, Any]) -> dict[str, str]:
    """The headers of a webhook or validate request carrying ``event`` as ``body``."""
    return {
        SIGNATURE_HEADER: sign(secret(secret_env), body),
        "Keylight-Event-Id": str(event["id"]),
        "Keylight-Event-Type": str(event["type"]),
    }


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
