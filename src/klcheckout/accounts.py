"""Customer accounts and login sessions.

Passwords are hashed with argon2id at no less than OWASP's minimum (19 MiB,
2 passes, 1 lane) and re-hashed on login when the parameters change. A login is
a row in ``sessions``; the cookie holds only a random token whose SHA-256 is the
row's key, so logout, a password change or the absolute timeout really end it.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from functools import cache
from typing import Any

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import Connection, bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from zxcvbn.frequency_lists import FREQUENCY_LISTS

from kljourney.i18n import gettext as _
from kljourney.i18n import ngettext

from .clock import now
from .tables import customers, sessions

MIN_PASSWORD = 8
#: Long passphrases are welcome; the bound only keeps a request from hashing a megabyte.
MAX_PASSWORD = 1024


@cache
def common_passwords() -> frozenset[str]:
    """zxcvbn's list of the 30,000 most common passwords, compared lower-cased."""
    return frozenset(word.lower() for word in FREQUENCY_LISTS["passwords"])


def password_problem(password: str) -> str | None:
    """Why this password cannot be used, or None. Length and commonness only (NIST 800-63B)."""
    if len(password) < MIN_PASSWORD:
        return ngettext(
            "Choose a password with at least %(count)d character.",
            "Choose a password with at least %(count)d characters.",
            MIN_PASSWORD,
        ) % {"count": MIN_PASSWORD}
    if len(password) > MAX_PASSWORD:
        return ngettext(
            "Choose a password with at most %(count)d character.",
            "Choose a password with at most %(count)d characters.",
            MAX_PASSWORD,
        ) % {"count": MAX_PASSWORD}
    if password.lower() in common_passwords():
        return _("This password is one of the most common ones; choose another.")
    return None


def hasher(params: dict[str, int]) -> PasswordHasher:
    return _hasher(params["time_cost"], params["memory_cost"], params["parallelism"])


@cache
def _hasher(time_cost: int, memory_cost: int, parallelism: int) -> PasswordHasher:
    return PasswordHasher(
        time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism, type=Type.ID
    )


@cache
def _dummy_hash(time_cost: int, memory_cost: int, parallelism: int) -> str:
    return _hasher(time_cost, memory_cost, parallelism).hash(secrets.token_urlsafe(16))


def normal_email(email: str) -> str:
    return email.strip().lower()


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def find_customer(connection: Connection, email: str) -> Any:
    return connection.execute(
        select(customers).where(customers.c.email == normal_email(email))
    ).first()


def customer_by_id(connection: Connection, customer_id: int) -> Any:
    return connection.execute(select(customers).where(customers.c.id == customer_id)).first()


def new_customer(connection: Connection, email: str, password_hash: str) -> int | None:
    """The new customer's id, or None when the email is taken (the caller must not say so).

    The password is hashed beforehand, outside the write transaction."""
    stamp = now()
    try:
        with connection.begin_nested():
            return connection.execute(
                insert(customers)
                .values(
                    email=normal_email(email),
                    password_hash=password_hash,
                    profile={},
                    created_at=stamp,
                    password_changed_at=stamp,
                )
                .returning(customers.c.id)
            ).scalar_one()
    except IntegrityError:
        return None


def authenticate(
    connection: Connection, email: str, password: str, params: dict[str, int]
) -> int | None:
    """The customer's id if the password is right; as slow for an unknown email as a known one."""
    customer_id, new_hash = check_password(connection, email, password, params)
    if customer_id is not None and new_hash is not None:
        set_password_hash(connection, customer_id, new_hash)
    return customer_id


def check_password(
    connection: Connection, email: str, password: str, params: dict[str, int]
) -> tuple[int | None, str | None]:
    """``authenticate`` without writing: the id, and a new hash to store if the old one's
    parameters are outdated. Lets argon2 (tens of milliseconds on purpose) run outside
    a write transaction, where it would hold up every other writer (SQLite has one)."""
    row = find_customer(connection, email)
    password_hasher = hasher(params)
    if row is None:
        check_nothing(password, params)
        return None, None
    try:
        password_hasher.verify(row.password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None, None
    if password_hasher.check_needs_rehash(row.password_hash):
        return row.id, password_hasher.hash(password)
    return row.id, None


def check_nothing(password: str, params: dict[str, int]) -> None:
    """Verify ``password`` against a hash of nothing: an unknown email takes as long as a
    known one, so the time of the answer does not tell which emails have accounts."""
    try:
        hasher(params).verify(_dummy_hash(*_key(params)), password)
    except VerificationError:
        pass


def set_password_hash(connection: Connection, customer_id: int, password_hash: str) -> None:
    connection.execute(
        update(customers).where(customers.c.id == customer_id).values(password_hash=password_hash)
    )


def _key(params: dict[str, int]) -> tuple[int, int, int]:
    return params["time_cost"], params["memory_cost"], params["parallelism"]


def start_session(connection: Connection, customer_id: int, max_age: int) -> str:
    """A new random session token (always new: no session fixation)."""
    token = secrets.token_urlsafe(32)
    stamp = now()
    connection.execute(
        insert(sessions).values(
            token_hash=token_hash(token),
            customer_id=customer_id,
            created_at=stamp,
            expires_at=stamp + timedelta(seconds=max_age),
        )
    )
    return token


def end_session(connection: Connection, token: str) -> None:
    connection.execute(delete(sessions).where(sessions.c.token_hash == token_hash(token)))


def end_all_sessions(connection: Connection, customer_id: int) -> None:
    """A password change signs the customer out everywhere."""
    connection.execute(delete(sessions).where(sessions.c.customer_id == customer_id))


def set_new_password(connection: Connection, customer_id: int, password_hash: str) -> None:
    """A changed password (hashed beforehand): every session of the customer ends."""
    connection.execute(
        update(customers)
        .where(customers.c.id == customer_id)
        .values(password_hash=password_hash, password_changed_at=now())
    )
    end_all_sessions(connection, customer_id)


SESSION_CUSTOMER = (
    select(
        customers.c.id,
        customers.c.email,
        customers.c.profile,
        customers.c.segment,
        sessions.c.expires_at,
    )
    .join(sessions, sessions.c.customer_id == customers.c.id)
    .where(sessions.c.token_hash == bindparam("token_hash"))
)


def session_customer(connection: Connection, token: str) -> Any:
    """The signed-in customer for a session token, or None if it ended or never existed."""
    if not token:
        return None
    row = connection.execute(SESSION_CUSTOMER, {"token_hash": token_hash(token)}).first()
    if row is None:
        return None
    if row.expires_at <= now():
        return None
    return row


def save_profile(connection: Connection, customer_id: int, values: dict[str, Any]) -> None:
    connection.execute(
        update(customers).where(customers.c.id == customer_id).values(profile=values)
    )


def set_segment(connection: Connection, email: str, segment: str) -> bool:
    """Put a customer in a segment (``customer.segment`` in conditions); False if unknown."""
    result = connection.execute(
        update(customers).where(customers.c.email == normal_email(email)).values(segment=segment)
    )
    return result.rowcount == 1


def recent_customers(connection: Connection, limit: int) -> list[Any]:
    """The newest accounts, for operators."""
    query = (
        select(customers.c.email, customers.c.segment, customers.c.created_at)
        .order_by(customers.c.id.desc())
        .limit(limit)
    )
    return list(connection.execute(query))
