"""Fixtures for klbuild: every test works on its own copy of the example journeys."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from example import copy_self_service
from studio_client import Studio, serve

from klbuild.build import BuildReport, build


class Workspace:
    """A copy of the example journeys and a site folder to build them into."""

    #: The example journey's key and file, as written in journeys/self-service.toml.
    key = "k9uscs7vr7"
    journey_file = "self-service.toml"

    def __init__(self, root: Path) -> None:
        self.root = root
        self.journeys = root / "journeys"
        self.site = root / "site"
        # The shop and its self-service journey: tests here count that journey's pages.
        # The example's other journeys are built in test_example.py.
        copy_self_service(self.journeys)

    def build(self, templates: Path | None = None) -> BuildReport:
        return build(self.journeys, self.site, templates)

    def edit(self, name: str, old: str, new: str) -> None:
        """Replace text in a journey file, failing loudly if the text is not there."""
        path = self.journeys / name
        text = path.read_text(encoding="utf-8")
        assert old in text, f"{old!r} not in {name}"
        path.write_text(text.replace(old, new, 1), encoding="utf-8")

    def add_journey(self, key: str, name: str) -> str:
        """A second journey: the example under another key and name. Returns its file name."""
        text = (self.journeys / self.journey_file).read_text(encoding="utf-8")
        text = text.replace(f'key = "{self.key}"', f'key = "{key}"')
        text = text.replace('name = "Self-Service Shop & Checkout"', f'name = "{name}"')
        (self.journeys / f"{key}.toml").write_text(text, encoding="utf-8")
        return f"{key}.toml"

    def snapshot(self) -> dict[str, bytes]:
        """Every file in the site with its bytes, by relative path."""
        return {
            p.relative_to(self.site).as_posix(): p.read_bytes()
            for p in sorted(self.site.rglob("*"))
            if p.is_file()
        }

    def pages(self) -> dict[str, str]:
        """Every built page's HTML, by ``KEY/STEP``."""
        return {
            p.parent.relative_to(self.site).as_posix(): p.read_text(encoding="utf-8")
            for p in sorted(self.site.rglob("index.html"))
        }

    def page(self, step: str, key: str | None = None) -> str:
        return (self.site / (key or self.key) / step / "index.html").read_text(encoding="utf-8")


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    """A fresh copy of the example journeys; nothing is built yet."""
    return Workspace(tmp_path)


@pytest.fixture
def built(ws: Workspace) -> Workspace:
    """The example journeys, built once."""
    ws.build()
    return ws


# -- the studio over real HTTP (test_studio.py, test_studio_fields.py) ---------------------


@pytest.fixture(scope="module")
def studio_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Studio]:
    """One dev server per module on a copy of the example."""
    yield from serve(tmp_path_factory)


@pytest.fixture
def studio(studio_server: Studio) -> Studio:
    """The module's dev server, its files back to the example's."""
    studio_server.reset()
    return studio_server
