"""A pseudo-language: every word keylight writes, visibly transformed.

``pseudo_theme`` extracts the messages from the sources exactly as a translator's
``pybabel extract`` does (``babel.cfg``), and writes a catalog that turns
"Continue" into "⟦Çöñţîñûé⟧" for ``en-GB``. Built or served with that theme, a page
in which an English word is left outside the brackets shows a string that
escaped gettext — unless the word is the shop's own (a product name, a step
name from the journey files) or Babel's (a country, a month), which
``leftovers`` knows.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from babel import Locale
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import write_po

REPO = Path(__file__).resolve().parents[1]
#: The pseudo-language is served as British English: Babel formats in English, so
#: whatever is not in brackets and not the shop's own is a word that escaped.
LOCALE = "en-GB"

_ACCENTED = str.maketrans(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
    "åƀçđéƒĝĥîĵķļɱñöþǫŕšţûṽŵẋýžÅƁÇĐÉƑĜĤÎĴĶĻṀÑÖÞǪŔŠŢÛṼŴẊÝŽ",
)
#: What a translation must keep as it is: placeholders and markup.
_KEEP = re.compile(r"%\([a-z_]+\)[sd]|%[sd]|\{[a-z_]+\}|<[^>]+>|&[a-z]+;")


def transform(message: str) -> str:
    """ "Pay %(amount)s" becomes "⟦Þåý %(amount)s⟧"."""
    out, last = [], 0
    for match in _KEEP.finditer(message):
        out.append(message[last : match.start()].translate(_ACCENTED))
        out.append(match.group(0))
        last = match.end()
    out.append(message[last:].translate(_ACCENTED))
    return "⟦" + "".join(out) + "⟧"


def extracted() -> Catalog:
    """Every message in the sources, as ``pybabel extract -F babel.cfg -k N_`` finds it."""
    with (REPO / "babel.cfg").open() as file:
        method_map, options_map = parse_mapping_cfg(file)
    catalog = Catalog(locale=LOCALE.replace("-", "_"))
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}
    for filename, lineno, message, comments, context in extract_from_dir(
        str(REPO), method_map, options_map, keywords=keywords
    ):
        catalog.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return catalog


def pseudo_theme(folder: Path) -> Path:
    """A theme folder whose only file is the pseudo-language's catalog."""
    catalog = extracted()
    for message in catalog:
        if not message.id:
            continue
        if isinstance(message.id, tuple | list):
            message.string = tuple(transform(form) for form in message.id)
        else:
            message.string = transform(message.id)
    target = folder / "locale" / LOCALE.replace("-", "_") / "LC_MESSAGES"
    target.mkdir(parents=True, exist_ok=True)
    with (target / "messages.po").open("wb") as file:
        write_po(file, catalog)
    return folder


class _Texts(HTMLParser):
    """The words of a page a person reads or hears: text, and the attributes read out."""

    SPOKEN = ("aria-label", "title", "placeholder", "alt")

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.texts: list[str] = []
        self._skip = 0
        self._words_json = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "script" and values.get("id") == "kl-words":
            self._words_json = True
        elif tag in ("script", "style"):
            self._skip += 1
        for name in self.SPOKEN:
            if values.get(name):
                self.texts.append(str(values[name]))
        if tag == "input" and values.get("type") in ("submit", "button") and values.get("value"):
            self.texts.append(str(values["value"]))

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self._words_json:
            self._words_json = False
        elif tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if self._words_json:
            self.texts.extend(str(value) for value in json.loads(data).values())
        elif not self._skip and data.strip():
            self.texts.append(data)


def page_texts(html: str) -> list[str]:
    parser = _Texts()
    parser.feed(html)
    return parser.texts


def shop_words(shop: Any) -> set[str]:
    """Every string in the journey files: the shop's own words, not keylight's."""
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, str):
            found.add(value)
        elif isinstance(value, dict):
            for key, item in value.items():
                found.add(str(key))
                walk(item)
        elif isinstance(value, list | tuple):
            for item in value:
                walk(item)

    for part in (
        shop.site,
        *shop.business_entities.values(),
        *shop.payment_methods.values(),
        *shop.products.values(),
        *shop.product_selections.values(),
        *shop.forms.values(),
        *shop.discounts.values(),
        *shop.journeys.values(),
    ):
        walk(part.model_dump(mode="json"))
    return found


def babel_words() -> set[str]:
    """Babel's words in English: countries, months and days, as dates and forms show them."""
    locale = Locale.parse(LOCALE.replace("-", "_"))
    words = set(locale.territories.values())
    for names in (locale.months, locale.days):
        for width in names.get("format", {}).values():
            words.update(width.values())
    return words


_BRACKETED = re.compile(r"⟦[^⟦⟧]*⟧")
_WORD = re.compile(r"[A-Za-z]{2,}")
#: Addresses, links and anything with a digit in it (order numbers, masked IBANs).
_NOT_WORDS = re.compile(r"\S+@\S+|https?://\S+|\S*\d\S*")


def leftovers(texts: Iterable[str], known: set[str]) -> Iterator[str]:
    """Each text that still holds an English word once the translated parts (in brackets)
    are taken out, other than the words of the shop's own texts and of Babel's (``known``:
    product descriptions are Markdown, so their words are compared, not their sentences)."""
    words = {word for text in known for word in _WORD.findall(text)}
    for text in texts:
        rest = text
        while _BRACKETED.search(rest):  # placeholders filled with translations nest
            rest = _BRACKETED.sub(" ", rest)
        unknown = [word for word in _WORD.findall(_NOT_WORDS.sub(" ", rest)) if word not in words]
        if unknown:
            yield f"{unknown} in {text.strip()!r}"
