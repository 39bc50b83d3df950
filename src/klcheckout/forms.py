"""Server-side validation of a form step's answers, field by field, from its definition.

The page's HTML attributes are a convenience for the customer; these checks are
the rule. Each message says what is wrong and what would be right.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from decimal import Decimal, InvalidOperation

from kljourney.countries import country_codes
from kljourney.i18n import gettext as _
from kljourney.i18n import ngettext
from kljourney.model import Form, FormField

#: Form names the page itself adds; never answers.
RESERVED = frozenset({"csrf_token", "step"})

EMAIL = re.compile(
    r"^[^@\s]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?)+$"
)
PHONE = re.compile(r"^\+?[0-9 ()./-]{3,30}$")

Answers = dict[str, str | bool]


def valid_email(value: str) -> bool:
    return len(value) <= 254 and EMAIL.match(value) is not None


def validate(form: Form, data: Mapping[str, str]) -> tuple[Answers, dict[str, str]]:
    """The cleaned answers and the errors by field name ("_form" for the form as a whole)."""
    answers: Answers = {}
    errors: dict[str, str] = {}
    known = {form_field.name for form_field in form.fields}
    extra = sorted(name for name in data if name not in known and name not in RESERVED)
    if extra:
        names = ", ".join(repr(name[:40]) for name in extra[:5])
        errors["_form"] = ngettext(
            "This form does not have the field %(fields)s; it was not accepted.",
            "This form does not have the fields %(fields)s; they were not accepted.",
            len(extra),
        ) % {"fields": names}
    for form_field in form.fields:
        raw = data.get(form_field.name)
        value, error = clean(form_field, raw)
        if error:
            errors[form_field.name] = error
        elif value is not None and value != "":
            answers[form_field.name] = value
        elif form_field.type == "checkbox":
            answers[form_field.name] = False
    return answers, errors


def clean(form_field: FormField, raw: str | None) -> tuple[str | bool | None, str | None]:
    """One field's value, or the message that says why it cannot be accepted."""
    label = form_field.label
    if form_field.type == "checkbox":
        ticked = raw is not None and raw.strip().lower() in ("on", "true", "1", "yes")
        if (
            raw not in (None, "")
            and not ticked
            and raw.strip().lower() not in ("off", "false", "0")
        ):
            return None, _("%(label)s: expected the box to be ticked or not.") % {"label": label}
        if form_field.required and not ticked:
            return None, _("Tick “%(label)s” to continue.") % {"label": label}
        return ticked, None
    value = (raw or "").strip()
    if not value:
        if form_field.required:
            return None, _("%(label)s is required.") % {"label": label}
        return None, None
    longest = form_field.effective_max_length
    if len(value) > longest:
        return None, ngettext(
            "%(label)s can have at most %(count)d character.",
            "%(label)s can have at most %(count)d characters.",
            longest,
        ) % {"label": label, "count": longest}
    shortest = form_field.min_length
    if shortest is not None and len(value) < shortest:
        return None, ngettext(
            "%(label)s needs at least %(count)d character.",
            "%(label)s needs at least %(count)d characters.",
            shortest,
        ) % {"label": label, "count": shortest}
    if "\x00" in value:
        return None, _("%(label)s contains a character that is not allowed.") % {"label": label}
    kind = form_field.type
    if kind == "email" and not valid_email(value):
        return None, _("Enter an email address such as name@example.com for %(label)s.") % {
            "label": label
        }
    if kind == "tel" and not PHONE.match(value):
        return None, _("Enter a phone number for %(label)s, such as +49 30 1234567.") % {
            "label": label
        }
    if kind == "select" and value not in form_field.options:
        return None, _("Choose one of the options for %(label)s.") % {"label": label}
    if kind == "country":
        value = value.upper()
        if value not in country_codes():
            return None, _("Choose a country for %(label)s (a two-letter code such as DE).") % {
                "label": label
            }
    if kind == "date":
        try:
            value = date.fromisoformat(value).isoformat()
        except ValueError:
            return None, _("Enter %(label)s as a date, YYYY-MM-DD.") % {"label": label}
    if kind == "number":
        try:
            number = Decimal(value)
        except InvalidOperation:
            number = None
        if number is None or not number.is_finite():
            return None, _("Enter %(label)s as a number, such as 12 or 3.5.") % {"label": label}
    if form_field.pattern and not re.fullmatch(form_field.pattern, value):
        if form_field.help:
            return None, _("%(label)s is not in the expected format (%(hint)s).") % {
                "label": label,
                "hint": form_field.help,
            }
        return None, _("%(label)s is not in the expected format.") % {"label": label}
    return value, None
