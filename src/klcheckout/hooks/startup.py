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
    """Refuse a production start whose hooks or own emails cannot work; in development,
    warn about the hooks (the shop's own emails are written to the log there)."""
    problems = missing_settings(shop, app.config)
    mail = missing_mail(shop, app.config)
    if (problems or mail) and app.config["KEYLIGHT_ENV"] == "production":
        raise SettingsError("hooks cannot work: " + "; ".join(sorted(problems + mail)))
    for problem in problems:
        app.logger.warning("%s (until then, its deliveries fail)", problem)
    if mail:
        app.logger.info(
            "no KEYLIGHT_SMTP_HOST and KEYLIGHT_SMTP_FROM: the shop's own emails "
            "(sign-in links, subscription changes) are written to this log"
        )


def _hooks_of(journey: Journey) -> list[Any]:
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


def missing_mail(shop: Shop, config: Mapping[str, Any]) -> list[str]:
    """The shop's own emails to customers that need a mail server to be sent."""
    if config.get("KEYLIGHT_SMTP_HOST") and config.get("KEYLIGHT_SMTP_FROM"):
        return []
    problems = [
        f"{journey.source or journey.key}: a subscription journey emails the customer about "
        "every change; set KEYLIGHT_SMTP_HOST and KEYLIGHT_SMTP_FROM"
        for journey in shop.journeys.values()
        if journey.about_subscription
    ]
    if shop.account:
        problems.append(
            "keylight.toml: the account page emails guests their sign-in links; "
            "set KEYLIGHT_SMTP_HOST and KEYLIGHT_SMTP_FROM"
        )
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
