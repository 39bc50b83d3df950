"""The package boundaries the README describes, checked on the source itself.

The core (``kljourney``) imports neither peer; ``klbuild`` reaches ``klcheckout``
only in the dev server's wiring; ``klcheckout`` never imports ``klbuild``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

#: Which packages each package may import, and the one module allowed more.
ALLOWED = {
    "kljourney": set(),
    "klbuild": {"kljourney"},
    "klcheckout": {"kljourney"},
}
EXCEPTIONS = {"klbuild/serve.py": {"klcheckout"}}


def imported_packages(path: Path) -> set[str]:
    """The keylight packages a module imports (absolute imports only: relative ones stay home)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found & set(ALLOWED)


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_each_package_imports_only_what_it_may(package: str) -> None:
    wrong = {}
    for path in sorted((SRC / package).rglob("*.py")):
        name = path.relative_to(SRC).as_posix()
        allowed = {package} | ALLOWED[package] | EXCEPTIONS.get(name, set())
        extra = imported_packages(path) - allowed
        if extra:
            wrong[name] = sorted(extra)
    assert not wrong, f"imports across the boundaries the README draws: {wrong}"


def test_the_dev_server_wiring_uses_the_backends_public_names_only() -> None:
    tree = ast.parse((SRC / "klbuild" / "serve.py").read_text(encoding="utf-8"))
    modules = {
        node.module
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("klcheckout")
    }
    modules |= {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
        if alias.name.startswith("klcheckout")
    }
    assert modules == {"klcheckout"}
