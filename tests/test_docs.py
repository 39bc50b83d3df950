"""The README documents every option and setting: cheap insurance that docs and code agree."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from klbuild.cli import cli as klbuild_cli
from klcheckout import settings

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def _options(group: click.Group) -> list[tuple[str, str]]:
    found = []
    for name, command in group.commands.items():
        for param in command.params:
            if isinstance(param, click.Option):
                found.extend((name, opt) for opt in param.opts + param.secondary_opts)
    return found


@pytest.mark.parametrize(("command", "option"), _options(klbuild_cli))
def test_every_klbuild_option_is_in_the_readme(command: str, option: str) -> None:
    assert option in README, f"`klbuild {command} {option}` is not documented in README.md"


@pytest.mark.parametrize("command", sorted(klbuild_cli.commands))
def test_every_klbuild_command_is_in_the_readme(command: str) -> None:
    assert f"klbuild {command}" in README


@pytest.mark.parametrize("name", settings.VARIABLES)
def test_every_setting_is_in_the_readme(name: str) -> None:
    assert f"KEYLIGHT_{name}" in README


def test_readme_names_the_two_commands_ci_runs() -> None:
    ci = (Path(__file__).resolve().parents[1] / ".ci" / "run").read_text()
    assert "scripts/test" in ci and "scripts/test" in README
    assert "scripts/launch" in README


def test_every_module_is_placed_in_the_readmes_architecture() -> None:
    """A new module gets its line in "Architecture", so the map stays the territory."""
    section = README[README.index("## Architecture") : README.index("## Layout")]
    src = Path(__file__).resolve().parents[1] / "src"
    missing = [
        path.relative_to(src).as_posix()
        for path in sorted(src.rglob("*.py"))
        if path.name not in ("__init__.py", "__main__.py")
        and "migrations" not in path.parts
        and path.name not in section
        and f"{path.parent.name}/" not in section
    ]
    assert not missing, f"not in the README's Architecture section: {missing}"
