"""The catalogs: complete for every shipped language, compiled, and overridable by a theme."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from pseudo import extracted

from kljourney import i18n
from kljourney.theme import templates_folder

LOCALES = templates_folder() / "locale"
SHIPPED = ["de", "en"]


def catalog_path(language: str, suffix: str) -> Path:
    return LOCALES / language / "LC_MESSAGES" / f"messages{suffix}"


@pytest.mark.parametrize("language", SHIPPED)
def test_every_message_of_the_sources_is_translated(language: str) -> None:
    with catalog_path(language, ".po").open("rb") as file:
        catalog = read_po(file)
    missing, fuzzy = [], []
    for message in extracted():
        if not message.id:
            continue
        found = catalog.get(message.id)
        strings = found.string if found is not None else None
        if found is None or not all(strings if isinstance(strings, tuple) else [strings]):
            missing.append(message.id)
        elif found.fuzzy:
            fuzzy.append(message.id)
    assert missing == [], f"untranslated in {language}; see README, 'Translating keylight'"
    assert fuzzy == []


@pytest.mark.parametrize("language", SHIPPED)
def test_the_compiled_catalog_is_the_po_file_compiled(language: str) -> None:
    """A .po changed without ``pybabel compile`` would ship the old words."""
    with catalog_path(language, ".po").open("rb") as file:
        source = {_key(m.id): _key(m.string) for m in read_po(file) if m.id and m.string}
    with catalog_path(language, ".mo").open("rb") as file:
        compiled = {_key(m.id): _key(m.string) for m in read_mo(file) if m.id}
    assert compiled == source


def _key(value: str | list[str] | tuple[str, ...]) -> str | tuple[str, ...]:
    """A plural message's forms as a tuple, however the reader gave them."""
    return value if isinstance(value, str) else tuple(value)


def test_german_counts_with_its_own_plural_forms() -> None:
    with i18n.speaking("de-DE", [templates_folder()]):
        assert i18n.ngettext("%(count)d month", "%(count)d months", 1) == "%(count)d Monat"
        assert i18n.ngettext("%(count)d month", "%(count)d months", 3) == "%(count)d Monate"
        assert i18n.gettext("Order and pay") == "Zahlungspflichtig bestellen"
    # Outside any language: the words as written.
    assert i18n.gettext("Order and pay") == "Order and pay"
    assert i18n.current_locale() == ""


def test_a_locale_uses_its_languages_catalog() -> None:
    assert i18n.candidates("de-AT") == ["de_AT", "de"]
    assert i18n.candidates("de") == ["de"]
    with i18n.speaking("de-AT", [templates_folder()]):
        assert i18n.gettext("Order and pay") == "Zahlungspflichtig bestellen"
        assert i18n.current_locale() == "de-AT"


def test_a_themes_catalog_changes_some_words_and_keeps_the_rest(tmp_path: Path) -> None:
    messages = tmp_path / "locale" / "de" / "LC_MESSAGES"
    messages.mkdir(parents=True)
    (messages / "messages.po").write_text(
        'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n\n'
        'msgid "Order and pay"\nmsgstr "Jetzt kostenpflichtig bestellen"\n',
        encoding="utf-8",
    )
    folders = [tmp_path, templates_folder()]
    with i18n.speaking("de-DE", folders):
        assert i18n.gettext("Order and pay") == "Jetzt kostenpflichtig bestellen"
        assert i18n.ngettext("%(count)d month", "%(count)d months", 3) == "%(count)d Monate"
    # An edited catalog is read again once the builder or the backend says it changed.
    (messages / "messages.po").write_text(
        'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n\n'
        'msgid "Order and pay"\nmsgstr "Kaufen (zahlungspflichtig)"\n',
        encoding="utf-8",
    )
    with i18n.speaking("de-DE", folders):
        assert i18n.gettext("Order and pay") == "Jetzt kostenpflichtig bestellen"
    i18n.forget()
    with i18n.speaking("de-DE", folders):
        assert i18n.gettext("Order and pay") == "Kaufen (zahlungspflichtig)"


def test_alternatives_are_listed_as_the_language_lists_them() -> None:
    with i18n.speaking("de-DE", [templates_folder()]):
        assert (
            i18n.format_list(["Rechnung", "SEPA-Lastschrift"]) == "Rechnung oder SEPA-Lastschrift"
        )
    with i18n.speaking("en-GB", [templates_folder()]):
        assert i18n.format_list(["1", "2", "3"]) == "1, 2 or 3"
    assert i18n.format_list([]) == ""
