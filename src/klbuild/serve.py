"""``klbuild serve``: the built pages, the checkout backend and live reload on one origin.

One process and one command: a builder (run by the watcher's thread after every
save), the klcheckout app mounted under the site's ``api_url``, and a threaded
werkzeug server. Pages it serves get a small script that listens for build
events; the built files themselves never contain it.
"""

from __future__ import annotations

import mimetypes
import os
import socket
import threading
import webbrowser
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click
from jinja2 import Environment, FileSystemLoader
from werkzeug.serving import BaseWSGIServer, get_sockaddr, make_server, select_address_family
from werkzeug.utils import safe_join
from werkzeug.wrappers import Response

import kljourney
from klcheckout import SettingsError
from kljourney import model
from kljourney.errors import ConfigError, Problem, summary

from . import assets
from .build import Builder, BuildError
from .events import Events
from .watch import Watcher

DEV_PREFIX = "/__klbuild/"
#: Longest a page request waits for a running build before it is served anyway.
BUILD_WAIT = 30.0


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
    ) -> None:
        self.journeys = Path(journeys)
        self.site = Path(site)
        self.templates = Path(templates) if templates is not None else None
        self.host = host
        self.port = port
        self.poll = poll
        self.instance = Path(instance) if instance else self.journeys.resolve().parent / "instance"
        self.builder = Builder(self.journeys, self.site, self.templates, preview=True)
        self.events = Events()
        self.build_number = 0
        self.problems: list[Problem] = []
        self.shop: kljourney.Shop | None = None
        #: Page paths of steps renamed or switched off while their pages were open,
        #: to where those steps' pages are now (see ``moved_pages``).
        self.moved: dict[str, str] = {}
        self.backend: Any = None
        self._idle = threading.Event()
        self._idle.set()
        self._build_lock = threading.Lock()
        self._dev_env = Environment(
            loader=FileSystemLoader([str(p) for p in assets.search_path(self.templates)]),
            autoescape=True,
        )
        self._server: BaseWSGIServer | None = None
        self._watcher: Watcher | None = None
        self._delivery: Any = None

    # -- building ----------------------------------------------------------------------

    def rebuild(self, changed: Iterable[Path] = ()) -> None:
        """Build, swap the backend's model, and tell the open pages.

        A mistake in the files keeps the server and the last good site running;
        the pages show the mistakes over themselves until the files are fixed.
        """
        with self._build_lock:
            self._idle.clear()
            try:
                # The watcher names what changed, so the loader need not stat the rest;
                # with no names (the first build, a manual call) it checks every file.
                report = self.builder.build(changed=set(changed) or None)
            except ConfigError as exc:
                self.show_problems(exc.problems)
                return
            except (BuildError, OSError) as exc:  # a full disk, a read-only site folder...
                self.show_problems([Problem(str(self.site), f"cannot write the site: {exc}")])
                return
            finally:
                self._idle.set()
            had_problems = bool(self.problems)
            try:
                self.serve_shop(report.shop)
            except SettingsError as exc:  # e.g. a Python hook no installed package provides
                self.show_problems([Problem(str(self.journeys), str(exc))])
                return
            self.problems = []
            if self.shop is not None:
                self.moved = moved_pages(self.shop, report.shop, self.moved)
            self.shop = report.shop
            for warning in report.warnings:
                click.echo(str(warning), err=True)
            if report.changed or had_problems:
                self.build_number += 1
                everything = (
                    had_problems
                    or not report.journeys_rendered
                    or _touches_shared(changed, self.journeys)
                )
                self.events.publish(
                    "reload",
                    {
                        "build": self.build_number,
                        "journeys": report.changed_journeys,
                        "all": everything,
                    },
                )

    def serve_shop(self, shop: kljourney.Shop) -> None:
        """Hand the new model to the backend (starting it the first time)."""
        if self.backend is None:
            self.shop = shop
            self.backend = self._make_backend()
            # Hook events (webhooks, emails) are delivered by a thread of this process.
            from klcheckout import EventWorker

            self._delivery = EventWorker(self.backend).start()
        else:
            from klcheckout import use_shop

            use_shop(self.backend, shop)

    def show_problems(self, problems: list[Problem]) -> None:
        """Keep the last good site and backend running; the open pages show the problems."""
        self.problems = problems
        self.events.publish("problems", {"summary": summary(problems)})
        click.echo(ConfigError(problems).format_message(), err=True)

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
        try:
            _check_port(self.host, self.port)
            self._server = make_server(self.host, self.port, self.wsgi, threaded=True)
        except OSError as exc:
            raise click.ClickException(
                f"cannot listen on {self.host}:{self.port} ({exc.strerror}); "
                "stop the other server or choose another port with --port"
            ) from None
        self.port = self._server.server_port
        self.rebuild()
        folders = [self.journeys, *assets.search_path(self.templates)]
        self._watcher = Watcher(folders, self.rebuild, poll=self.poll)
        self._watcher.start()
        return f"http://{self.host}:{self.port}/"

    def serve_forever(self) -> None:
        assert self._server is not None
        try:
            self._server.serve_forever()
        finally:
            self.stop()

    def stop(self) -> None:
        self.events.close()
        if self._delivery is not None:
            self._delivery.stop()
            self._delivery = None
        if self._watcher is not None:
            self._watcher.stop()
            self._watcher = None
        if self._server is not None:
            self._server.server_close()

    def first_step_urls(self, base: str) -> list[tuple[str, str]]:
        """(URL, journey name) of every journey's first active step."""
        if self.shop is None:
            return []
        urls = []
        for key, journey in self.shop.journeys.items():
            if journey.active_steps:
                urls.append((f"{base}{key}/{journey.active_steps[0].id}/", journey.name))
        return urls

    def _make_backend(self) -> Any:
        from klcheckout import create_app

        overrides = {
            "KEYLIGHT_JOURNEYS": str(self.journeys),
            "KEYLIGHT_INSTANCE": str(self.instance),
        }
        if not os.environ.get("KEYLIGHT_DATABASE_URL", "").strip():
            # The default URL was made from the working directory's instance folder.
            overrides["KEYLIGHT_DATABASE_URL"] = f"sqlite:///{self.instance / 'keylight.sqlite3'}"
        return create_app(overrides, shop=self.shop)

    # -- the WSGI application ----------------------------------------------------------

    def wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path = environ.get("PATH_INFO", "/")
        api = self._api_path()
        if self.backend is not None and (path == api or path.startswith(api + "/")):
            environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + api
            environ["PATH_INFO"] = path[len(api) :]
            return self.backend.wsgi_app(environ, start_response)
        if path.startswith(DEV_PREFIX):
            response = self._dev_endpoint(path[len(DEV_PREFIX) :])
        else:
            response = self._page(path, environ.get("QUERY_STRING", ""))
        return response(environ, start_response)

    def _api_path(self) -> str:
        api_url = self.shop.site.api_url if self.shop else "/api"
        return urlsplit(api_url).path.rstrip("/") or "/api"

    def _dev_endpoint(self, name: str) -> Response:
        if name == "events":
            first = {"build": self.build_number, "problems": bool(self.problems)}
            response = Response(self.events.stream(first), mimetype="text/event-stream")
            response.headers["Cache-Control"] = "no-store"
            response.headers["X-Accel-Buffering"] = "no"
            return response
        if name == "livereload.js":
            script = self._dev_env.get_template("_dev/livereload.js").render()
            return Response(script, mimetype="text/javascript", headers=_NO_STORE)
        if name == "overlay":
            html = self._dev_env.get_template("_dev/overlay.html").render(
                problems=self.problems, summary=summary(self.problems)
            )
            return Response(html, mimetype="text/html", headers=_NO_STORE)
        return Response("Not found", status=404, mimetype="text/plain")

    def _page(self, path: str, query: str = "") -> Response:
        self._idle.wait(BUILD_WAIT)  # never serve a page from the middle of a build
        target = safe_join(str(self.site), path.lstrip("/"))
        if target is None:
            return self._missing(path, query)
        file = Path(target)
        if file.is_dir():
            if not path.endswith("/"):
                return Response(status=301, headers={"Location": path + "/"})
            file = file / "index.html"
        if not file.is_file() or file.name.startswith("."):
            return self._missing(path, query)
        data = file.read_bytes()
        mimetype = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        if mimetype == "text/html":
            data = self._inject(data)
        return Response(data, mimetype=mimetype, headers=_NO_STORE)

    def _inject(self, html: bytes) -> bytes:
        tag = self._dev_env.get_template("_dev/inject.html").render(build=self.build_number)
        head, marker, tail = html.rpartition(b"</body>")
        if not marker:
            return html + tag.encode()
        return head + tag.encode() + marker + tail

    def _missing(self, path: str, query: str = "") -> Response:
        if path in self.moved:  # the open page's step was renamed or switched off
            location = self.moved[path] + (f"?{query}" if query else "")
            return Response(status=307, headers={"Location": location, **_NO_STORE})
        html = self._dev_env.get_template("_dev/missing.html").render(
            path=path, journeys=self.first_step_urls("/"), build=self.build_number
        )
        return Response(html, status=404, mimetype="text/html", headers=_NO_STORE)


_NO_STORE = {"Cache-Control": "no-store"}


def moved_pages(old: kljourney.Shop, new: kljourney.Shop, known: dict[str, str]) -> dict[str, str]:
    """Where the pages of steps that lost theirs in this build went, added to ``known``.

    An open page reloads after a save; if its step was renamed, it should land on
    the step's new page, not on a 404. A renamed step keeps its place in the
    journey; a step switched off (or renamed and switched off) sends to the next
    active step after that place, or the last one before it.
    """
    moves: dict[str, str] = {}
    for key, journey in new.journeys.items():
        before = old.journeys.get(key)
        if before is None:
            continue
        now = [step.id for step in journey.steps]
        then = [step.id for step in before.steps]
        active = {step.id for step in journey.active_steps}
        for step in before.active_steps:
            if step.id in active:
                continue  # its page is still there
            if step.id in now:  # switched off
                place = now.index(step.id)
            else:
                place = then.index(step.id)
                if place >= len(now) or now[place] in then:
                    continue  # deleted, not renamed: nothing stands in its place
            after = [i for i in now[place:] if i in active]
            earlier = [i for i in now[:place] if i in active]
            target = after[0] if after else earlier[-1] if earlier else None
            if target is not None:
                moves[f"/{key}/{step.id}/"] = f"/{key}/{target}/"
    merged = {source: moves.get(target, target) for source, target in known.items()}
    merged.update(moves)
    # Keep only moves to pages that exist, from pages that do not (again).
    pages = {f"/{key}/{i.id}/" for key, j in new.journeys.items() for i in j.active_steps}
    return {s: t for s, t in merged.items() if t in pages and s not in pages}


def _check_port(host: str, port: int) -> None:
    """Raise OSError when the port is taken: werkzeug would print its own text and exit."""
    if port == 0:
        return
    family = select_address_family(host, port)
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as werkzeug binds
        probe.bind(get_sockaddr(host, port, family))


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
) -> None:
    """What ``klbuild serve`` runs: start, print the journeys' URLs, serve until Ctrl-C."""
    server = DevServer(journeys, site, templates, host=host, port=port, poll=poll)
    base = server.start()
    click.echo(f"Serving {journeys} at {base} (Ctrl-C to stop)")
    urls = server.first_step_urls(base)
    for url, name in urls:
        click.echo(f"  {name}: {url}")
    if server.problems:
        click.echo("The journeys have errors; open pages show them until the files are fixed.")
    if open_browser is None:
        open_browser = _has_display()
    if open_browser and urls:
        webbrowser.open(urls[0][0])
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        click.echo("Stopped.")


def _has_display() -> bool:
    if os.name == "nt" or os.uname().sysname == "Darwin":
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
