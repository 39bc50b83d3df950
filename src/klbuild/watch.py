"""Watch the journeys and templates, and call back once per save.

An editor's save is several file events (a temp file written, renamed over the
original, sometimes a backup file too). They arrive within a few milliseconds;
waiting for a short quiet spell turns them into one rebuild instead of several.
inotify reports a save in about a millisecond, so the quiet spell dominates the
delay a person sees: keep it short.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver
from watchdog.observers.polling import PollingObserver

#: How long the files must stay quiet before a rebuild starts, in seconds.
QUIET = 0.025

_EDITOR_LITTER = ("~", ".swp", ".swx", ".swo", ".tmp", ".part", ".crdownload")


def is_relevant(path: Path) -> bool:
    """Whether a changed file can affect the site: editors' temp and backup files cannot."""
    name = path.name
    if name.startswith(".") or name.endswith(_EDITOR_LITTER):
        return False
    if name.startswith("#") and name.endswith("#"):  # Emacs' auto-save file
        return False
    return name != "4913"  # vim probes whether it may write into a folder with this name


class _Collector(FileSystemEventHandler):
    def __init__(self, on_path: Callable[[Path], None]) -> None:
        self.on_path = on_path

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.is_directory or event.event_type in ("opened", "closed_no_write"):
            return
        for raw in (event.src_path, getattr(event, "dest_path", "")):
            if raw:
                path = Path(raw if isinstance(raw, str) else raw.decode())
                if is_relevant(path):
                    self.on_path(path)


class Watcher:
    """Calls ``callback(changed_paths)`` once after each burst of relevant changes.

    The callback runs on the watcher's own thread, one call at a time, so a save
    that lands during a rebuild is picked up by the next one, never lost.
    """

    def __init__(
        self,
        folders: Iterable[Path],
        callback: Callable[[set[Path]], None],
        *,
        poll: bool = False,
        quiet: float = QUIET,
    ) -> None:
        self.folders = [Path(folder) for folder in folders]
        self.callback = callback
        self.quiet = quiet
        self.observer: BaseObserver = PollingObserver(timeout=0.5) if poll else Observer()
        self._pending: set[Path] = set()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="klbuild-watch", daemon=True)

    def start(self) -> None:
        handler = _Collector(self._add)
        for folder in self.folders:
            if folder.is_dir():
                self.observer.schedule(handler, str(folder), recursive=True)
        self.observer.start()
        self._thread.start()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        self.observer.stop()
        self.observer.join(timeout=5)
        self._thread.join(timeout=5)

    def _add(self, path: Path) -> None:
        with self._lock:
            self._pending.add(path)
        self._wake.set()

    def _run(self) -> None:
        while not self._stopping:
            self._wake.wait()
            # Wait until the burst is over: each new event restarts the quiet spell.
            while self._wake.is_set() and not self._stopping:
                self._wake.clear()
                self._wake.wait(self.quiet)
            if self._stopping:
                return
            with self._lock:
                changed, self._pending = self._pending, set()
            if changed:
                self.callback(changed)
