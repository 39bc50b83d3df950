"""One-time sign-in links, for guests who bought a subscription and have no password.

A guest asks for a link with the email they ordered with; the link goes to that
address (and only if a guest subscription has it, though the answer never says).
The link carries a random token whose SHA-256 alone is stored; it works once and
for ``LINK_LIFETIME``. Using it starts an *email session*: the cookie's session
token then begins with ``EMAIL_SESSION``, and the session owns the subscriptions
bought as a guest with that email, nothing else (``subscriptions.Owner``).
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from sqlalchemy import Connection, and_, delete, insert, select, update

from . import accounts
from .accounts import normal_email, token_hash
from .clock import now
from .tables import email_sessions, sign_in_links

LINK_LIFETIME = timedelta(minutes=15)
#: What a link is for (``sign_in_links.purpose``).
SIGN_IN, INVITATION = "sign_in", "invitation"
#: How long a new customer's invitation to set a password works.
INVITATION_LIFETIME = timedelta(days=7)
#: How an email session's token starts, to tell it from an account's login.
EMAIL_SESSION = "e."


def new_link(
    connection: Connection,
    email: str,
    *,
    purpose: str = SIGN_IN,
    lifetime: timedelta = LINK_LIFETIME,
) -> str:
    """A new link token for ``email``; earlier unused ones of the address stay valid."""
    token = secrets.token_urlsafe(32)
    stamp = now()
    connection.execute(
        insert(sign_in_links).values(
            token_hash=token_hash(token),
            email=normal_email(email),
            created_at=stamp,
            expires_at=stamp + lifetime,
            purpose=purpose,
        )
    )
    return token


def use_link(connection: Connection, token: str, *, purpose: str = SIGN_IN) -> str | None:
    """The link's email, spending the link; None if it is unknown, used, expired or
    made for another purpose (an invitation never starts a guest's email session).

    One conditional UPDATE: of two requests with the same link, one gets the email.
    """
    if not token or len(token) > 100:
        return None
    digest = token_hash(token)
    stamp = now()
    result = connection.execute(
        update(sign_in_links)
        .where(
            and_(
                sign_in_links.c.token_hash == digest,
                sign_in_links.c.used_at.is_(None),
                sign_in_links.c.expires_at > stamp,
                sign_in_links.c.purpose == purpose,
            )
        )
        .values(used_at=stamp)
    )
    if result.rowcount != 1:
        return None
    query = select(sign_in_links.c.email).where(sign_in_links.c.token_hash == digest)
    return connection.execute(query).scalar_one()


def link_open(connection: Connection, token: str, *, purpose: str) -> bool:
    """Whether the link would still work, spending nothing (its page says so at once
    rather than after the form it offers is filled in)."""
    if not token or len(token) > 100:
        return False
    query = select(sign_in_links.c.token_hash).where(
        sign_in_links.c.token_hash == token_hash(token),
        sign_in_links.c.used_at.is_(None),
        sign_in_links.c.expires_at > now(),
        sign_in_links.c.purpose == purpose,
    )
    return connection.execute(query).first() is not None


def start_email_session(connection: Connection, email: str, max_age: int) -> str:
    token = secrets.token_urlsafe(32)
    stamp = now()
    connection.execute(
        insert(email_sessions).values(
            token_hash=token_hash(token),
            email=normal_email(email),
            created_at=stamp,
            expires_at=stamp + timedelta(seconds=max_age),
        )
    )
    return EMAIL_SESSION + token


def is_email_session(token: str) -> bool:
    return token.startswith(EMAIL_SESSION)


def session_email(connection: Connection, token: str) -> str | None:
    """The email of a live email session, or None."""
    query = select(email_sessions.c.email, email_sessions.c.expires_at).where(
        email_sessions.c.token_hash == token_hash(token.removeprefix(EMAIL_SESSION))
    )
    row = connection.execute(query).first()
    if row is None or row.expires_at <= now():
        return None
    return row.email


def end_email_session(connection: Connection, token: str) -> None:
    digest = token_hash(token.removeprefix(EMAIL_SESSION))
    connection.execute(delete(email_sessions).where(email_sessions.c.token_hash == digest))


def end_any_session(connection: Connection, token: str) -> None:
    """End a login, whether an account's or an email session."""
    if is_email_session(token):
        end_email_session(connection, token)
    else:
        accounts.end_session(connection, token)


def purge(connection: Connection) -> int:
    """Forget expired links and sessions (the worker's hourly clean-up)."""
    stamp = now()
    gone = connection.execute(delete(sign_in_links).where(sign_in_links.c.expires_at < stamp))
    ended = connection.execute(delete(email_sessions).where(email_sessions.c.expires_at < stamp))
    return gone.rowcount + ended.rowcount
