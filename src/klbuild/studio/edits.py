"""Changes to a parsed journey file: the studio's verbs, one function each.

Each takes a tomlkit document and changes it in place, so everything the
change does not touch (comments, blank lines, key order, quoting) is written
back as it was read. None of them checks what the result means: the model does
that, with ``klbuild check``'s messages, before anything is written.
"""

from __future__ import annotations

from typing import Any

import tomlkit
from tomlkit import TOMLDocument
from tomlkit.items import AoT, Comment, Table, Whitespace

from kljourney.keys import new_key
from kljourney.model import slugify

from . import fields
from .documents import StudioError


def new_journey(values: dict[str, Any], key: str) -> TOMLDocument:
    """A journey file with no steps yet: the guide's "Create New" before "Create".

    ``key`` empty gets a random one, written after the name where a person looks for it.
    """
    document = tomlkit.document()
    document["name"] = ""  # filled below: first the name, then the key, as people write them
    document["key"] = key or new_key()
    fields.apply(document, fields.JOURNEY_FIELDS, values)
    # As if read from a file: tomlkit spaces tables it made itself otherwise.
    return tomlkit.parse(document.as_string())


def journey_file_name(name: str, key: str, taken: set[str]) -> str:
    """``self-service-shop-checkout.toml`` from the journey's name, unlike any file there."""
    stem = slugify(name) or key or "journey"
    candidate, number = f"{stem}.toml", 2
    while candidate in taken:
        candidate, number = f"{stem}-{number}.toml", number + 1
    return candidate


def tables(document: TOMLDocument | Table, key: str) -> AoT:
    """The array of tables ``[[key]]`` (made empty if there is none yet)."""
    found = document.get(key)
    if found is None:
        found = tomlkit.aot()
        document.append(key, found)
    if not isinstance(found, AoT):
        raise StudioError(
            f"{key} is not written as [[{key}]] tables in this file; the studio edits only "
            "that form: change it in a text editor"
        )
    return found


def table_at(document: TOMLDocument | Table, key: str, index: int) -> Table:
    items = tables(document, key)
    if not 0 <= index < len(items):
        raise StudioError(f"there is no {key} number {index + 1} in this file (any more)")
    return items[index]


def add_table(
    document: TOMLDocument | Table, key: str, values: dict[str, Any], specs: list[fields.Field]
) -> Table:
    """A new ``[[key]]`` table at the end, with ``values`` written in ``specs``' order."""
    table = tomlkit.table()
    fields.apply(table, specs, values)
    _append(document, key, table)
    return table


def set_step(document: TOMLDocument, index: int, values: dict[str, Any], step_type: str) -> None:
    """Change a step; keys that belong only to another step type are removed with the type."""
    table = table_at(document, "steps", index)
    table["type"] = step_type
    specs = fields.step_fields(step_type)
    fields.remove(table, fields.every_step_field_key() - {spec.key for spec in specs})
    fields.apply(table, specs, values)


def add_step(document: TOMLDocument, values: dict[str, Any], step_type: str) -> Table:
    table = tomlkit.table()
    table["name"] = ""  # name first and type second, as steps are written; filled below
    table["type"] = step_type
    fields.apply(table, fields.step_fields(step_type), values)
    _append(document, "steps", table)
    return table


def delete(document: TOMLDocument | Table, key: str, index: int) -> None:
    items = tables(document, key)
    table_at(document, key, index)  # says so if it is gone
    del items[index]
    if not len(items):
        del document[key]


def move(document: TOMLDocument | Table, key: str, index: int, to: int) -> None:
    """Move one ``[[key]]`` table to position ``to`` (clamped to the list)."""
    items = tables(document, key)
    table = table_at(document, key, index)
    to = max(0, min(to, len(items) - 1))
    if to == index:
        return
    del items[index]
    items.insert(to, table)


def reorder(document: TOMLDocument, key: str, order: list[int]) -> None:
    """Put the ``[[key]]`` tables in ``order`` (their current positions, in the new order)."""
    items = tables(document, key)
    if sorted(order) != list(range(len(items))):
        raise StudioError(
            "the new order does not name every step once; the journey was changed meanwhile: "
            "reload the page"
        )
    moved = [items[i] for i in order]
    while len(items):
        del items[0]
    for table in moved:
        items.append(table)


def _append(container: TOMLDocument | Table, key: str, table: Table) -> None:
    """Add ``table`` after the last ``[[key]]``, as a person would have typed it there.

    A blank line apart and indented like its neighbours; comments that end the
    last table (they introduce what follows it) stay below the new one.
    """
    if key not in container and container.as_string().strip():
        if not container.as_string().endswith("\n\n"):
            container.add(tomlkit.nl())
    items = tables(container, key)
    trailing: list[Any] = []
    if len(items):
        previous = items[-1]
        trailing = _trailing_comments(previous)
        _indent_like(previous, table)
    elif isinstance(container, Table):
        _indent(table, "  ")  # the first [[steps.reasons]]: indented, as the examples are
    items.append(table)
    if len(items) > 1 and not items[-2].as_string().endswith("\n\n"):
        items[-2].add(tomlkit.nl())
    for item in trailing:
        if isinstance(item, Comment):
            indent = item.trivia.indent
            table.add(item)
            item.trivia.indent = indent  # a comment keeps its column
        else:
            table.add(item)


def _trailing_comments(table: Table) -> list[Any]:
    """Take the comment lines (and blank lines around them) that end ``table``'s body."""
    body = table.value.body
    start = len(body)
    while (
        start
        and body[start - 1][0] is None
        and isinstance(body[start - 1][1], (Comment, Whitespace))
    ):
        start -= 1
    run = [item for _key, item in body[start:]]
    if not any(isinstance(item, Comment) for item in run):
        return []
    del body[start:]
    return run


def _is_comment_or_blank(entry: tuple[Any, Any]) -> bool:
    key, item = entry
    return key is None and isinstance(item, (Comment, Whitespace))


def _indent_like(model: Table, table: Table) -> None:
    indents = [item.trivia.indent for key, item in model.value.body if key is not None]
    _indent(table, indents[0] if indents else model.trivia.indent, model.trivia.indent)


def _indent(table: Table, keys: str, header: str | None = None) -> None:
    table.trivia.indent = keys if header is None else header
    for key, item in table.value.body:
        if key is not None:
            item.trivia.indent = keys


def set_brand(document: TOMLDocument, values: dict[str, Any]) -> None:
    brand = document.get("brand")
    if brand is None:
        brand = tomlkit.table()
        document.append("brand", brand)
    fields.apply(brand, fields.BRAND_FIELDS + _BRAND_FILES, values)
    if not len(brand):
        del document["brand"]


_BRAND_FILES = [fields.Field("logo", "Logo"), fields.Field("favicon", "Icon")]
