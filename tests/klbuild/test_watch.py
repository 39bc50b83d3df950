"""The watcher: one callback per save, whatever the editor does on disk."""

from __future__ import annotations

import os
import queue
import time
from pathlib import Path

import pytest

from klbuild.watch import Watcher, is_relevant


@pytest.fixture
def watched(tmp_path: Path):
    calls: queue.Queue[set[Path]] = queue.Queue()
    watcher = Watcher([tmp_path], calls.put)
    watcher.start()
    time.sleep(0.1)  # let inotify settle before the first write
    yield tmp_path, calls
    watcher.stop()


def callbacks(calls: queue.Queue[set[Path]], wait: float = 0.4) -> list[set[Path]]:
    """Every callback made until the watcher has been quiet for ``wait`` seconds."""
    found = []
    try:
        found.append(calls.get(timeout=2))
        while True:
            found.append(calls.get(timeout=wait))
    except queue.Empty:
        return found


def test_saving_in_place_is_one_rebuild(watched) -> None:
    folder, calls = watched
    (folder / "shop.toml").write_text("a")
    assert callbacks(calls) == [{folder / "shop.toml"}]


def test_temp_file_and_rename_is_one_rebuild_of_the_target(watched) -> None:
    folder, calls = watched
    target = folder / "shop.toml"
    target.write_text("a")
    callbacks(calls)
    temp = folder / ".shop.toml.swp"
    temp.write_text("b")
    os.replace(temp, target)
    assert callbacks(calls) == [{target}]


def test_vim_style_save_with_backup_and_probe_is_one_rebuild(watched) -> None:
    folder, calls = watched
    target = folder / "shop.toml"
    (folder / "shop.toml~").write_text("backup")
    probe = folder / "4913"
    probe.write_text("")
    probe.unlink()
    target.write_text("new")
    (folder / "shop.toml~").unlink()
    assert callbacks(calls) == [{target}]


def test_a_save_during_a_rebuild_is_not_lost(tmp_path: Path) -> None:
    seen: queue.Queue[set[Path]] = queue.Queue()

    def slow(changed: set[Path]) -> None:
        seen.put(changed)
        time.sleep(0.3)

    watcher = Watcher([tmp_path], slow)
    watcher.start()
    try:
        time.sleep(0.1)
        (tmp_path / "a.toml").write_text("1")
        first = seen.get(timeout=2)
        (tmp_path / "b.toml").write_text("2")  # while "rebuilding"
        second = seen.get(timeout=2)
    finally:
        watcher.stop()
    assert first == {tmp_path / "a.toml"}
    assert second == {tmp_path / "b.toml"}


@pytest.mark.parametrize(
    ("name", "relevant"),
    [
        ("shop.toml", True),
        ("base.html", True),
        (".shop.toml.swp", False),
        ("shop.toml~", False),
        ("#shop.toml#", False),
        ("#1 shop.toml", True),
        ("4913", False),
        (".klbuild.json", False),
        ("shop.toml.tmp", False),
    ],
)
def test_editor_litter_is_ignored(name: str, relevant: bool) -> None:
    assert is_relevant(Path(name)) is relevant
