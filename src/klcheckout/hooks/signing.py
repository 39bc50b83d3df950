"""Signatures on what the backend sends to a shop's receivers, and their check.

Signed the way the big payment providers sign their webhooks:
``Keylight-Signature: t=<unix>,v1=<hex>``, where ``<hex>`` is HMAC-SHA256 of
``"<t>.<body>"`` under the hook's secret. ``verify`` is the receiver's side of it
(the README shows the same function for receivers to copy).
"""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "Keylight-Signature"


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
