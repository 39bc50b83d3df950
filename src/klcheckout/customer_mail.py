"""The shop's own emails to a customer: a sign-in link, a change to their subscription.

They go through the outbox like an email hook's (``hooks.outbox``), written in
the transaction of what they report, so a change is never made without its email
nor an email sent about a change that was rolled back. Templates are
``emails/<template>.html`` and ``.txt``, overridable by a theme like any page.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Connection, insert

from kljourney import i18n
from kljourney.model import Journey

from .clock import now
from .hooks.events import stamp
from .tables import events

#: The outbox row's journey key for emails that belong to no journey (a sign-in link).
NO_JOURNEY = "-"


def queue(
    connection: Connection,
    *,
    to: str,
    template: str,
    subject: str,
    data: dict[str, Any],
    journey: Journey | None = None,
) -> str:
    """Queue one email to ``to``; its event id."""
    moment = now()
    summary = (
        journey.summary if journey is not None else {"key": "", "name": "", "order_channel": ""}
    )
    event = {
        "id": f"evt_{uuid.uuid4().hex}",
        "type": "customer_email",
        "created": stamp(moment),
        "journey": summary,
        "locale": i18n.current_locale(),
        "data": {"customer": {"email": to}, **data},
    }
    connection.execute(
        insert(events),
        {
            "event_id": event["id"],
            "type": "customer_email",
            "journey_key": journey.key if journey is not None else NO_JOURNEY,
            "hook": {"type": "email", "template": template, "subject": subject, "builtin": True},
            "payload": event,
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": moment,
            "created_at": moment,
        },
    )
    return str(event["id"])
