"""Journey keys: random once, written into the journey's file, stable afterwards.

A key is part of every URL of a journey, so it must never change between builds.
"""

from __future__ import annotations

import os
import re
import secrets
import string
import tomllib
from pathlib import Path

import tomlkit


def new_key() -> str:
    """Ten lowercase letters and digits: short in a URL, about 52 bits of randomness."""
    alphabet = string.ascii_lowercase + string.digits
    return secrets.choice(string.ascii_lowercase) + "".join(
        secrets.choice(alphabet) for _ in range(9)
    )


def write_key(path: Path, key: str) -> None:
    """Write ``key = "..."`` into a journey file, keeping its comments and layout."""
    text = path.read_text(encoding="utf-8")
    document = tomlkit.parse(text)
    document["key"] = key
    if "key" in tomllib.loads(text):
        new_text = tomlkit.dumps(document)
    else:
        # tomlkit appends a new key after the last plain value; put it right after `name`
        # instead, where a person looks for it.
        new_text = _insert_key_line(text, key)
    replace_file(path, new_text)


def _insert_key_line(text: str, key: str) -> str:
    lines = text.splitlines(keepends=True)
    insert_at = 0
    for index, line in enumerate(lines):
        if line.lstrip().startswith("["):
            insert_at = index
            break
        if re.match(r"\s*name\s*=", line):
            insert_at = index + 1
            break
    else:
        insert_at = len(lines)
    if insert_at and not lines[insert_at - 1].endswith("\n"):
        lines[insert_at - 1] += "\n"
    lines.insert(insert_at, f'key = "{key}"\n')
    return "".join(lines)


def replace_file(path: Path, text: str) -> None:
    """Temp file and rename, so an interrupted write never leaves half a journey.

    The file keeps its permission bits: the rename puts the temp file's in their
    place, and a web server or a colleague may need to read it. A new file gets
    what any new file gets (0666 less the umask), which is why the temp file is
    not ``tempfile.mkstemp``'s (always 0600). The text reaches the disk before
    the rename, so a crash in between leaves the old file, not an empty one.
    """
    try:
        mode: int | None = os.stat(path).st_mode & 0o7777
    except FileNotFoundError:
        mode = None
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            fd = os.open(tmp, flags, 0o666)
            break
        except FileExistsError:
            continue
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            if mode is not None:
                os.chmod(tmp, mode)
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
