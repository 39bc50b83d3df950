"""Where in a TOML file a value is: line numbers for messages people act on.

tomllib gives positions only for syntax errors, inside its message; for a value
that parsed but is wrong, follow the table headers the way a reader would.
"""

from __future__ import annotations

import re


def split_toml_error(text: str) -> tuple[str, int | None]:
    """tomllib puts the position in its message: '... (at line 3, column 7)'."""
    match = re.search(r"\s*\(at line (\d+), column \d+\)$", text)
    if match:
        return text[: match.start()], int(match.group(1))
    match = re.search(r"\s*\(at end of document\)$", text)
    if match:
        return text[: match.start()] + " at the end of the file", None
    return text, None


_HEADER = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.\-\"' ]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"^\s*([A-Za-z0-9_\-]+|\"[^\"]+\")\s*=")


def find_line(source: str, loc: tuple) -> int | None:
    """The line of a value in a TOML file, from a location such as ('steps', 2, 'type').

    tomllib gives no positions for values, so follow the table headers the way a
    reader would. A missing field points at the header of its table.
    """
    if not source or not loc:
        return None
    path: tuple = ()
    path_line: dict[tuple, int] = {}
    counts: dict[tuple, int] = {}
    for number, line in enumerate(source.splitlines(), 1):
        header = _HEADER.match(line)
        if header and not _KEY.match(line):
            names = tuple(part.strip().strip("\"'") for part in header.group(2).split("."))
            parent = _resolve(path, names[:-1])
            if header.group(1) == "[[":
                counter = parent + (names[-1],)
                counts[counter] = counts.get(counter, -1) + 1
                path = counter + (counts[counter],)
            else:
                path = parent + (names[-1],)
            path_line.setdefault(path, number)
            continue
        key = _KEY.match(line)
        if key:
            full = path + (key.group(1).strip('"'),)
            if tuple(loc[: len(full)]) == full:
                return number
    for cut in range(len(loc), 0, -1):
        if tuple(loc[:cut]) in path_line:
            return path_line[tuple(loc[:cut])]
    return None


def _resolve(current: tuple, names: tuple) -> tuple:
    """``[[forms.fields]]`` nests under the current ``[[forms]]`` entry, with its index."""
    result: tuple = ()
    rest = list(current)
    for name in names:
        if rest[:1] == [name]:
            result += (rest.pop(0),)
            if rest and isinstance(rest[0], int):
                result += (rest.pop(0),)
        else:
            result += (name,)
            rest = []
    return result
