"""Errors meant for people: where the mistake is, what was found and what would be valid."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import IO, Literal

import click


@dataclass(frozen=True)
class Problem:
    """One mistake (or, as a warning, one oddity) in the journey files."""

    file: str
    message: str
    line: int | None = None
    journey: str | None = None
    step: str | None = None
    field: str | None = None
    severity: Literal["error", "warning"] = "error"

    @property
    def place(self) -> str:
        """'journey 'Shop', step 3 'Cart', field 'type'' — the part after the file name."""
        parts = []
        if self.journey:
            parts.append(f"journey {self.journey!r}")
        if self.step:
            parts.append(self.step)
        if self.field:
            parts.append(f"field {self.field!r}")
        return ", ".join(parts)

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        place = f" {self.place}:" if self.place else ""
        return f"{where}: {self.severity}:{place} {self.message}"

    def as_dict(self) -> dict[str, object]:
        """The shape the dev server's error overlay shows."""
        return {
            "file": self.file,
            "line": self.line,
            "place": self.place,
            "message": self.message,
            "severity": self.severity,
            "text": str(self),
        }


def summary(problems: Iterable[Problem]) -> str:
    problems = list(problems)
    errors = sum(p.severity == "error" for p in problems)
    warnings = len(problems) - errors
    parts = []
    if errors:
        parts.append(f"{errors} error{'s' if errors != 1 else ''}")
    if warnings:
        parts.append(f"{warnings} warning{'s' if warnings != 1 else ''}")
    return ", ".join(parts) or "no problems"


class ConfigError(click.ClickException):
    """The journey files have mistakes; the CLI prints every one and exits with status 1."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__(summary(problems))

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    def format_message(self) -> str:
        lines = [str(p) for p in self.problems]
        lines.append(f"{summary(self.problems)}; fix them and run again.")
        return "\n".join(lines)

    def show(self, file: IO[str] | None = None) -> None:
        click.echo(self.format_message(), file=file, err=file is None)
