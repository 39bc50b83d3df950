"""Load a journeys folder into one validated ``Shop``, or report every mistake in it.

Loading collects problems instead of stopping at the first: a marketer fixing
files wants the whole list. Only when nothing is wrong is a journey's generated
key written back to its file, so a failed check never touches the files.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import imagesize
from pydantic import BaseModel, TypeAdapter, ValidationError

from . import languages, svg
from .checks import Checker
from .errors import ConfigError, Problem
from .keys import new_key, write_key
from .locate import find_line, split_toml_error
from .messages import (
    UNION_TAGS,
    dotted,
    known_fields,
    step_class,
    step_label,
    step_label_of,
    toml_hint,
    unknown,
    without_union_tags,
)
from .model import (
    CATALOG_FILE,
    FORMS_FILE,
    SHOP_FILE,
    FormStep,
    Journey,
    Product,
    ProductSelectionStep,
    Site,
    Step,
)
from .shop import CatalogFile, FormsFile, Shop, ShopFile

M = TypeVar("M", bound=BaseModel)
_STEP_ADAPTER: TypeAdapter[Step] = TypeAdapter(Step)


class LoadCache:
    """Parsed and validated files, kept between loads by a long-running process.

    The dev server reloads after every save; re-validating a thousand unchanged
    journeys would cost more than rendering the one that changed.
    """

    def __init__(self) -> None:
        self.entries: dict[str, _Entry] = {}
        #: Set by ``trust_unchanged`` for the next load only: the names that may have changed.
        self.changed_names: frozenset[str] | None = None

    def trust_unchanged(self, changed: Iterable[Path | str]) -> None:
        """Let the next load take cached files as unchanged, except those in ``changed``.

        The dev server's watcher knows which files were saved; checking the other
        thousand with ``stat`` would be most of its rebuild. The folder is still
        listed, so a file added or removed is noticed even when ``changed`` does
        not name it. Files are matched by name, so naming too many is only slower.
        Later loads check every file again.
        """
        self.changed_names = frozenset(Path(path).name for path in changed)

    def trusts(self, name: str) -> bool:
        """Whether the cached entry of ``name`` may be used without looking at the file."""
        return self.changed_names is not None and name not in self.changed_names


@dataclass
class _Entry:
    signature: tuple[int, int, int]
    text: str | None
    model: BaseModel | None
    problems: list[Problem]
    #: For a journey with errors: its valid steps, so references in them are checked too.
    partial: Journey | None = None
    #: (shared digest, key, version) of the last load, so unchanged journeys skip hashing.
    version: tuple[str, str, str] | None = None
    #: (shared digest, errors, warnings) of checking this journey against the shared files.
    checked: tuple[str, list[Problem], list[Problem]] | None = None
    #: Whether the model holds no text by language: then neither the translations check
    #: nor the copy per language needs to walk it again until the file changes.
    plain: bool | None = None


def load(
    root: Path | str,
    *,
    assign_keys: bool = False,
    cache: LoadCache | None = None,
    texts: Mapping[str, str | None] | None = None,
) -> Shop:
    """Read and validate every file under ``root``.

    With ``assign_keys``, a journey without a key gets a random one written into
    its file; without it (``klbuild check``), the key is made up in memory only.
    With a ``cache``, files whose size and modification time are unchanged since
    the last load are not read again (see ``LoadCache.trust_unchanged`` to skip even
    looking at them). ``texts`` stand in for the files they name (None: as if the
    file were gone): the studio checks a change this way before it writes it.
    Raises ``ConfigError`` listing every problem.
    """
    cache = cache or LoadCache()
    loader = _Loader(Path(root), cache, texts or {})
    try:
        shop = loader.load()
    finally:
        cache.changed_names = None  # trust is for one load only
    if loader.errors:
        raise ConfigError(loader.errors + loader.warnings)
    assert shop is not None
    shop = languages.with_languages(shop, loader.plain_models)
    if assign_keys:
        for journey in shop.journeys.values():
            if loader.generated_keys.get(journey.source):
                write_key(shop.root / journey.source, journey.key)
    return shop


class _Loader:
    """One pass over a journeys folder; collects problems as it goes."""

    def __init__(self, root: Path, cache: LoadCache, texts: Mapping[str, str | None]) -> None:
        self.root = root
        self.cache = cache
        self.texts = texts
        self.errors: list[Problem] = []
        self.warnings: list[Problem] = []
        self.sources: dict[str, str] = {}
        self.generated_keys: dict[str, bool] = {}
        self.partial_journeys: list[Journey] = []
        self.broken: set[str] = set()
        #: What journeys show from the shared files, digested once per load.
        self.shown_digests: dict[tuple[Any, ...], str] = {}
        #: ids of the journeys known to hold no text by language (see ``_Entry.plain``).
        self.plain_models: set[int] = set()

    # -- reading ---------------------------------------------------------------------

    def check_brand_files(self, shop_file: ShopFile) -> None:
        """The logo and icon named in ``[brand]`` are pictures in the journeys folder.

        Their names' endings are checked by the model; a text file named ``logo.png``
        would pass that, and every page would show a broken image.
        """
        for name in ("logo", "favicon"):
            relative = getattr(shop_file.brand, name)
            if not relative:
                continue
            where = {
                "field": f"brand.{name}",
                "line": find_line(self.sources.get(SHOP_FILE, ""), ("brand", name)),
            }
            if self.missing_file(relative):
                message = (
                    f"no file {relative!r} in the journeys folder ({self.root}); "
                    f"put the {name} there, or leave {name} out"
                )
                self.error(SHOP_FILE, message, **where)
            elif relative.lower().endswith(".ico"):
                if not _is_icon(self.root / relative):
                    message = (
                        f"cannot read {relative!r} as an icon: is it a whole .ico file? "
                        "(a .png or .svg icon will do too)"
                    )
                    self.error(SHOP_FILE, message, **where)
            elif self.active_svg(SHOP_FILE, relative, where):
                continue
            elif self.image_size(relative) is None:
                self.error(SHOP_FILE, _unmeasured(relative), **where)

    def product_images(self, products: list[Product]) -> dict[str, tuple[int, int]]:
        """Each product picture's width and height in pixels, by its file: the pages give
        them to the browser, so nothing moves when the picture arrives."""
        sizes: dict[str, tuple[int, int]] = {}
        for index, product in enumerate(products):
            relative = product.image
            if not relative or relative in sizes:
                continue
            where = {
                "field": f"products[{index}].image",
                "line": find_line(self.sources.get(CATALOG_FILE, ""), ("products", index, "image")),
            }
            if self.missing_file(relative):
                message = f"no file {relative!r} in the journeys folder ({self.root})"
                self.error(CATALOG_FILE, message, **where)
                continue
            if self.active_svg(CATALOG_FILE, relative, where):
                continue
            size = self.image_size(relative)
            if size is None:
                self.error(CATALOG_FILE, _unmeasured(relative), **where)
                continue
            sizes[relative] = size
        return sizes

    def image_size(self, relative: str) -> tuple[int, int] | None:
        """A picture's width and height in pixels, or None when it is no picture one can
        measure (a text file named .png, a broken download, an SVG without a size)."""
        width, height = imagesize.get(self.root / relative)
        if width <= 0 or height <= 0:
            return None
        return round(width), round(height)

    def active_svg(self, file: str, relative: str, where: dict[str, Any]) -> bool:
        """Report an SVG picture that holds script (``svg``); whether it does."""
        if not relative.lower().endswith(".svg"):
            return False
        found = svg.problem(self.root / relative)
        if found is None:
            return False
        message = (
            f"{relative!r} is an SVG that could run script on the shop's pages: {found}. "
            "Export it again as a plain picture (or as PNG)"
        )
        self.error(file, message, **where)
        return True

    def missing_file(self, relative: str) -> bool:
        path = self.root / relative
        return not (path.resolve().is_relative_to(self.root.resolve()) and path.is_file())

    def error(self, file: str, message: str, **where: Any) -> None:
        self.errors.append(Problem(file=file, message=message, **where))

    def warn(self, file: str, message: str, **where: Any) -> None:
        self.warnings.append(Problem(file=file, message=message, severity="warning", **where))

    def load(self) -> Shop | None:
        shown = str(self.root)
        if not self.root.exists():
            self.error(
                shown,
                "the journeys folder does not exist; create it, or name the folder to use, "
                "e.g. `klbuild build path/to/journeys`",
            )
            return None
        if not self.root.is_dir():
            self.error(shown, "expected a folder of .toml files, but this is a file")
            return None
        # Names, not paths: a thousand Path objects per load would cost more than the rest.
        listed = set(os.listdir(self.root)) | {n for n, t in self.texts.items() if t is not None}
        files = [
            name
            for name in sorted(listed)
            if name.endswith(".toml")
            and not name.startswith(".")
            and not (name in self.texts and self.texts[name] is None)
        ]
        if not files:
            self.error(
                shown,
                f"no .toml files here; a shop needs {SHOP_FILE}, {CATALOG_FILE}, {FORMS_FILE} "
                "and one file per journey (see the README)",
            )
            return None
        names = set(files)
        if SHOP_FILE not in names:
            self.error(
                f"{shown}/{SHOP_FILE}",
                "missing: every shop needs keylight.toml with [site] and [[business_entities]]",
            )
        self.cache.entries = {
            name: entry for name, entry in self.cache.entries.items() if name in names
        }
        models = {name: self.read(name) for name in files}
        # References into a file that failed to load would all look unknown: skip them.
        self.broken = {name for name, model in models.items() if model is None}
        if CATALOG_FILE in self.broken and CATALOG_FILE in self.sources:
            self.check_broken_catalog()
        self.partial_journeys = [
            entry.partial for entry in self.cache.entries.values() if entry.partial is not None
        ]
        journeys = []
        for model in models.values():
            if isinstance(model, Journey):
                # A key is assigned below to a journey without one: keep the cached one clean.
                journeys.append(model if model.key else model.model_copy())
        shop_file = models.get(SHOP_FILE)
        if not isinstance(shop_file, ShopFile):
            return None
        catalog = models.get(CATALOG_FILE)
        forms = models.get(FORMS_FILE)
        return self.assemble(
            shop_file,
            catalog if isinstance(catalog, CatalogFile) else CatalogFile(),
            forms if isinstance(forms, FormsFile) else FormsFile(),
            journeys,
        )

    def read(self, name: str) -> BaseModel | None:
        """Parse and validate one file, or take it from the cache if it has not changed."""
        if name in self.texts:
            # Never signed like a file on disk: the next plain load reads the file again.
            entry = self.parse_text(name, self.texts[name] or "", (-1, -1, -1))
            self.cache.entries[name] = entry
            return entry.model
        entry = self.cache.entries.get(name)
        if entry is None or not self.cache.trusts(name):
            path = self.root / name
            try:
                stat = path.stat()
            except OSError as exc:
                self.error(name, f"cannot read the file: {exc.strerror}; check its permissions")
                return None
            signature = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
            if entry is None or entry.signature != signature:
                entry = self.parse_file(path, signature)
                self.cache.entries[name] = entry
                return entry.model
        self.errors.extend(entry.problems)
        if entry.text is not None:
            self.sources[name] = entry.text
        return entry.model

    def parse_file(self, path: Path, signature: tuple[int, int, int]) -> _Entry:
        """Read, parse and validate a new or changed file into a cache entry."""
        return self.parse_text(path.name, self.read_text(path), signature)

    def parse_text(self, name: str, text: str | None, signature: tuple[int, int, int]) -> _Entry:
        """Parse and validate a file's text (None: it could not be read) into a cache entry."""
        before = len(self.errors)
        model = partial = None
        if text is not None:
            self.sources[name] = text
            data = self.parse(name, text)
            model = self.validate(name, data, _model_for(name))
            if isinstance(model, Journey):
                model._source = name
            elif data is not None and _model_for(name) is Journey:
                partial = _partial_journey(name, data)
        return _Entry(signature, text, model, self.errors[before:], partial)

    def read_text(self, path: Path) -> str | None:
        try:
            return path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            self.error(path.name, f"not UTF-8 text (byte {exc.start}); save the file as UTF-8")
        except OSError as exc:
            self.error(path.name, f"cannot read the file: {exc.strerror}; check its permissions")
        return None

    def parse(self, name: str, text: str) -> dict[str, Any] | None:
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            message, line = split_toml_error(str(exc))
            self.error(name, f"not valid TOML: {message}{toml_hint(text, line)}", line=line)
            return None

    def validate(self, name: str, data: dict[str, Any] | None, model: type[M]) -> M | None:
        if data is None:
            return None
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            for detail in exc.errors():
                self.errors.append(self.describe(name, data, model, detail))
            return None

    def describe(
        self, name: str, data: dict[str, Any], model: type[BaseModel], detail: Any
    ) -> Problem:
        """Turn one pydantic error into a message with the journey, step and field."""
        loc = without_union_tags(tuple(detail["loc"]))
        journey = (
            data.get("name") if model is Journey and isinstance(data.get("name"), str) else None
        )
        step = None
        if loc[:1] == ("steps",) and len(loc) > 1 and isinstance(loc[1], int):
            step = step_label(data, loc[1])
            loc_field = dotted(loc[2:]) or None
        else:
            loc_field = dotted(loc) or None
        kind, value = detail["type"], detail.get("input")
        if kind == "missing":
            message = "missing; this field is required"
        elif kind == "extra_forbidden":
            message = self.unknown_field(data, model, loc)
        elif kind in ("union_tag_invalid", "union_tag_not_found"):
            what = "hook" if loc[-2:-1] == ("hooks",) else "step"
            loc, loc_field = loc + ("type",), (loc_field + ".type" if what == "hook" else "type")
            found = value.get("type") if isinstance(value, dict) else None
            types = UNION_TAGS[what + "s"]
            message = (
                unknown(f"{what} type", found, types)
                if found
                else (f"missing; every {what} needs a type, one of: " + ", ".join(types))
            )
        elif kind == "bool_type":
            message = f"expected true or false, without quotes (a TOML boolean), got {value!r}"
        elif kind == "literal_error":
            expected = detail["ctx"]["expected"]
            message = f"{value!r} is not allowed; expected {expected}"
            close = difflib.get_close_matches(str(value), re.findall(r"'([^']+)'", expected), 1)
            if close:
                message += f" (did you mean {close[0]!r}?)"
        elif (
            kind == "string_pattern_mismatch"
            and loc_field
            and loc_field.split(".")[-1] in ("id", "key")
        ):
            message = (
                f"{value!r} cannot be used in a URL; use lowercase letters, digits, '-' and '_'"
            )
        else:
            message = detail["msg"].removeprefix("Value error, ")
            if (
                kind not in ("value_error", "assertion_error")
                and value is not None
                and not isinstance(value, dict | list)
            ):
                message += f"; got {value!r}"
        line = find_line(self.sources.get(name, ""), loc)
        return Problem(
            file=name, message=message, line=line, journey=journey, step=step, field=loc_field
        )

    def unknown_field(self, data: dict[str, Any], model: type[BaseModel], loc: tuple) -> str:
        known = known_fields(data, model, loc)
        bad = str(loc[-1])
        message = f"unknown field {bad!r}"
        close = difflib.get_close_matches(bad, known, 1, 0.6)
        if close:
            return f"{message}; did you mean {close[0]!r}?"
        return f"{message}; valid here: {', '.join(known)}"

    # -- cross-references ----------------------------------------------------------

    def assemble(
        self, shop_file: ShopFile, catalog: CatalogFile, forms: FormsFile, journeys: list[Journey]
    ) -> Shop:
        entities = self.by_id(SHOP_FILE, "business_entities", shop_file.business_entities)
        products = self.by_id(CATALOG_FILE, "products", catalog.products)
        selections = self.by_id(CATALOG_FILE, "product_selections", catalog.product_selections)
        form_map = self.by_id(FORMS_FILE, "forms", forms.forms)
        discounts = self.by_id(CATALOG_FILE, "discounts", catalog.discounts)
        self.check_discounts(catalog.discounts, products)
        for name in shop_file.payment_methods:
            if name not in ("invoice", "sepa_debit"):
                self.error(
                    SHOP_FILE,
                    unknown("payment method", name, ("invoice", "sepa_debit")),
                    field=f"payment_methods.{name}",
                    line=find_line(self.sources.get(SHOP_FILE, ""), ("payment_methods", name)),
                )
        self.check_selections([s.products for s in catalog.product_selections], list(products))
        self.check_brand_files(shop_file)
        images = self.product_images(catalog.products)
        shop = Shop(
            root=self.root,
            site=shop_file.site,
            business_entities=entities,
            payment_methods=shop_file.payment_methods,
            products=products,
            product_selections=selections,
            forms=form_map,
            journeys={},
            discounts=discounts,
            brand=shop_file.brand,
            quotes=shop_file.quotes,
            images=images,
            warnings=self.warnings,
            shared_digest=_digest(
                {name: self.sources.get(name, "") for name in (SHOP_FILE, CATALOG_FILE, FORMS_FILE)}
            ),
        )
        for journey in journeys:
            self.check_cached(shop, journey)
        for journey in self.partial_journeys:
            checker = Checker(self.sources, self.broken)
            checker.check_journey(shop, journey)
            self.errors.extend(checker.errors)
        used_keys: dict[str, str] = {}
        for journey in journeys:
            if journey.key in used_keys:
                self.error(
                    journey.source,
                    f"key {journey.key!r} is already used by {used_keys[journey.key]}; "
                    "give each journey its own key, or leave it empty to get a random one",
                    journey=journey.name,
                    field="key",
                    line=find_line(self.sources.get(journey.source, ""), ("key",)),
                )
            elif journey.key:
                used_keys[journey.key] = journey.source
        for journey in journeys:
            if not journey.key:
                key = new_key()
                while key in used_keys:
                    key = new_key()
                journey.key = key
                used_keys[key] = journey.source
                self.generated_keys[journey.source] = True
        shop.journeys = {journey.key: journey for journey in journeys}
        shop.account = self.account_journeys(shop_file, journeys)
        self.check_language_folders(shop_file.site, journeys)
        files: list[tuple[str, Any]] = [(SHOP_FILE, shop_file), (CATALOG_FILE, catalog)]
        files += [(FORMS_FILE, forms)] + [(journey.source, journey) for journey in journeys]
        for name, model in files:
            if isinstance(model, Journey) and self.is_plain(model):
                continue  # no table by language: nothing to translate
            self.check_translations(name, model, shop.site.languages)
        for journey in journeys:
            version = self.cached_version(shop, journey)
            if journey.version != version:  # a cached journey mostly keeps its version
                journey._version = version
        return shop

    def is_plain(self, journey: Journey) -> bool:
        """Whether the journey has no text by language, remembered while its file is unchanged.

        Walking a thousand journeys for tables that none of them has was most of a
        reload's time in a shop of one language.
        """
        entry = self.cache.entries.get(journey.source)
        if entry is None or entry.model is not journey:
            return False
        if entry.plain is None:
            entry.plain = next(languages.tables(journey), None) is None
        if entry.plain:
            self.plain_models.add(id(journey))
        return entry.plain

    def check_language_folders(self, site: Site, journeys: list[Journey]) -> None:
        """A journey's pages and a language's folder cannot share an address."""
        folders = {
            site.in_language(locale).language_folder[:-1]: locale for locale in site.languages[1:]
        }
        for journey in journeys:
            if journey.key in folders:
                self.error(
                    journey.source,
                    f"key {journey.key!r} is the folder of the pages in "
                    f"{folders[journey.key]}; choose another key",
                    journey=journey.name,
                    field="key",
                    line=find_line(self.sources.get(journey.source, ""), ("key",)),
                )

    def check_translations(self, name: str, model: Any, locales: list[str]) -> None:
        """Every table of texts by language has an entry for each of the shop's languages."""
        for loc, locale, text in languages.missing(model, locales):
            journey = model.name if isinstance(model, Journey) else None
            step = None
            if isinstance(model, Journey) and loc[:1] == ("steps",):
                step = step_label_of(model, loc[1])
                field = dotted(loc[2:])
            else:
                field = dotted(loc)
            has = ", ".join(text.by_language)
            self.error(
                name,
                f"no text for {locale!r} (the table has {has}); add "
                f'{locale.split("-")[0]} = "..." or {locale} = "...", or remove {locale!r} '
                "from [site] locales",
                line=find_line(self.sources.get(name, ""), loc),
                journey=journey,
                step=step,
                field=field,
            )

    def check_selections(self, selections: list[Any], known: list[str]) -> None:
        """Every product a selection names is in the catalog."""
        for index, products in enumerate(selections):
            for product in products if isinstance(products, list) else []:
                if isinstance(product, str) and product not in known:
                    self.error(
                        CATALOG_FILE,
                        unknown("product", product, known),
                        field=f"product_selections[{index}].products",
                        line=find_line(
                            self.sources.get(CATALOG_FILE, ""),
                            ("product_selections", index, "products"),
                        ),
                    )

    def check_discounts(self, discounts: list[Any], products: dict[str, Any]) -> None:
        """A discount reduces recurring products of the catalog only."""
        for index, discount in enumerate(discounts):
            for product in discount.products or []:
                problem = None
                if product not in products:
                    problem = unknown("product", product, list(products))
                elif products[product].billing == "one_time":
                    problem = (
                        f"product {product!r} is paid once; a discount reduces "
                        "monthly or yearly products only"
                    )
                if problem:
                    self.error(
                        CATALOG_FILE,
                        problem,
                        field=f"discounts[{index}].products",
                        line=find_line(
                            self.sources.get(CATALOG_FILE, ""), ("discounts", index, "products")
                        ),
                    )

    def account_journeys(self, shop_file: ShopFile, journeys: list[Journey]) -> dict[str, str]:
        """``[account]``'s journeys as keys; each must exist and act on a subscription."""
        by_name: dict[str, Journey] = {}
        for journey in journeys:
            by_name[journey.key] = journey
            # A journey file's name is "<stem>.toml" (``load`` lists no other): no Path needed.
            by_name[journey.source.removesuffix(".toml")] = journey
        # A journey file with mistakes of its own is reported as such, not also as unknown.
        broken = {Path(journey.source).stem for journey in self.partial_journeys}
        found: dict[str, str] = {}
        for action, name in shop_file.account.named().items():
            journey = by_name.get(name) or by_name.get(Path(name).stem)
            field = f"account.{action}_journey"
            line = find_line(self.sources.get(SHOP_FILE, ""), ("account", f"{action}_journey"))
            if journey is None and Path(name).stem in broken:
                continue
            if journey is None:
                self.error(
                    SHOP_FILE, unknown("journey", name, sorted(by_name)), field=field, line=line
                )
            elif not journey.about_subscription:
                self.error(
                    SHOP_FILE,
                    f"journey {name!r} is about a new order; the account page's journeys act "
                    f'on a subscription: set subject = "subscription" in {journey.source}',
                    field=field,
                    line=line,
                )
            else:
                found[action] = journey.key
        return found

    def check_broken_catalog(self) -> None:
        """A catalog with a mistake is not used, but its selections are still checked
        against the product ids it has, so one run reports every mistake at once."""
        try:
            data = tomllib.loads(self.sources.get(CATALOG_FILE, ""))
        except tomllib.TOMLDecodeError:
            return  # reported; nothing more can be read
        products = data.get("products")
        selections = data.get("product_selections")
        if not isinstance(products, list) or not isinstance(selections, list):
            return
        known = [p["id"] for p in products if isinstance(p, dict) and isinstance(p.get("id"), str)]
        self.check_selections(
            [s.get("products") if isinstance(s, dict) else None for s in selections], known
        )

    def check_cached(self, shop: Shop, journey: Journey) -> None:
        """Check a journey against the shared files, unless neither changed since last time."""
        entry = self.cache.entries.get(journey.source)
        if entry and entry.checked and entry.checked[0] == shop.shared_digest:
            self.errors.extend(entry.checked[1])
            self.warnings.extend(entry.checked[2])
            return
        checker = Checker(self.sources, self.broken)
        checker.check_journey(shop, journey)
        checker.check_sense(shop, journey)
        self.errors.extend(checker.errors)
        self.warnings.extend(checker.warnings)
        if entry:
            entry.checked = (shop.shared_digest, checker.errors, checker.warnings)

    def cached_version(self, shop: Shop, journey: Journey) -> str:
        entry = self.cache.entries.get(journey.source)
        if entry and entry.version and entry.version[:2] == (shop.shared_digest, journey.key):
            return entry.version[2]
        version = journey_version(shop, journey, self.shown_digests)
        if entry:
            entry.version = (shop.shared_digest, journey.key, version)
        return version

    def by_id(self, file: str, kind: str, items: list[M]) -> dict[str, M]:
        found: dict[str, M] = {}
        for index, item in enumerate(items):
            item_id = item.id  # type: ignore[attr-defined]
            if item_id in found:
                self.error(
                    file,
                    f"duplicate id {item_id!r}; each entry in [[{kind}]] needs its own id",
                    field=f"{kind}[{index}].id",
                    line=find_line(self.sources.get(file, ""), (kind, index, "id")),
                )
            found[item_id] = item
        return found


def _unmeasured(relative: str) -> str:
    return (
        f"cannot tell the width and height of {relative!r}: is it a whole image? "
        "(an SVG needs width and height attributes)"
    )


def _is_icon(path: Path) -> bool:
    """Whether the file starts as an .ico file does: reserved 0, type 1, at least one image.

    ``imagesize`` does not read icons; the header tells one from a file merely named .ico.
    """
    try:
        with path.open("rb") as file:
            header = file.read(6)
    except OSError:
        return False
    return (
        len(header) == 6 and header[:4] == b"\0\0\1\0" and int.from_bytes(header[4:], "little") > 0
    )


def _partial_journey(name: str, data: dict[str, Any]) -> Journey | None:
    """The parts of an invalid journey that are valid on their own.

    Their references (business entity, product selection, form...) are checked
    too, so one run reports every mistake instead of revealing them one by one.
    """
    business_entity = data.get("business_entity")
    subject = data.get("subject")
    steps = data.get("steps")
    if not isinstance(steps, list):
        steps = []
    valid_steps = []
    for raw in steps:
        try:
            valid_steps.append(_STEP_ADAPTER.validate_python(raw))
            continue
        except ValidationError:
            pass
        # A typo in one field should not hide a wrong reference in another: try again
        # without the unknown fields (already reported).
        known = step_class(raw.get("type") if isinstance(raw, dict) else None).model_fields
        try:
            cleaned = {k: v for k, v in raw.items() if k in known}
            valid_steps.append(_STEP_ADAPTER.validate_python(cleaned))
        except (ValidationError, AttributeError):
            valid_steps.append(None)
    journey = Journey.model_construct(
        name=str(data.get("name", "")),
        key="",
        business_entity=business_entity if isinstance(business_entity, str) else "",
        order_channel="",
        # Kept so the steps are checked against what the journey is about.
        subject=subject if subject in ("order", "subscription") else "order",
        discount="",
        when=None,
        steps=valid_steps,
    )
    journey._source = name
    return journey


def _model_for(name: str) -> type[BaseModel]:
    """Three file names are the shop's; every other file is one journey."""
    return {SHOP_FILE: ShopFile, CATALOG_FILE: CatalogFile, FORMS_FILE: FormsFile}.get(
        name, Journey
    )


def journey_version(
    shop: Shop, journey: Journey, memo: dict[tuple[Any, ...], str] | None = None
) -> str:
    """A digest of everything the pages of this journey show and the backend charges.

    It travels in the cart cookie: a cart made against another version is re-checked
    against today's catalog instead of being trusted.

    What the journey shows from the shared files (its products and forms, its
    business entity, the payment methods, the site) is digested apart: many
    journeys show the same plans, and encoding the catalog once per journey was
    the dearest part of loading a thousand of them. ``memo``, kept for one load,
    holds those digests.
    """
    products: set[str] = set()
    forms: set[str] = set()
    for step in journey.steps:
        if (
            isinstance(step, ProductSelectionStep)
            and step.product_selection in shop.product_selections
        ):
            products.update(shop.product_selections[step.product_selection].products)
        if isinstance(step, FormStep):
            forms.add(step.form)
    memo = {} if memo is None else memo
    key = (tuple(sorted(products)), tuple(sorted(forms)), journey.business_entity)
    if key not in memo:
        memo[key] = _shown_digest(shop, *key)
    return _digest({"journey": journey.model_dump(mode="json"), "shown": memo[key]})


def _shown_digest(
    shop: Shop, products: tuple[str, ...], forms: tuple[str, ...], entity: str
) -> str:
    """A digest of what a journey shows from the shared files; see ``journey_version``."""
    payload = {
        "products": [
            shop.products[p].model_dump(mode="json") for p in products if p in shop.products
        ],
        "forms": [shop.forms[f].model_dump(mode="json") for f in forms if f in shop.forms],
        "entity": shop.business_entities[entity].model_dump(mode="json")
        if entity in shop.business_entities
        else None,
        "payment_methods": {k: v.model_dump(mode="json") for k, v in shop.payment_methods.items()},
        "site": shop.site.model_dump(mode="json"),
    }
    return _digest(payload)


def _digest(payload: Any) -> str:
    encoded = json.dumps(payload, sort_keys=True, default=str).encode()
    return hashlib.sha256(encoded).hexdigest()[:12]
