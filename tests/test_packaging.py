"""A wheel built from the repository works outside it, templates and migrations included."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(REPO)],
        check=True,
    )
    (built,) = out.glob("keylight_journeys-*.whl")
    return built


def test_wheel_carries_templates_and_migrations(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "kljourney/templates/base.html" in names
    assert "kljourney/templates/assets/app.js" in names
    assert any(n.startswith("kljourney/templates/steps/") for n in names)
    assert any(n.startswith("klcheckout/migrations/versions/") for n in names)
    # The compiled catalogs: a German shop installed from the wheel speaks German.
    assert "kljourney/templates/locale/de/LC_MESSAGES/messages.mo" in names


def test_unpacked_wheel_builds_the_example_away_from_the_repository(
    wheel: Path, tmp_path: Path
) -> None:
    installed = tmp_path / "site-packages"
    zipfile.ZipFile(wheel).extractall(installed)
    shop = tmp_path / "shop"
    shutil.copytree(REPO / "journeys", shop / "journeys")
    env = {**os.environ, "PYTHONPATH": str(installed)}
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import klbuild, sys; from klbuild.cli import cli; "
            "assert klbuild.__file__.startswith(sys.argv[1]), klbuild.__file__; "
            "cli(['build'])",
            str(installed),
        ],
        cwd=shop,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    # The example's journeys (tests/klbuild/test_example.py counts their pages), the
    # account page, the staff sign-in page and the quote page.
    assert "Built 8 journeys" in result.stdout
    assert "45 pages written" in result.stdout
    pages = list((shop / "site").rglob("index.html"))
    assert len(pages) == 45


def test_the_distribution_has_a_name_of_its_own(wheel: Path) -> None:
    """``keylight`` on the package index is an unrelated program: ours is keylight-journeys,
    and the README's install line names it."""
    archive = zipfile.ZipFile(wheel)
    [metadata] = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
    assert "\nName: keylight-journeys\n" in archive.read(metadata).decode()
    readme = (REPO / "README.md").read_text()
    assert "pip install 'keylight-journeys[postgres,redis,server]'" in readme
    assert "pip install 'keylight[" not in readme
