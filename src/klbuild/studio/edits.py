"""Changes to a parsed journey file: the studio's verbs, one function each.

Each takes a tomlkit document and changes it in place, so everything the
change does not touch (comments, blank lines, key order, quoting) is written
back as it was read. A ``[[steps]]`` table moves or goes with the comment lines
written above its header, and the tables it leaves are spaced as the file
spaces them elsewhere. None of them checks what the result means: the model
does that, with ``klbuild check``'s messages, before anything is written.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import tomlkit
from tomlkit import TOMLDocument
from tomlkit.container import Container
from tomlkit.items import AoT, Comment, Item, Key, Null, Table, Whitespace

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
    """``self-service-shop-checkout.toml`` from the journey's name, unlike any file there;
    a long name's first words (a file name has 255 bytes at most)."""
    stem = slugify(name)[:60].rstrip("-") or key or "journey"
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
    """Remove one ``[[key]]`` table with the comment lines written above its header."""
    table_at(document, key, index)  # says so if it is gone
    region = _take_region(document, key)
    del region.blocks[index]
    _lay_out(document, key, region)


def move(document: TOMLDocument | Table, key: str, index: int, to: int) -> None:
    """Move one ``[[key]]`` table to position ``to`` (clamped to the list)."""
    items = tables(document, key)
    table_at(document, key, index)
    to = max(0, min(to, len(items) - 1))
    if to == index:
        return
    region = _take_region(document, key)
    region.blocks.insert(to, region.blocks.pop(index))
    _lay_out(document, key, region)


def reorder(document: TOMLDocument, key: str, order: list[int]) -> None:
    """Put the ``[[key]]`` tables in ``order`` (their current positions, in the new order)."""
    items = tables(document, key)
    if sorted(order) != list(range(len(items))):
        raise StudioError(
            "the new order does not name every step once; the journey was changed meanwhile: "
            "reload the page"
        )
    if not order:
        return
    region = _take_region(document, key)
    region.blocks = [region.blocks[i] for i in order]
    _lay_out(document, key, region)


def _append(container: TOMLDocument | Table, key: str, table: Table) -> None:
    """Add ``table`` after the last ``[[key]]``, as a person would have typed it there.

    Spaced from the one before it as the other tables are, and indented like
    it; the comments that end the last table (they introduce what follows it)
    stay below the new one.
    """
    if key not in container and container.as_string().strip():
        if not container.as_string().endswith("\n\n"):
            container.add(tomlkit.nl())
    items = tables(container, key)
    if not len(items):
        if isinstance(container, Table):
            _indent(table, "  ")  # the first [[steps.reasons]]: indented, as the examples are
        items.append(table)
        return
    _indent_like(items[-1], table)
    region = _take_region(container, key)
    region.blocks.append(_Block([], table))
    _lay_out(container, key, region)


# Moving tables as a reader sees them
# -----------------------------------
#
# tomlkit keeps the lines between two tables (blank lines, comments) at the end
# of the first table's body, or of its last sub-table's: the lines above the
# next ``[[steps]]`` header would move and vanish with the step before it. So
# the verbs above take the tables apart into blocks first, each table with the
# comment lines written above its header, and put them back together after.


@dataclass
class _Block:
    """One ``[[key]]`` table and the comment lines above its header (its ``intro``)."""

    intro: list[Item]
    table: Table


@dataclass
class _Above:
    """Where the lines above the first table are kept: ``container.body[blank:stop]``.

    ``start`` is where the comment lines directly above the header begin (the
    first table's intro); from ``blank`` to there are the blank lines before them.
    Lines above those are the file's or what precedes the tables': they stay.
    """

    container: Container
    blank: int
    start: int
    stop: int


@dataclass
class _Region:
    """The ``[[key]]`` tables of one container, taken apart into blocks.

    ``separator`` is the blank lines between two blocks, as the file has them
    most often; ``ending`` the lines after the last table, which belong to what
    follows (a comment above ``[[hooks]]``, the end of the file) and stay last.
    """

    above: _Above
    blocks: list[_Block]
    separator: str
    ending: list[Item]


def _take_region(owner: TOMLDocument | Table, key: str) -> _Region:
    """Take the lines between the ``[[key]]`` tables out of their bodies, into blocks.

    Everything after a table's last key up to the next header introduces the
    next table, except the blank lines before the first comment: those only
    separate the two.
    """
    items = tables(owner, key)
    above = _above(_container(owner), items)
    first_intro = _lines(above.container.body[above.start : above.stop])
    tails = [_take_tail(table) for table in items]
    blocks, gaps = [_Block(first_intro, items[0])], []
    for table, tail in zip(items[1:], tails[:-1], strict=True):  # each tail before a table
        gap, intro = _split_tail(tail)
        gaps.append(gap)
        blocks.append(_Block(intro, table))
    separator = Counter(gaps).most_common(1)[0][0] if gaps else "\n"
    return _Region(above, blocks, separator, tails[-1])


def _lay_out(owner: TOMLDocument | Table, key: str, region: _Region) -> None:
    """Write the blocks back in their (new) order: each intro directly above its header."""
    if not region.blocks:
        _remove_all(owner, key, region)
        return
    items = tables(owner, key)
    del items[:]
    for block in region.blocks:
        items.append(block.table)
    separator = [tomlkit.ws(region.separator)] if region.separator else []
    for block, following in pairwise(region.blocks):
        _end_with(block.table, separator + following.intro)
    _end_with(region.blocks[-1].table, region.ending)
    above = region.above
    _set_lines(above.container, above.start, above.stop, region.blocks[0].intro)


def _remove_all(owner: TOMLDocument | Table, key: str, region: _Region) -> None:
    """The last table went: what followed it takes the place of the blank lines before it."""
    container = _container(owner)
    above = region.above
    stop = above.stop
    if above.container is container:
        stop += 1  # the tables' own entry, which ``del`` leaves as an empty placeholder
    del owner[key]
    _set_lines(above.container, above.blank, stop, region.ending)


def _above(container: Container, items: AoT) -> _Above:
    """Find the lines above the first of ``items``.

    They are in ``container`` right before the tables, unless a table precedes
    them there: then at the end of that table's (last sub-table's) body.
    """
    body = container.body
    stop = next(index for index, (_key, item) in enumerate(body) if item is items)
    previous = next(
        ((k, item) for k, item in reversed(body[:stop]) if not isinstance(item, Null)), None
    )
    if previous is not None and _has_header(*previous):
        container = _last_table(previous[1]).value
        body, stop = container.body, len(container.body)
    start = _run_start(body, stop, Comment)
    return _Above(container, _run_start(body, start, Whitespace), start, stop)


def _take_tail(table: Table) -> list[Item]:
    """Take the blank and comment lines after ``table``'s last key (or sub-table) out of it."""
    body = _last_table(table).value.body
    start = _run_start(body, len(body), Comment, Whitespace)
    tail = _lines(body[start:])
    del body[start:]
    return tail


def _split_tail(tail: list[Item]) -> tuple[str, list[Item]]:
    """The blank lines before the first comment of ``tail``, and the rest: the next intro."""
    first = next((i for i, line in enumerate(tail) if isinstance(line, Comment)), len(tail))
    return "".join(line.as_string() for line in tail[:first]), tail[first:]


def _end_with(table: Table, lines: list[Item]) -> None:
    """Write comment and blank ``lines`` after ``table``'s last line."""
    last = _last_table(table)
    entries = _lines(last.value.body)
    final = entries[-1] if entries else last
    if not isinstance(final, Whitespace) and "\n" not in final.trivia.trail:
        final.trivia.trail += "\n"  # the file's last line had none; it is not last any more
    for line in lines:
        last.value.append(None, line)


def _set_lines(container: Container, start: int, stop: int, lines: list[Item]) -> None:
    """Put comment and blank ``lines`` in place of the keyless ``container.body[start:stop]``.

    tomlkit indexes the keyed entries by their position and has no way to
    insert a comment before one: when the number of lines changes, the entries
    after them are taken out and appended again, as its parser appends them.
    """
    body = container.body
    following = body[stop:]
    if len(lines) == stop - start or all(k is None for k, _item in following):
        body[start:stop] = [(None, line) for line in lines]
        return
    for k in dict.fromkeys(k for k, _item in following if k is not None):
        container.remove(k)
    del body[start:]
    container.parsing(True)  # so that appending adds no blank lines of its own
    try:
        for line in lines:
            container.append(None, line)
        for k, item in following:
            if not isinstance(item, Null):
                container.append(k, item)
    finally:
        container.parsing(False)


def _last_table(item: Table | AoT) -> Table:
    """The table whose body ends ``item``'s text: its last sub-table's, if it has one."""
    table = item[-1] if isinstance(item, AoT) else item
    while True:
        entries = [(k, v) for k, v in table.value.body if not isinstance(v, Null)]
        if not entries or not _has_header(*entries[-1]):
            return table
        last = entries[-1][1]
        table = last[-1] if isinstance(last, AoT) else last


def _has_header(key: Key | None, item: Item) -> bool:
    """Whether ``item`` is written under ``[header]`` lines (not ``a.b = 1`` or ``a = {}``)."""
    if isinstance(item, AoT):
        return len(item) > 0
    return isinstance(item, Table) and key is not None and not key.is_dotted()


def _run_start(body: list[tuple[Key | None, Item]], stop: int, *kinds: type[Item]) -> int:
    """Where the keyless entries of ``kinds`` (or deleted ones) that end at ``stop`` begin."""
    start = stop
    while start and body[start - 1][0] is None and isinstance(body[start - 1][1], (*kinds, Null)):
        start -= 1
    return start


def _lines(entries: list[tuple[Key | None, Item]]) -> list[Item]:
    return [item for _key, item in entries if not isinstance(item, Null)]


def _container(owner: TOMLDocument | Table) -> Container:
    return owner.value if isinstance(owner, Table) else owner


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
