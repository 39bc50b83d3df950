"""Emails to customers: rendered from ``templates/emails/<name>.html`` and ``.txt``, sent
over SMTP as configured by the ``KEYLIGHT_SMTP_*`` settings.

Called by the outbox worker for email hooks, so a mail server that is down only
delays the email (it is retried like any delivery).
"""

from __future__ import annotations

import logging
import re
import smtplib
import ssl
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import make_msgid
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from kljourney import i18n
from kljourney.theme import search_path

from . import HookFailed

log = logging.getLogger("klcheckout.mail")

SMTP_TIMEOUT = 30.0


@lru_cache(maxsize=4)
def environment(theme: str = "") -> Environment:
    """The email templates: the theme's (``KEYLIGHT_TEMPLATES``) first, then the built-in."""
    folders = search_path(Path(theme) if theme else None)
    env = Environment(
        loader=FileSystemLoader([str(folder) for folder in folders]),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        auto_reload=True,
    )
    i18n.install(env)
    return env


def recipient(event: Mapping[str, Any]) -> str:
    data = event.get("data", {})
    for holder in ("order", "customer"):
        email = (data.get(holder) or {}).get("email")
        if email:
            return str(email)
    raise HookFailed(f"the {event.get('type')} event has no customer email to write to")


def subject(template: str, event: Mapping[str, Any]) -> str:
    """The hook's subject with ``{order_number}``, ``{journey_name}`` and ``{email}`` filled in."""
    data = event.get("data", {})
    values = {
        "order_number": (data.get("order") or {}).get("number", ""),
        "journey_name": event.get("journey", {}).get("name", ""),
        "email": recipient(event),
    }
    return re.sub(r"\{(\w+)\}", lambda m: str(values.get(m.group(1), m.group(0))), template)


def render(
    hook: Mapping[str, Any], event: Mapping[str, Any], sender: str, theme: str = ""
) -> EmailMessage:
    env = environment(theme)
    context = {
        "event": event,
        "data": event.get("data", {}),
        "journey": event.get("journey", {}),
        "order": event.get("data", {}).get("order"),
        "seller": event.get("data", {}).get("seller") or {},
        "customer": event.get("data", {}).get("customer"),
    }
    name = hook.get("template", "order_placed")
    message = EmailMessage()
    message["Subject"] = subject(hook.get("subject", ""), event)
    message["From"] = sender
    message["To"] = recipient(event)
    message["Message-ID"] = make_msgid(idstring=str(event["id"]))
    message.set_content(env.get_template(f"emails/{name}.txt").render(context))
    message.add_alternative(env.get_template(f"emails/{name}.html").render(context), subtype="html")
    return message


def send_event(
    config: Mapping[str, Any], hook: Mapping[str, Any], event: Mapping[str, Any]
) -> None:
    host = config["KEYLIGHT_SMTP_HOST"]
    sender = config["KEYLIGHT_SMTP_FROM"]
    theme = config.get("KEYLIGHT_TEMPLATES", "")
    if (not host or not sender) and config["KEYLIGHT_ENV"] != "production":
        # Development without a mail server: every email (an email hook's, a sign-in link,
        # a quote) is written to the log, where the developer can follow them. Production
        # does not start without one (``startup.missing_mail``).
        message = render(hook, event, sender or "keylight@localhost", theme)
        text = message.get_body(("plain",))
        log.warning(
            "email to %s (no KEYLIGHT_SMTP_HOST, so shown here): %s\n%s",
            message["To"],
            message["Subject"],
            text.get_content() if text is not None else "",
        )
        return
    if not host or not sender:
        raise HookFailed(
            "email hooks need KEYLIGHT_SMTP_HOST and KEYLIGHT_SMTP_FROM; "
            "set them and resend with `klcheckout events resend EVENT_ID`"
        )
    message = render(hook, event, sender, theme)
    send(config, message)


def send(config: Mapping[str, Any], message: EmailMessage) -> None:
    host, port, tls = (
        config["KEYLIGHT_SMTP_HOST"],
        config["KEYLIGHT_SMTP_PORT"],
        config["KEYLIGHT_SMTP_TLS"],
    )
    try:
        smtp: smtplib.SMTP
        if tls == "ssl":
            smtp = smtplib.SMTP_SSL(
                host, port, timeout=SMTP_TIMEOUT, context=ssl.create_default_context()
            )
        else:
            smtp = smtplib.SMTP(host, port, timeout=SMTP_TIMEOUT)
        with smtp:
            if tls == "starttls":
                smtp.starttls(context=ssl.create_default_context())
            if config["KEYLIGHT_SMTP_USERNAME"]:
                smtp.login(config["KEYLIGHT_SMTP_USERNAME"], config["KEYLIGHT_SMTP_PASSWORD"])
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as error:
        raise HookFailed(f"SMTP {host}:{port} ({tls}): {error}") from None
