"""The words keylight writes itself, in the language of the page a customer is on.

Every sentence the project writes (in templates, in the backend's refusals and
messages, in emails, and the page script's words, which come from the page) goes
through gettext. The catalogs are the ``locale/`` folder of the templates, so a
shop's theme adds a language, or changes a few words of one, the way it changes
a template: by having ``locale/<language>/LC_MESSAGES/messages.po`` of its own.
The theme's messages win; whatever it leaves out comes from the built-in catalog.

Which language is spoken is a context variable, set around each page the builder
renders and for each request the backend answers, so code deep in a request (a
validation message, a refusal) translates without being handed the language.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache
from io import BytesIO
from pathlib import Path

from babel import Locale, lists
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations
from jinja2 import Environment

#: The catalogs' gettext domain.
DOMAIN = "messages"

#: (language tag, its catalog) of the words being written now.
_current: ContextVar[tuple[str, NullTranslations]] = ContextVar(
    "keylight_translations", default=("", NullTranslations())
)


def gettext(message: str) -> str:
    """``message`` in the current language."""
    return _current.get()[1].gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """The singular or plural of a message, as the current language counts ``n``."""
    return _current.get()[1].ngettext(singular, plural, n)


def current_locale() -> str:
    """The language being written (``de-DE``); "" outside any page or request."""
    return _current.get()[0]


def format_list(items: list[str]) -> str:
    """ "Invoice, SEPA Direct Debit or PayPal" as the current language lists alternatives."""
    if not items:
        return ""
    locale = current_locale().replace("-", "_") or "en"
    return lists.format_list(items, style="or", locale=locale)


def N_(message: str) -> str:  # noqa: N802 - the gettext convention
    """Mark ``message`` for translation where it is defined; translate it where it is used."""
    return message


@contextmanager
def speaking(locale: str, folders: tuple[Path, ...] | list[Path] = ()) -> Iterator[None]:
    """Translate into ``locale`` (``"de-DE"``) inside the block, from ``folders``' catalogs
    (none: only ``current_locale`` says ``locale``, as what records it needs)."""
    token = _current.set((locale, translations(locale, tuple(folders))))
    try:
        yield
    finally:
        _current.reset(token)


def speak(locale: str, folders: tuple[Path, ...] | list[Path]) -> None:
    """Translate into ``locale`` from now on in this context (the backend, per request)."""
    _current.set((locale, translations(locale, tuple(folders))))


@lru_cache(maxsize=64)
def translations(locale: str, folders: tuple[Path, ...]) -> NullTranslations:
    """The catalog for ``locale``: the theme's messages over the built-in ones.

    Read once: every request and every page asks for it, and even a ``stat`` of the
    catalog files per request showed in the checkout's profile. Whoever notices
    that the files changed (the builder, a reload of the backend) calls ``forget``.
    """
    chain: NullTranslations = NullTranslations()
    found = [path for folder in folders for path in _catalog_files(folder, locale)]
    # The last file found is the least specific: it is the fallback of the ones before.
    for path in reversed(found):
        catalog = _read(path)
        catalog.add_fallback(chain)
        chain = catalog
    return chain


def forget() -> None:
    """Read the catalogs again when next asked: their files changed."""
    translations.cache_clear()


def _catalog_files(folder: Path, locale: str) -> Iterator[Path]:
    """The catalog files in ``folder`` for ``locale``, the most specific first: a
    compiled ``.mo`` where there is one, else the ``.po`` it comes from."""
    for name in candidates(locale):
        messages = folder / "locale" / name / "LC_MESSAGES"
        for suffix in (".mo", ".po"):
            path = messages / (DOMAIN + suffix)
            if path.is_file():
                yield path
                break


def candidates(locale: str) -> list[str]:
    """The catalog folders that serve ``locale``: ``de_DE`` then ``de``."""
    parsed = Locale.parse(locale.replace("-", "_"))
    names = [str(parsed)]
    if parsed.territory or parsed.script:
        names.append(parsed.language)
    return names


def _read(path: Path) -> Translations:
    if path.suffix == ".mo":
        with path.open("rb") as file:
            return Translations(file, domain=DOMAIN)
    with path.open("rb") as file:
        catalog = read_po(file)
    compiled = BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)


def install(env: Environment) -> None:
    """Give ``env`` the ``{% trans %}`` tag and ``_()``, speaking the current language."""
    env.add_extension("jinja2.ext.i18n")
    # A translator sees "Your order number is %(number)s.", not the template's line breaks.
    env.policies["ext.i18n.trimmed"] = True
    env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=gettext, ngettext=ngettext, newstyle=True
    )


__all__ = [
    "N_",
    "forget",
    "format_list",
    "gettext",
    "ngettext",
    "speak",
    "speaking",
    "translations",
    "install",
]
