"""The studio's hold on the files: read with a fingerprint, written only over what was read.

Every form the studio shows carries the fingerprint of the file as it was when
the form was made. A save compares it with the file on disk first: a file that
changed in between (an editor's save, a ``git pull``) is never overwritten, the
person is told and shown the file as it is now. Names come from URLs, so each is
checked to be a TOML file directly in the journeys folder before it is opened.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import tomlkit
from tomlkit import TOMLDocument
from tomlkit.exceptions import ParseError

from kljourney.keys import replace_file

#: What a file the studio opens may be called: the loader's file names, nothing with a path.
FILE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*\.toml$")


class StudioError(Exception):
    """A change the studio will not make; ``str()`` says why and what to do."""


class Conflict(StudioError):
    """The file changed on disk since the studio read it."""


class Unreadable(StudioError):
    """The file is there but cannot be edited here (not UTF-8, not TOML): a text editor must."""


def fingerprint(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def path_of(root: Path, name: str) -> Path:
    """``root / name`` for a journeys-folder TOML file name; StudioError for anything else.

    The name arrives in a URL or a form: ``../x.toml``, ``a/b.toml`` or a link
    leading out of the folder must never be opened, let alone written.
    """
    if not FILE_NAME.fullmatch(name):
        raise StudioError(
            f"{name!r} is not a journey file's name: lowercase letters, digits, '-' and '_', "
            "ending in .toml"
        )
    path = root / name
    if path.is_symlink() or not path.resolve().is_relative_to(root.resolve()):
        raise StudioError(f"{name!r} is outside the journeys folder; the studio does not open it")
    return path


@dataclass
class Document:
    """One file as the studio read it: its name, text, fingerprint and parsed TOML."""

    name: str
    text: str
    toml: TOMLDocument
    #: The file's own line ending: a file written on Windows keeps its "\r\n" (else
    #: every line of it would change in git for a change to one).
    newline: str = "\n"

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.text)

    def dumps(self) -> str:
        text = tomlkit.dumps(self.toml)
        return text.replace("\n", self.newline) if self.newline != "\n" else text


def read(root: Path, name: str, *, missing_ok: bool = False) -> Document:
    """The file ``name`` as it is now; an empty document when it is missing and may be."""
    path = path_of(root, name)
    try:
        raw = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        if missing_ok:
            return Document(name, "", tomlkit.document())
        raise StudioError(f"there is no file {name!r} in the journeys folder") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise Unreadable(f"cannot read {name}: {exc}") from None
    newline = "\r\n" if "\r\n" in raw else "\n"
    text = raw.replace("\r\n", "\n")  # as the fingerprints read it (read_text's newlines)
    try:
        return Document(name, text, tomlkit.parse(text), newline)
    except ParseError as exc:
        raise Unreadable(
            f"{name} is not valid TOML ({exc}); fix it in a text editor, then reload"
        ) from None


def check_unchanged(root: Path, name: str, expected: str) -> None:
    """Raise ``Conflict`` unless the file still has the fingerprint ``expected``.

    ``expected`` is "" for a file the studio is about to create: then it must not exist.
    """
    path = path_of(root, name)
    try:
        now = fingerprint(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        now = ""
    if now != expected:
        if not expected:
            raise Conflict(f"{name} exists already; choose another name")
        raise Conflict(
            f"{name} was changed on disk since the studio showed it (by an editor or "
            "git?); nothing was written. It is shown as it is now: make the change again."
        )


def write(root: Path, name: str, text: str) -> None:
    """Replace the file in one rename: the watcher never sees half of it."""
    replace_file(path_of(root, name), text)


def remove(root: Path, name: str) -> None:
    path_of(root, name).unlink()
