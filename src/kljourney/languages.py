"""A shop in each of its languages.

A marketer may write any text a customer reads as a table by language
(``name = { de = "Warenkorb", en = "Cart" }``). Rather than have every page and
every backend message ask which entry to show, the loader makes one copy of the
shop per language with each table replaced by its entry: the code that reads
``step.name`` gets a string in the right language and never knows tables exist.
Parts without tables are shared between the copies, not copied.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Iterator
from typing import Any

from pydantic import BaseModel

from .model import Text
from .shop import Shop


def localized(value: Any, locale: str, plain: Collection[int] = ()) -> Any:
    """``value`` with every ``Text`` table replaced by its entry for ``locale``.

    Returns ``value`` itself when nothing in it changes, so a journey without
    tables costs one walk and no copy; none at all when its id is in ``plain``
    (the loader knows which journeys have no table).
    """
    if id(value) in plain:
        return value
    if isinstance(value, Text):
        return Text(value.in_language(locale)) if value.by_language else value
    if isinstance(value, BaseModel):
        changes = {}
        for name in type(value).model_fields:
            old = getattr(value, name)
            new = localized(old, locale)
            if new is not old:
                changes[name] = new
        return value.model_copy(update=changes) if changes else value
    if isinstance(value, list):
        items = [localized(item, locale) for item in value]
        return items if any(a is not b for a, b in zip(items, value, strict=True)) else value
    if isinstance(value, dict):
        entries = {key: localized(item, locale, plain) for key, item in value.items()}
        return entries if any(entries[key] is not value[key] for key in value) else value
    return value


def in_language(shop: Shop, locale: str, plain: Collection[int] = ()) -> Shop:
    """The shop as the pages in ``locale`` show it: its texts and its site's URLs."""
    return dataclasses.replace(
        shop,
        site=localized(shop.site.in_language(locale), locale),
        business_entities=localized(shop.business_entities, locale),
        payment_methods=localized(shop.payment_methods, locale),
        products=localized(shop.products, locale),
        product_selections=localized(shop.product_selections, locale),
        forms=localized(shop.forms, locale),
        journeys=localized(shop.journeys, locale, plain),
        discounts=localized(shop.discounts, locale),
    )


def with_languages(shop: Shop, plain: Collection[int] = ()) -> Shop:
    """The shop in its default language, holding itself in every language it speaks.

    A shop of one language has no ``languages``: its pages offer no switcher.
    ``plain``: ids of journeys known to have no text by language.
    """
    site = shop.site
    default = in_language(shop, site.languages[0], plain)
    if len(site.languages) > 1:
        default.languages = {site.languages[0]: default}
        for locale in site.languages[1:]:
            copy = in_language(shop, locale, plain)
            copy.languages = default.languages
            default.languages[locale] = copy
    return default


def tables(value: Any, loc: tuple = ()) -> Iterator[tuple[tuple, Text]]:
    """(location, text) of every table by language in ``value``, for ``klbuild check``."""
    if isinstance(value, Text):
        if value.by_language:
            yield loc, value
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from tables(getattr(value, name), (*loc, name))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from tables(item, (*loc, index))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from tables(item, (*loc, key))


def missing(value: Any, locales: list[str]) -> Iterator[tuple[tuple, str, Text]]:
    """(location, locale, text) for each table that has no entry for a shop's language."""
    for loc, text in tables(value):
        for locale in locales:
            if text.entry(locale) is None:
                yield loc, locale, text
