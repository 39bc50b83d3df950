"""``klbuild serve``: the wiring of the dev server.

One process and one command: a builder run by the watcher's thread after every
save, the pages served with live reload (``livereload``), and the checkout
backend (``klcheckout``, through its public ``create_app`` and ``mount``) on the
same origin under the site's ``api_url`` path, with its worker in a thread. This
is the only module of ``klbuild`` that imports ``klcheckout``.
"""

from __future__ import annotations

import os
import threading
import webbrowser
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import click

import klcheckout
from kljourney import ConfigError, Problem, Shop, model, theme

from .build import Builder, BuildError
from .livereload import STUDIO_PREFIX, LiveServer
from .studio import Guard, Studio
from .studio import create_app as studio_app
from .watch import Watcher


class DevServer:
    """Builds, watches and serves one journeys folder until stopped."""

    def __init__(
        self,
        journeys: Path,
        site: Path,
        templates: Path | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 8000,
        poll: bool = False,
        instance: Path | None = None,
        studio: bool = True,
        studio_remote: bool = False,
        allow_hosts: Iterable[str] = (),
    ) -> None:
        self.journeys = Path(journeys)
        self.templates = Path(templates) if templates is not None else None
        self.poll = poll
        self.instance = Path(instance) if instance else self.journeys.resolve().parent / "instance"
        self.builder = Builder(self.journeys, Path(site), self.templates, preview=True)
        self.server = LiveServer(
            Path(site), theme.search_path(self.templates), host=host, port=port
        )
        self.backend: Any = None
        if studio:
            self.studio = Studio(self.journeys, saved=self.rebuild, funnel=self.funnel_report)
            guard = Guard(host, allow_hosts, remote=studio_remote)
            self.server.mount_studio(studio_app(self.studio, guard))
        self._build_lock = threading.Lock()
        #: What each changed file held when a build last took it in (None: there was no
        #: such file). The watcher reports the files the studio writes too, after the
        #: studio has had them built: a second build of the same bytes would change no
        #: page, yet hold back the preview's reload, which waits for builds to end.
        self._built: dict[Path, bytes | None] = {}
        self._watcher: Watcher | None = None
        self._delivery: Any = None

    @property
    def problems(self) -> list[Problem]:
        return self.server.problems

    # -- building ----------------------------------------------------------------------

    def rebuild(self, changed: Iterable[Path] = ()) -> None:
        """Build, hand the new shop to the backend, and tell the open pages.

        A mistake in the files keeps the server and the last good site running;
        the pages show the mistakes over themselves until the files are fixed.
        """
        changed = set(changed)
        with self._build_lock:
            contents = _contents(changed)
            if changed and contents is not None and self._built_already(contents):
                return  # the watcher's echo of a save the studio had built at once
            # Until this build works, no file counts as built: the pages show the last
            # build's problems, and the files as they were before may be what fixes them.
            self._built.clear()
            with self.server.building():
                try:
                    # The watcher names what changed, so the loader need not stat the rest;
                    # with no names (the first build, a manual call) it checks every file.
                    report = self.builder.build(changed=changed or None)
                except ConfigError as exc:
                    self.show_problems(exc.problems)
                    return
                except (BuildError, OSError) as exc:  # a full disk, a read-only site folder...
                    self.show_problems(
                        [Problem(str(self.builder.site), f"cannot write the site: {exc}")]
                    )
                    return
            assert report.shop is not None
            had_problems = bool(self.server.problems)
            try:
                self.serve_shop(report.shop)
            except klcheckout.SettingsError as exc:  # e.g. a Python hook nothing provides
                self.show_problems([Problem(str(self.journeys), str(exc))])
                return
            self._built.update(contents or {})
            for warning in report.warnings:
                click.echo(str(warning), err=True)
            if report.changed or had_problems:
                everything = (
                    had_problems
                    or not report.journeys_rendered
                    or _touches_shared(changed, self.journeys)
                )
                self.server.built(report.shop, report.changed_journeys, everything)
            else:
                self.server.unchanged(report.shop)

    def _built_already(self, contents: dict[Path, bytes | None]) -> bool:
        return all(
            path in self._built and self._built[path] == data for path, data in contents.items()
        )

    def serve_shop(self, shop: Shop) -> None:
        """Hand the new model to the backend (starting it the first time), under its path."""
        if self.backend is None:
            self.backend = self._make_backend(shop)
            self._delivery = klcheckout.Worker(self.backend).start()
        else:
            klcheckout.use_shop(self.backend, shop)
        self.server.mount(shop.site.api_path, klcheckout.mount(self.backend))

    def funnel_report(self, journey_key: str, days: int) -> Any:
        """How a journey performed lately, for the studio; None before the backend runs."""
        if self.backend is None:
            return None
        try:
            return klcheckout.funnel_report(self.backend, journey_key, days)
        except klcheckout.UnknownJourney:
            return None  # not in the last good build (the files have a mistake)

    def show_problems(self, problems: list[Problem]) -> None:
        self.server.show_problems(problems)
        click.echo(ConfigError(problems).format_message(), err=True)

    def _make_backend(self, shop: Shop) -> Any:
        overrides = {
            "KEYLIGHT_JOURNEYS": str(self.journeys),
            "KEYLIGHT_INSTANCE": str(self.instance),
            # The pages it renders for browsers without JavaScript: the site's own theme.
            "KEYLIGHT_TEMPLATES": str(self.templates.resolve()) if self.templates else "",
        }
        if not os.environ.get("KEYLIGHT_DATABASE_URL", "").strip():
            # The default URL was made from the working directory's instance folder.
            overrides["KEYLIGHT_DATABASE_URL"] = f"sqlite:///{self.instance / 'keylight.sqlite3'}"
        return klcheckout.create_app(overrides, shop=shop)

    # -- running -------------------------------------------------------------------------

    def start(self) -> str:
        """Listen, build, start the backend and the watcher; return the base URL."""
        if not self.journeys.is_dir():
            # Nothing to watch: a folder created later would go unnoticed, so stop now.
            raise ConfigError(
                [
                    Problem(
                        str(self.journeys),
                        "the journeys folder does not exist; create it, or name the folder "
                        "to serve, e.g. `klbuild serve path/to/journeys`",
                    )
                ]
            )
        base = self.server.start()
        self.rebuild()
        folders = [self.journeys, *theme.search_path(self.templates)]
        self._watcher = Watcher(folders, self.rebuild, poll=self.poll)
        self._watcher.start()
        return base

    def serve_forever(self) -> None:
        """Answer requests until ``shutdown`` (or Ctrl-C), then stop everything."""
        try:
            self.server.serve_forever()
        finally:
            self.stop()

    def shutdown(self) -> None:
        """Make ``serve_forever`` return and stop, from any thread."""
        self.server.shutdown()

    def stop(self) -> None:
        if self._delivery is not None:
            self._delivery.stop()
            self._delivery = None
        if self._watcher is not None:
            self._watcher.stop()
            self._watcher = None
        self.server.close()

    def first_step_urls(self, base: str) -> list[tuple[str, str]]:
        return self.server.first_step_urls(base)


def _contents(paths: Iterable[Path]) -> dict[Path, bytes | None] | None:
    """What each file holds now (None: it is gone), by its resolved path; None when
    one cannot be read, which no build can have seen either."""
    found: dict[Path, bytes | None] = {}
    for path in paths:
        try:
            found[path.resolve()] = path.read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            found[path.resolve()] = None
        except OSError:
            return None
    return found


def _touches_shared(changed: Iterable[Path], journeys: Path) -> bool:
    """A template, asset or shared file changed: every open page may look different."""
    shared = {model.SHOP_FILE, model.CATALOG_FILE, model.FORMS_FILE}
    root = journeys.resolve()
    for path in changed:
        resolved = path.resolve()
        if resolved.parent != root or resolved.name in shared:
            return True
    return False


def serve(
    journeys: Path,
    site: Path,
    templates: Path | None,
    *,
    host: str,
    port: int,
    open_browser: bool | None,
    poll: bool,
    studio: bool = True,
    studio_remote: bool = False,
    allow_hosts: Iterable[str] = (),
) -> None:
    """What ``klbuild serve`` runs: start, print the journeys' URLs, serve until Ctrl-C."""
    server = DevServer(
        journeys,
        site,
        templates,
        host=host,
        port=port,
        poll=poll,
        studio=studio,
        studio_remote=studio_remote,
        allow_hosts=allow_hosts,
    )
    base = server.start()
    click.echo(f"Serving {journeys} at {base} (Ctrl-C to stop)")
    urls = server.first_step_urls(base)
    for url, name in urls:
        click.echo(f"  {name}: {url}")
    if studio:
        click.echo(
            f"The studio, to change the journeys in the browser: {base.rstrip('/')}{STUDIO_PREFIX}/"
        )
    if server.problems:
        click.echo("The journeys have errors; open pages show them until the files are fixed.")
    if open_browser is None:
        open_browser = _has_display()
    if open_browser:
        webbrowser.open(base)  # the list of journeys: the shop may have several
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        click.echo("Stopped.")


def _has_display() -> bool:
    if os.name == "nt" or os.uname().sysname == "Darwin":
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
