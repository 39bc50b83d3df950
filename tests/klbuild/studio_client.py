"""A dev server on a copy of the example and a browser-like client of its studio, for
the modules that test the studio over real HTTP (one server per module, each test
starting from the example's files again)."""

from __future__ import annotations

import re
import shutil
import threading
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from example import copy_self_service

from klbuild.serve import DevServer

STUDIO = "/__klbuild/studio"


class Studio:
    """A dev server on a copy of the example, and a browser-like client of its studio."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.pristine = root / "pristine"
        copy_self_service(self.pristine)
        self.journeys = root / "journeys"
        shutil.copytree(self.pristine, self.journeys)
        self.dev = DevServer(self.journeys, root / "site", instance=root / "instance", port=0)
        self.base = self.dev.start().rstrip("/")
        self.thread = threading.Thread(target=self.dev.serve_forever, daemon=True)
        self.thread.start()

    def reset(self) -> None:
        """The example's files as they were, and the preview built from them."""
        shutil.rmtree(self.journeys)
        shutil.copytree(self.pristine, self.journeys)
        self.dev.rebuild()

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return requests.get(self.base + STUDIO + path, timeout=10, **kwargs)

    def post(self, path: str, data: dict[str, Any], **kwargs: Any) -> requests.Response:
        """A form sent from the studio's page, as a browser sends it: with our Origin."""
        headers = {"Origin": self.base, **kwargs.pop("headers", {})}
        return requests.post(
            self.base + STUDIO + path,
            data=data,
            headers=headers,
            allow_redirects=False,
            timeout=10,
            **kwargs,
        )

    def seen(self, page: str) -> str:
        """The fingerprint the page's forms carry, as the person's browser would send it."""
        found = re.search(r'name="seen" value="([0-9a-f]*)"', self.get(page).text)
        assert found, f"no form with a fingerprint on {page}"
        return found.group(1)

    def text(self, name: str) -> str:
        return (self.journeys / name).read_text(encoding="utf-8")

    def toml(self, name: str) -> dict[str, Any]:
        return tomllib.loads(self.text(name))

    def replace(self, name: str, old: str, new: str) -> None:
        """Edit a file as a person would in a text editor, before using the studio."""
        text = self.text(name)
        assert old in text, f"{old!r} not in {name}"
        (self.journeys / name).write_text(text.replace(old, new, 1), encoding="utf-8")

    def stop(self) -> None:
        self.dev.shutdown()
        self.thread.join(10)


def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Studio]:
    """The module's dev server (its ``server`` fixture), with no database URL inherited."""
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("KEYLIGHT_DATABASE_URL", raising=False)
        running = Studio(tmp_path_factory.mktemp("studio"))
        try:
            yield running
        finally:
            running.stop()
