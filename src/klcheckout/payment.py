"""Payment providers behind one small interface, so a card or PSP provider can be added.

A provider validates what the customer entered for its method, says what the
pages may show about it afterwards (never the full IBAN), and what goes on the
order. ``PROVIDERS`` maps the journey format's method keys to providers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from schwifty import IBAN
from schwifty import exceptions as iban_errors
from schwifty.exceptions import SchwiftyException

from kljourney.i18n import N_
from kljourney.i18n import gettext as _


class Provider(Protocol):
    kind: str

    def validate(self, data: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
        """The details to keep, or errors by field name."""

    def public(self, details: Mapping[str, Any]) -> dict[str, Any]:
        """What the pages may show once it is chosen."""


class Invoice:
    """The customer pays later against an invoice; nothing to ask now."""

    kind = "invoice"

    def validate(self, data: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
        return {}, {}

    def public(self, details: Mapping[str, Any]) -> dict[str, Any]:
        return {}


class SepaDebit:
    """A SEPA direct debit mandate: a valid IBAN, the holder's name and their consent."""

    kind = "sepa_debit"

    def validate(self, data: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
        errors: dict[str, str] = {}
        raw = (data.get("iban") or "").strip()
        iban: IBAN | None = None
        if not raw:
            errors["iban"] = _("Enter the IBAN of the account to debit.")
        elif len(raw) > 64:
            errors["iban"] = _("An IBAN has at most 34 letters and digits.")
        else:
            try:
                iban = IBAN(raw)
            except SchwiftyException as exc:
                errors["iban"] = iban_problem(exc)
        holder = " ".join((data.get("holder") or "").split())
        if not holder:
            errors["holder"] = _("Enter the name of the account holder.")
        elif len(holder) > 70:  # the SEPA limit for a name
            errors["holder"] = _("The account holder's name can have at most 70 characters.")
        if (data.get("mandate") or "").lower() not in ("on", "true", "1", "yes"):
            errors["mandate"] = _("Tick the box to allow the direct debit (the SEPA mandate).")
        if errors or iban is None:
            return {}, errors
        return {"iban": iban.compact, "holder": holder, "bic": str(iban.bic or "")}, {}

    def public(self, details: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "iban_masked": mask_iban(details.get("iban", "")),
            "holder": details.get("holder", ""),
        }


#: Why schwifty refuses an IBAN, by its exception, as the customer reads it (translated
#: where used). Never schwifty's own message: it is English, and repeats the IBAN back.
IBAN_PROBLEMS: list[tuple[type[Exception], str]] = [
    (
        iban_errors.InvalidChecksumDigits,
        N_("This IBAN is not valid: its checksum digits do not match. Please check it for typos."),
    ),
    (
        iban_errors.InvalidBBANChecksum,
        N_(
            "This IBAN is not valid: the national checksum of the account number does not "
            "match. Please check it for typos."
        ),
    ),
    (
        iban_errors.InvalidLength,
        N_("This IBAN is not valid: it is too short or too long for its country."),
    ),
    (
        iban_errors.InvalidCountryCode,
        N_("This IBAN is not valid: it does not begin with a known country code, such as DE."),
    ),
    (
        iban_errors.InvalidStructure,
        N_("This IBAN is not valid: it has characters that do not belong in an IBAN."),
    ),
    (
        iban_errors.InvalidBankCode,
        N_("This IBAN is not valid: its bank code is not right. Please check it."),
    ),
    (
        iban_errors.InvalidBranchCode,
        N_("This IBAN is not valid: its branch code is not right. Please check it."),
    ),
    (
        iban_errors.InvalidAccountCode,
        N_("This IBAN is not valid: its account number is not right. Please check it."),
    ),
]
#: Any other reason schwifty has.
IBAN_INVALID = N_("This IBAN is not valid: please check it.")


def iban_problem(exc: Exception) -> str:
    """Why an IBAN is refused, as a sentence in the language of this request."""
    for kind, message in IBAN_PROBLEMS:
        if isinstance(exc, kind):
            return _(message)
    return _(IBAN_INVALID)


def mask_iban(iban: str) -> str:
    """'DE89 •••• •••• •••• •••• 00': the country, check digits and last two characters."""
    if len(iban) < 6:
        return "••••"
    hidden = "•" * (len(iban) - 6)
    masked = iban[:4] + hidden + iban[-2:]
    return " ".join(masked[i : i + 4] for i in range(0, len(masked), 4))


PROVIDERS: dict[str, Provider] = {provider.kind: provider for provider in (Invoice(), SepaDebit())}
