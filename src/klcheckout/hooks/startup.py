"""What the hooks of the journeys need to work at all, checked when the backend starts.

A hook that can never succeed (a secret that is not set, no mail server, a
Python function no installed package provides) is found at start rather than
as a trail of failed deliveries: production refuses to start, development warns.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from flask import Flask

from kljourney import Shop
from kljourney.model import Journey

from ..settings import SettingsError
from . import HookFailed
from .delivery import python_function


def check_settings(app: Flask, shop: Shop) -> None:
    """Refuse a production start whose hooks or emails cannot work; in development,
    warn about the hooks (emails are written to the log there)."""
    problems = missing_settings(shop, app.config)
    mail = missing_mail(shop, app.config)
    if (problems or mail) and app.config["KEYLIGHT_ENV"] == "production":
        raise SettingsError("hooks cannot work: " + "; ".join(sorted(problems + mail)))
    for problem in problems:
        app.logger.warning("%s (until then, its deliveries fail)", problem)
    if mail:
        app.logger.info(
            "no KEYLIGHT_SMTP_HOST and KEYLIGHT_SMTP_FROM: the emails to customers "
            "(email hooks, sign-in links, invitations, quotes …) are written to this log"
        )


def _hooks_of(journey: Journey) -> list[Any]:
    return list(journey.hooks) + [hook for step in journey.steps for hook in step.hooks]


def missing_settings(shop: Shop, config: Mapping[str, Any]) -> list[str]:
    """The settings without which a journey's hooks can never succeed: the secret a
    webhook or validate hook signs with (email hooks need a mail server: ``missing_mail``).

    Found at start rather than as failed deliveries (``create_app`` refuses to start
    in production, and warns in development, where hooks may be of no interest yet).
    """
    problems = set()
    for journey in shop.journeys.values():
        where = journey.source or journey.key
        for hook in _hooks_of(journey):
            if hook.type in ("webhook", "validate") and not os.environ.get(hook.secret_env):
                problems.add(
                    f"{where}: {hook.type} hooks sign with the environment variable "
                    f"{hook.secret_env}, which is not set; set it to the receiver's secret"
                )
    return sorted(problems)


def missing_mail(shop: Shop, config: Mapping[str, Any]) -> list[str]:
    """The emails to customers that need a mail server to be sent: the journeys' email
    hooks, and the shop's own (subscription changes, sign-in links, and the invitations,
    hand-over links and quotes of journeys staff walk)."""
    if config.get("KEYLIGHT_SMTP_HOST") and config.get("KEYLIGHT_SMTP_FROM"):
        return []
    problems = set()
    for journey in shop.journeys.values():
        where = journey.source or journey.key
        if any(hook.type == "email" for hook in _hooks_of(journey)):
            problems.add(f"{where}: email hooks need KEYLIGHT_SMTP_HOST and KEYLIGHT_SMTP_FROM")
        if journey.about_subscription:
            problems.add(
                f"{where}: a subscription journey emails the customer about every change; "
                "set KEYLIGHT_SMTP_HOST and KEYLIGHT_SMTP_FROM"
            )
        if journey.staff_walk and any(_emails_customer(step) for step in journey.steps):
            problems.add(
                f"{where}: staff's journey emails the customer (an invitation, a hand-over "
                "link or a quote); set KEYLIGHT_SMTP_HOST and KEYLIGHT_SMTP_FROM"
            )
    if shop.account:
        problems.add(
            "keylight.toml: the account page emails guests their sign-in links; "
            "set KEYLIGHT_SMTP_HOST and KEYLIGHT_SMTP_FROM"
        )
    return sorted(problems)


def _emails_customer(step: Any) -> bool:
    """Whether completing ``step`` in a journey staff walk may email the customer: a
    lookup invites a new one, a customer's step is handed over by a link, a quote is
    sent."""
    return (
        step.type == "customer_lookup"
        or step.actor == "customer"
        or getattr(step, "sends_quote", False)
    )


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
