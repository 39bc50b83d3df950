"""The studio's state and its one way of changing a file.

Every change goes through ``Studio.change``: read the file, make sure it is the
file the person saw, edit it with tomlkit, load the whole shop with the new
text standing in for the file (the loader ``klbuild check`` runs), and only
when that finds no new error, replace the file in one rename and rebuild the
preview at once. A refused change leaves the file as it was.
"""

from __future__ import annotations

import threading
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kljourney
from kljourney.errors import ConfigError, Problem
from kljourney.model import CATALOG_FILE, FORMS_FILE, SHOP_FILE

from . import documents
from .documents import Document
from .fields import Choices

SHARED_FILES = (SHOP_FILE, CATALOG_FILE, FORMS_FILE)


class Invalid(Exception):
    """The model refused a change; ``problems`` are ``klbuild check``'s messages for it."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(f"{len(problems)} problem(s)")
        self.problems = problems


@dataclass
class JourneyEntry:
    """A journey file as the studio's list shows it, read even when the shop has mistakes."""

    file: str
    name: str
    key: str
    steps: int
    subject: str
    #: The first active step's page in the preview; "" when it has none (yet).
    launch: str = ""


class Studio:
    """One journeys folder, edited through the browser."""

    def __init__(
        self,
        journeys: Path,
        *,
        saved: Callable[[set[Path]], None] = lambda changed: None,
        funnel: Callable[[str, int], Any] | None = None,
    ) -> None:
        self.root = Path(journeys)
        #: Called with the paths written, after each change: the dev server rebuilds.
        self.saved = saved
        #: ``klcheckout.funnel_report`` bound to the running backend, when there is one.
        self.funnel = funnel
        self._cache = kljourney.LoadCache()
        self._lock = threading.Lock()

    # -- reading -------------------------------------------------------------------------

    def read(self, name: str) -> Document:
        return documents.read(self.root, name, missing_ok=name in SHARED_FILES)

    def journey_files(self) -> list[str]:
        return sorted(
            path.name
            for path in self.root.glob("*.toml")
            if path.name not in SHARED_FILES and not path.name.startswith(".")
        )

    def load(self, texts: dict[str, str | None] | None = None) -> tuple[Any, list[Problem]]:
        """The shop (None when it has errors) and every problem, errors and warnings."""
        try:
            shop = kljourney.load(self.root, cache=self._cache, texts=texts)
        except ConfigError as exc:
            return None, exc.problems
        return shop, list(shop.warnings)

    def journeys(self, shop: Any = None) -> list[JourneyEntry]:
        """Every journey file, with its launch address when ``shop`` (the loaded shop,
        None when it has errors) has the journey."""
        sources = {j.source: j for j in shop.journeys.values()} if shop else {}
        entries = []
        for name in self.journey_files():
            data = _toml(self.root / name)
            steps = data.get("steps")
            entry = JourneyEntry(
                file=name,
                name=_plain(data.get("name")) or name,
                key=str(data.get("key", "")),
                steps=len(steps) if isinstance(steps, list) else 0,
                subject=str(data.get("subject", "order")),
            )
            journey = sources.get(name)
            if journey is not None and journey.active_steps:
                entry.launch = "/" + journey.step_path(journey.active_steps[0])
            entries.append(entry)
        return entries

    def choices(self) -> Choices:
        """What the forms' lists offer, from the files as they are (even with mistakes)."""
        shop = _toml(self.root / SHOP_FILE)
        catalog = _toml(self.root / CATALOG_FILE)
        forms = _toml(self.root / FORMS_FILE)
        methods = shop.get("payment_methods")
        return Choices(
            business_entities=_ids(shop.get("business_entities")),
            product_selections=_ids(catalog.get("product_selections")),
            forms=_ids(forms.get("forms")),
            products=_ids(catalog.get("products")),
            discounts=_ids(catalog.get("discounts")),
            payment_methods=[
                (key, _plain(value.get("label")) or key)
                for key, value in (methods.items() if isinstance(methods, dict) else [])
                if isinstance(value, dict)
            ],
            languages=_languages(shop),
        )

    def languages(self) -> list[str]:
        """The shop's languages when it has more than one (a text then has a box for each),
        from keylight.toml alone: a save reads the form with them, and ``choices`` would
        parse the catalog and the forms too, a tenth of the time a save takes."""
        return _languages(_toml(self.root / SHOP_FILE))

    # -- changing ------------------------------------------------------------------------

    def change(
        self,
        name: str,
        seen: str,
        edit: Callable[[Document], None],
        *,
        create: bool = False,
        also: Iterable[Path] = (),
    ) -> None:
        """Edit ``name``, which the person saw with the fingerprint ``seen``, and save it.

        Raises ``documents.Conflict`` when the file changed since (or, with
        ``create``, exists already), ``Invalid`` when the model refuses the result,
        ``documents.StudioError`` for input the edit itself cannot use.
        ``also`` names other files the change wrote (an uploaded logo), which
        the preview's rebuild must see.
        """
        with self._lock:
            document = documents.read(self.root, name, missing_ok=True)
            if create and document.text:
                raise documents.Conflict(f"{name} exists already; choose another name")
            if not create and document.fingerprint != seen:
                documents.check_unchanged(self.root, name, seen)
            edit(document)
            text = document.dumps()
            self.check({name: text})
            documents.write(self.root, name, text)
        self.saved({self.root / name, *also})

    def delete(self, name: str, seen: str) -> None:
        """Remove a journey file, if it is still the one the person saw and nothing needs it."""
        with self._lock:
            documents.check_unchanged(self.root, name, seen)
            self.check({name: None})
            documents.remove(self.root, name)
        self.saved({self.root / name})

    def check(self, texts: dict[str, str | None]) -> None:
        """Raise ``Invalid`` with the errors the change would add to the shop.

        Errors the files have already (a typo made in an editor) are not the
        change's: refusing every change until they are fixed would lock the
        person out of the studio.
        """
        _after_shop, after = self.load(texts)
        if not any(p.severity == "error" for p in after):
            return  # the usual case: one load, not two
        _before_shop, before = self.load()
        known = {_identity(p) for p in before if p.severity == "error"}
        added = [p for p in after if p.severity == "error" and _identity(p) not in known]
        if added:
            raise Invalid(added)


def _identity(problem: Problem) -> tuple[Any, ...]:
    """A problem without its line number, which any edit above it shifts."""
    return (problem.file, problem.journey, problem.step, problem.field, problem.message)


def _languages(shop: dict[str, Any]) -> list[str]:
    site = shop.get("site") if isinstance(shop.get("site"), dict) else {}
    locales = site.get("locales") if isinstance(site.get("locales"), list) else []
    return [str(tag) for tag in locales] if len(locales) > 1 else []


def _toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return {}


def _plain(value: Any) -> str:
    """A name as one string: a table by language shows its first entry."""
    if isinstance(value, dict):
        return str(next(iter(value.values()), ""))
    return str(value) if value is not None else ""


def _ids(items: Any) -> list[tuple[str, str]]:
    if not isinstance(items, list):
        return []
    return [
        (str(item["id"]), _plain(item.get("name")) or str(item["id"]))
        for item in items
        if isinstance(item, dict) and "id" in item
    ]
