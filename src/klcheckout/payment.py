"""Payment providers behind one small interface, so a card or PSP provider can be added.

A provider validates what the customer entered for its method, says what the
pages may show about it afterwards (never the full IBAN), and what goes on the
order. ``PROVIDERS`` maps the journey format's method keys to providers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from schwifty import IBAN
from schwifty.exceptions import SchwiftyException


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
            errors["iban"] = "Enter the IBAN of the account to debit."
        elif len(raw) > 64:
            errors["iban"] = "An IBAN has at most 34 letters and digits."
        else:
            try:
                iban = IBAN(raw)
            except SchwiftyException as exc:
                errors["iban"] = f"This IBAN is not valid: {iban_problem(exc, raw)}"
        holder = " ".join((data.get("holder") or "").split())
        if not holder:
            errors["holder"] = "Enter the name of the account holder."
        elif len(holder) > 70:  # the SEPA limit for a name
            errors["holder"] = "The account holder's name can have at most 70 characters."
        if (data.get("mandate") or "").lower() not in ("on", "true", "1", "yes"):
            errors["mandate"] = "Tick the box to allow the direct debit (the SEPA mandate)."
        if errors or iban is None:
            return {}, errors
        return {"iban": iban.compact, "holder": holder, "bic": str(iban.bic or "")}, {}

    def public(self, details: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "iban_masked": mask_iban(details.get("iban", "")),
            "holder": details.get("holder", ""),
        }


def iban_problem(exc: Exception, raw: str) -> str:
    """schwifty's reason, as a sentence that does not repeat the IBAN back."""
    text = str(exc).replace(raw, "").replace(raw.replace(" ", ""), "").strip().rstrip(".")
    return (text[:1].lower() + text[1:] + ".") if text else "please check it."


def mask_iban(iban: str) -> str:
    """'DE89 •••• •••• •••• •••• 00': the country, check digits and last two characters."""
    if len(iban) < 6:
        return "••••"
    hidden = "•" * (len(iban) - 6)
    masked = iban[:4] + hidden + iban[-2:]
    return " ".join(masked[i : i + 4] for i in range(0, len(masked), 4))


PROVIDERS: dict[str, Provider] = {provider.kind: provider for provider in (Invoice(), SepaDebit())}
