"""The staff's second factor: time-based one-time codes (RFC 6238) and recovery codes.

pyotp computes the codes; this module decides what is accepted. A code is good for
its 30-second step and the one on either side (a phone's clock drifts, a person
types slowly), and only once: the step of the last code accepted is kept with the
member (``staff.totp_last_counter``), and a code of that step or an earlier one is
refused, so a code seen over a shoulder or in a log cannot be replayed.

Recovery codes stand in for the phone when it is lost. They are random (50 bits
each), so a SHA-256 of each is enough to keep them (a slow hash guards guessable
secrets, and these are not); each works once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime

import pyotp
import segno

#: How many 30-second steps either side of now a code may be from.
DRIFT = 1
#: How many recovery codes a member gets at enrolment.
RECOVERY_CODES = 10
#: Recovery codes are written from this alphabet: no 0/O or 1/I/L to mix up.
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"


def new_secret() -> str:
    """A new shared secret: 160 bits in base32, as RFC 4226 recommends."""
    return pyotp.random_base32(32)


def provisioning_uri(secret: str, email: str, issuer: str) -> str:
    """The ``otpauth://`` address an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=issuer)


def qr_svg(uri: str) -> str:
    """The address as a QR code in SVG, to put in the page as it is (no image request,
    nothing for a CSP to allow)."""
    return segno.make(uri, error="m").svg_inline(scale=4, title="QR code", omitsize=False)


def grouped(secret: str) -> str:
    """The secret in groups of four, for someone who types it instead of scanning it."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def counter_of(secret: str, code: str, moment: datetime) -> int | None:
    """The time step ``code`` belongs to, if it is the code of a step within ``DRIFT``
    of ``moment``; None for any other code. Spaces in what was typed are ignored."""
    code = "".join(code.split())
    if len(code) != 6 or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    now = totp.timecode(moment)
    for counter in range(now - DRIFT, now + DRIFT + 1):
        if hmac.compare_digest(totp.generate_otp(counter), code):
            return counter
    return None


def new_recovery_codes() -> list[str]:
    """Fresh recovery codes as the member writes them down: ``xxxxx-xxxxx``."""
    codes = []
    for _ in range(RECOVERY_CODES):
        letters = "".join(secrets.choice(_ALPHABET) for _ in range(10))
        codes.append(f"{letters[:5]}-{letters[5:]}")
    return codes


def recovery_hash(code: str) -> str:
    """What is kept of a recovery code: as typed, give or take case, spaces and dashes."""
    normal = "".join(code.lower().split()).replace("-", "")
    return hashlib.sha256(normal.encode()).hexdigest()
