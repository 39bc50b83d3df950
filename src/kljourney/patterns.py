"""Form field patterns that work in both places they are used.

The backend checks a ``pattern`` with Python's ``re``; the page puts it in the
input's ``pattern`` attribute, which browsers compile as a JavaScript regular
expression with the ``v`` flag. In ``v`` mode a character class is stricter than
in Python: ``-`` outside a range, the characters ``( ) [ { } / |`` and doubled
punctuation such as ``&&`` must be escaped. A pattern the browser rejects is
silently ignored there, so catch it when the journeys load.
"""

from __future__ import annotations

_MUST_ESCAPE_IN_CLASS = set("()[{}/|")
_NO_DOUBLES_IN_CLASS = set("&!#$%*+,.:;<=>?@^`~")


def browser_problem(pattern: str) -> str | None:
    """Why browsers would reject ``pattern``, with the fix; None when they accept it."""
    index, in_class, after_atom = 0, False, False
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            index += 2
            after_atom = in_class
            continue
        if not in_class:
            if char == "[":
                in_class, after_atom = True, False
                index += 2 if pattern[index + 1 : index + 2] == "^" else 1
                continue
            index += 1
            continue
        following = pattern[index + 1 : index + 2]
        if char == "]":
            in_class = False
        elif char == "-":
            if not after_atom or following in ("]", ""):
                return _fix("a '-' that is not part of a range", r"\-", pattern)
            index += 3 if following == "\\" else 2  # the range's end
            after_atom = False
            continue
        elif char in _MUST_ESCAPE_IN_CLASS:
            return _fix(f"'{char}'", f"\\{char}", pattern)
        elif char in _NO_DOUBLES_IN_CLASS and following == char:
            return _fix(f"'{char}{char}'", f"\\{char}", pattern)
        after_atom = True
        index += 1
    return None


def _fix(what: str, escaped: str, pattern: str) -> str:
    return (
        f"browsers reject {what} inside [...] (they read patterns with the 'v' flag); "
        f"escape it as {escaped}, which Python accepts too"
    )
