"""Staff accounts and their sessions: the people who walk journeys for customers.

A member is made by an operator (``klcheckout staff add``) with a role: "sales",
"partner" (with the partner's organisation) or "admin". Passwords are checked and
hashed as customers' are (``accounts``). A sign-in has two stages, each a row in
``staff_sessions`` under the SHA-256 of a random token kept in the staff cookie:
after the password the session is at "password" and may do nothing but the second
factor (or its enrolment); after the code it is "full" and carries the member's
role. A session lasts at most ``SESSION_HOURS`` from the password, never extended,
and ends at sign-out, when it is revoked (all of a member's, ``revoke_all``, or one,
``revoke_session``), or when the member is disabled. Nothing here is read from the
customer's cart cookie or session: a customer's sign-in never gives staff rights.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from . import totp
from .accounts import check_nothing, hasher, normal_email, token_hash
from .clock import now
from .tables import staff, staff_sessions

#: Who a member may be; the roles a journey's ``audience`` admits are in
#: ``kljourney.model.AUDIENCE_OF_ROLE`` (an admin may walk every journey).
ROLES = ("sales", "partner", "admin")
#: A staff session's absolute limit: a working day.
SESSION_HOURS = 8
#: The stages of a sign-in.
PASSWORD, FULL = "password", "full"
#: How much of a session's token hash names it to an operator (``staff sessions``): the
#: start of a SHA-256 tells nothing of the token, and twelve characters never collide
#: among one member's sessions.
SESSION_ID_LENGTH = 12


class StaffError(Exception):
    """An operator's mistake (an unknown email, a role without its partner); the
    message says what to do."""


def check_role(role: str, partner: str | None) -> str | None:
    """The partner organisation to store for ``role``; raises ``StaffError`` when they
    do not go together."""
    if role not in ROLES:
        raise StaffError(f"unknown role {role!r}; choose one of: {', '.join(ROLES)}")
    partner = (partner or "").strip() or None
    if role == "partner" and partner is None:
        raise StaffError("a partner works for an organisation: add --partner <organisation>")
    if role != "partner" and partner is not None:
        raise StaffError(f"--partner is for the role partner only, not {role}")
    if partner is not None and len(partner) > 200:
        raise StaffError("a partner's organisation has at most 200 characters")
    return partner


def add(
    connection: Connection, email: str, password_hash: str, role: str, partner: str | None
) -> int:
    """The new member's id; ``StaffError`` when the email is taken or the role is wrong.
    The password is hashed beforehand (``accounts.hasher``)."""
    partner = check_role(role, partner)
    stamp = now()
    try:
        with connection.begin_nested():
            return connection.execute(
                insert(staff)
                .values(
                    email=normal_email(email),
                    password_hash=password_hash,
                    role=role,
                    partner=partner,
                    recovery_codes=[],
                    created_at=stamp,
                    password_changed_at=stamp,
                )
                .returning(staff.c.id)
            ).scalar_one()
    except IntegrityError:
        raise StaffError(f"{normal_email(email)} is already a member of staff") from None


def find(connection: Connection, email: str) -> Any:
    return connection.execute(select(staff).where(staff.c.email == normal_email(email))).first()


def members(connection: Connection) -> list[Any]:
    """Every member with the number of sessions still running, for ``staff list``."""
    moment = now()
    running = (
        select(func.count())
        .where(
            staff_sessions.c.staff_id == staff.c.id,
            staff_sessions.c.revoked_at.is_(None),
            staff_sessions.c.expires_at > moment,
        )
        .scalar_subquery()
    )
    query = select(staff, running.label("sessions")).order_by(staff.c.email)
    return list(connection.execute(query))


def disable(connection: Connection, email: str) -> int:
    """Disable the member and end every session of theirs; the number of sessions ended.
    ``StaffError`` for an unknown email."""
    member = _existing(connection, email)
    if member.disabled_at is None:
        connection.execute(update(staff).where(staff.c.id == member.id).values(disabled_at=now()))
    return revoke_all(connection, member.id)


def revoke(connection: Connection, email: str) -> int:
    """End every session of the member (a lost laptop); how many were running."""
    return revoke_all(connection, _existing(connection, email).id)


def enable(connection: Connection, email: str) -> bool:
    """Let a disabled member sign in again; whether they were disabled. Their sessions
    stay ended: they sign in afresh, with both factors."""
    member = _existing(connection, email)
    if member.disabled_at is None:
        return False
    connection.execute(update(staff).where(staff.c.id == member.id).values(disabled_at=None))
    return True


def set_password(connection: Connection, email: str, password_hash: str) -> int:
    """Give the member a new password (hashed beforehand) and end every session: whoever
    knew the old one is signed out. The number of sessions ended."""
    member = _existing(connection, email)
    connection.execute(
        update(staff)
        .where(staff.c.id == member.id)
        .values(password_hash=password_hash, password_changed_at=now())
    )
    return revoke_all(connection, member.id)


def reset_factor(connection: Connection, email: str) -> int:
    """Forget the member's second factor and recovery codes (a lost phone with the codes
    gone too) and end every session; they enrol a new one at their next sign-in, which
    still needs the password. The number of sessions ended."""
    member = _existing(connection, email)
    connection.execute(
        update(staff)
        .where(staff.c.id == member.id)
        .values(totp_secret=None, totp_last_counter=None, recovery_codes=[])
    )
    return revoke_all(connection, member.id)


def _existing(connection: Connection, email: str) -> Any:
    member = find(connection, email)
    if member is None:
        raise StaffError(
            f"no member of staff has the email {normal_email(email)!r}; "
            "`klcheckout staff list` shows them"
        )
    return member


def sessions(connection: Connection, email: str) -> list[Any]:
    """The member's running sessions, newest first, for an operator to tell apart (by
    start, stage and browser) before ending one. ``StaffError`` for an unknown email."""
    member = _existing(connection, email)
    query = (
        select(staff_sessions)
        .where(
            staff_sessions.c.staff_id == member.id,
            staff_sessions.c.revoked_at.is_(None),
            staff_sessions.c.expires_at > now(),
        )
        .order_by(staff_sessions.c.created_at.desc(), staff_sessions.c.token_hash)
    )
    return list(connection.execute(query))


def session_id(session: Any) -> str:
    return str(session.token_hash[:SESSION_ID_LENGTH])


def revoke_session(connection: Connection, email: str, session: str) -> str:
    """End the one session of the member that ``session`` (an id ``sessions`` shows, or
    its first six characters or more) names: a browser left signed in on a shared
    computer, while the member goes on working in their own; its whole id. ``StaffError``
    when it names none, or more than one."""
    typed = session.strip().lower()
    running = sessions(connection, email)
    found = [row for row in running if len(typed) >= 6 and row.token_hash.startswith(typed)]
    if not found:
        raise StaffError(
            f"{normal_email(email)} has no running session {session.strip()!r}; "
            f"`klcheckout staff sessions {normal_email(email)}` shows each one's id"
        )
    if len(found) > 1:
        raise StaffError(f"{session.strip()!r} names {len(found)} sessions; type more of its id")
    connection.execute(
        update(staff_sessions)
        .where(staff_sessions.c.token_hash == found[0].token_hash)
        .values(revoked_at=now())
    )
    return session_id(found[0])


def revoke_all(connection: Connection, staff_id: int) -> int:
    moment = now()
    result = connection.execute(
        update(staff_sessions)
        .where(
            staff_sessions.c.staff_id == staff_id,
            staff_sessions.c.revoked_at.is_(None),
            staff_sessions.c.expires_at > moment,
        )
        .values(revoked_at=moment)
    )
    return result.rowcount


# -- signing in ---------------------------------------------------------------------------


def check_password(
    connection: Connection, email: str, password: str, params: dict[str, int]
) -> Any:
    """The member if the password is right and they are not disabled, else None; as slow
    for an unknown email as for a known one, so the answer's time tells nothing."""
    member = find(connection, email)
    password_hasher = hasher(params)
    if member is None:
        check_nothing(password, params)
        return None
    try:
        password_hasher.verify(member.password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    return member if member.disabled_at is None else None


def start_session(connection: Connection, staff_id: int, user_agent: str = "") -> str:
    """A new session at the "password" stage; its token (always new: no fixation).
    ``user_agent``: the browser's, kept so an operator can tell sessions apart."""
    return _insert_session(connection, staff_id, PASSWORD, now(), user_agent[:200] or None)


def _insert_session(
    connection: Connection, staff_id: int, stage: str, created: Any, user_agent: str | None
) -> str:
    token = secrets.token_urlsafe(32)
    connection.execute(
        insert(staff_sessions).values(
            token_hash=token_hash(token),
            staff_id=staff_id,
            stage=stage,
            created_at=created,
            expires_at=created + timedelta(hours=SESSION_HOURS),
            user_agent=user_agent,
        )
    )
    return token


def promote(connection: Connection, token: str) -> str:
    """After the second factor: the session becomes "full" under a new token (the old
    one ends), keeping its start, so the day's limit counts from the password."""
    row = connection.execute(
        select(staff_sessions).where(staff_sessions.c.token_hash == token_hash(token))
    ).one()
    connection.execute(
        update(staff_sessions)
        .where(staff_sessions.c.token_hash == row.token_hash)
        .values(revoked_at=now())
    )
    return _insert_session(connection, row.staff_id, FULL, row.created_at, row.user_agent)


def end_session(connection: Connection, token: str) -> None:
    connection.execute(
        update(staff_sessions)
        .where(
            staff_sessions.c.token_hash == token_hash(token), staff_sessions.c.revoked_at.is_(None)
        )
        .values(revoked_at=now())
    )


SESSION_MEMBER = select(
    staff.c.id,
    staff.c.email,
    staff.c.role,
    staff.c.partner,
    staff.c.totp_secret,
    staff.c.totp_last_counter,
    staff_sessions.c.stage,
    staff_sessions.c.expires_at,
).join(staff_sessions, staff_sessions.c.staff_id == staff.c.id)


def session_member(connection: Connection, token: str) -> Any:
    """The member and the stage of a live session, or None: unknown, revoked, past its
    day, or its member disabled. Read on every request: nothing is trusted from before."""
    if not token:
        return None
    row = connection.execute(
        SESSION_MEMBER.where(
            staff_sessions.c.token_hash == token_hash(token),
            staff_sessions.c.revoked_at.is_(None),
            staff.c.disabled_at.is_(None),
        )
    ).first()
    if row is None or row.expires_at <= now():
        return None
    return row


# -- the second factor --------------------------------------------------------------------


def begin_enrolment(connection: Connection, staff_id: int) -> str:
    """A secret for a member who has none yet: kept but not in force until confirmed by a
    code (``confirm_enrolment``). Asking again before that gives the same secret, so a
    reload does not invalidate the QR code already scanned."""
    member = connection.execute(select(staff).where(staff.c.id == staff_id)).one()
    if enrolled(member):
        raise StaffError("this member has enrolled a second factor already")
    if member.totp_secret:
        return member.totp_secret
    secret = totp.new_secret()
    connection.execute(update(staff).where(staff.c.id == staff_id).values(totp_secret=secret))
    return secret


def enrolled(member: Any) -> bool:
    """A member is enrolled once a code confirmed the secret: a code has been taken then.
    (Not the recovery codes: a member who used them all is still enrolled.)"""
    return bool(member.totp_secret) and member.totp_last_counter is not None


def accept_code(connection: Connection, staff_id: int, secret: str, code: str) -> bool:
    """Whether ``code`` is a current code of ``secret`` not used before; the step it was
    taken at is kept in the same statement, so two requests with one code cannot both pass."""
    counter = totp.counter_of(secret, code, now())
    if counter is None:
        return False
    result = connection.execute(
        update(staff)
        .where(
            staff.c.id == staff_id,
            staff.c.totp_secret == secret,
            (staff.c.totp_last_counter.is_(None)) | (staff.c.totp_last_counter < counter),
        )
        .values(totp_last_counter=counter)
    )
    return result.rowcount == 1


def confirm_enrolment(connection: Connection, staff_id: int, code: str) -> list[str] | None:
    """The recovery codes, shown once, if ``code`` confirms the secret being enrolled."""
    member = connection.execute(select(staff).where(staff.c.id == staff_id)).one()
    if not member.totp_secret or enrolled(member):
        return None
    if not accept_code(connection, staff_id, member.totp_secret, code):
        return None
    codes = totp.new_recovery_codes()
    connection.execute(
        update(staff)
        .where(staff.c.id == staff_id)
        .values(recovery_codes=[totp.recovery_hash(c) for c in codes])
    )
    return codes


def use_recovery_code(connection: Connection, staff_id: int, code: str) -> bool:
    """Whether ``code`` is one of the member's unused recovery codes; it is used up now.
    Call inside a write transaction: the row is locked while its list changes."""
    member = connection.execute(
        select(staff.c.recovery_codes).where(staff.c.id == staff_id).with_for_update()
    ).one()
    kept = list(member.recovery_codes or [])
    wanted = totp.recovery_hash(code)
    if wanted not in kept:
        return False
    kept.remove(wanted)
    connection.execute(update(staff).where(staff.c.id == staff_id).values(recovery_codes=kept))
    return True
