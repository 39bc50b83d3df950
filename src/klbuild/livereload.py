"""The dev server's web side: built pages that reload themselves, and a backend beside them.

A threaded werkzeug server on one origin. It serves the site folder, adding to
each HTML page a small script that listens for build events on a Server-Sent
Events stream (the built files themselves never contain it); a page request
waits while a build is running (``building``); a failed build is shown over the
open pages by an overlay; the page of a step that was renamed or switched off
while it was open sends to where that step is now. Requests under the backend's
path go to the WSGI app handed to ``mount``. It knows nothing of builds or of
the checkout: ``serve`` wires those to it.
"""

from __future__ import annotations

import mimetypes
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from jinja2 import Environment, FileSystemLoader
from werkzeug.serving import BaseWSGIServer, get_sockaddr, make_server, select_address_family
from werkzeug.utils import safe_join
from werkzeug.wrappers import Response

from kljourney import Problem, Shop
from kljourney.errors import summary

from .events import Events

DEV_PREFIX = "/__klbuild/"
STUDIO_PREFIX = "/__klbuild/studio"
#: Longest a page request waits for a running build before it is served anyway.
BUILD_WAIT = 30.0

_NO_STORE = {"Cache-Control": "no-store"}
_IMMUTABLE = {"Cache-Control": "public, max-age=31536000, immutable"}
#: Where the build publishes the stylesheet, the script and the pictures, by digest.
ASSETS_PREFIX = "/assets/"

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Any]


class LiveServer:
    """Serves ``site`` with live reload on ``host``:``port`` until ``shutdown``."""

    def __init__(self, site: Path, templates: list[Path], *, host: str, port: int) -> None:
        self.site = Path(site)
        self.host = host
        self.port = port
        self.events = Events()
        self.build_number = 0
        #: The problems of the last build, shown over the open pages; empty when it worked.
        self.problems: list[Problem] = []
        #: Page paths of steps renamed or switched off while their pages were open,
        #: to where those steps' pages are now (see ``moved_pages``).
        self.moved: dict[str, str] = {}
        self.shop: Shop | None = None
        self._backend: tuple[str, WSGIApp] | None = None
        self._studio: WSGIApp | None = None
        self._idle = threading.Event()
        self._idle.set()
        self._env = Environment(
            loader=FileSystemLoader([str(folder) for folder in templates]), autoescape=True
        )
        self._server: BaseWSGIServer | None = None

    # -- running -------------------------------------------------------------------------

    def start(self) -> str:
        """Listen (not yet answering: see ``serve_forever``); return the base URL."""
        try:
            _check_port(self.host, self.port)
            self._server = make_server(self.host, self.port, self.wsgi, threaded=True)
        except OSError as exc:
            raise click.ClickException(
                f"cannot listen on {self.host}:{self.port} ({exc.strerror}); "
                "stop the other server or choose another port with --port"
            ) from None
        self.port = self._server.server_port
        return f"http://{self.host}:{self.port}/"

    def serve_forever(self) -> None:
        assert self._server is not None, "start() first"
        # socketserver looks for ``shutdown`` between waits for a connection; its default
        # wait, half a second, was what every stop of the server (a studio test's) took.
        self._server.serve_forever(poll_interval=0.05)

    def shutdown(self) -> None:
        """Make ``serve_forever`` return, from any thread; open event streams end."""
        self.events.close()
        if self._server is not None:
            self._server.shutdown()

    def close(self) -> None:
        """Release the socket (after ``serve_forever`` returned, or if it never ran)."""
        self.events.close()
        if self._server is not None:
            self._server.server_close()

    # -- what the builder tells it --------------------------------------------------------

    @contextmanager
    def building(self) -> Iterator[None]:
        """While the block runs, page requests wait: never a page from the middle of a build."""
        self._idle.clear()
        try:
            yield
        finally:
            self._idle.set()

    def mount(self, path: str, app: WSGIApp) -> None:
        """Send requests under ``path`` (``/api``) to ``app``, as a reverse proxy would."""
        self._backend = (path.rstrip("/"), app)

    def mount_studio(self, app: WSGIApp) -> None:
        """Answer ``STUDIO_PREFIX`` with the studio (``klbuild.studio``)."""
        self._studio = app

    def built(self, shop: Shop, journeys: list[str], everything: bool) -> None:
        """A build worked: the open pages of ``journeys`` (or all of them) reload."""
        if self.shop is not None:
            self.moved = moved_pages(self.shop, shop, self.moved)
        self.shop = shop
        self.problems = []
        self.build_number += 1
        self.events.publish(
            "reload", {"build": self.build_number, "journeys": journeys, "all": everything}
        )

    def unchanged(self, shop: Shop) -> None:
        """A build worked and changed no page: nothing reloads."""
        if self.shop is not None:
            self.moved = moved_pages(self.shop, shop, self.moved)
        self.shop = shop

    def show_problems(self, problems: list[Problem]) -> None:
        """The last good site stays; the open pages show the problems over themselves."""
        self.problems = problems
        self.events.publish("problems", {"summary": summary(problems)})

    def first_step_urls(self, base: str) -> list[tuple[str, str]]:
        """(URL, name) of every order journey's first active step, then the account page,
        where the journeys about a subscription start (they need ``?subscription=<id>``)."""
        if self.shop is None:
            return []
        found = [
            (base + journey.step_path(journey.active_steps[0]), journey.name)
            for journey in self.shop.journeys.values()
            if journey.active_steps and not journey.about_subscription
        ]
        if self.shop.account:
            found.append((base + "account/", "Your account: subscriptions and their journeys"))
        return found

    # -- the WSGI application ----------------------------------------------------------

    def wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path = environ.get("PATH_INFO", "/")
        if self._backend is not None:
            prefix, app = self._backend
            if path == prefix or path.startswith(prefix + "/"):
                return app(environ, start_response)
        if self._studio is not None and (
            path == STUDIO_PREFIX or path.startswith(STUDIO_PREFIX + "/")
        ):
            return self._studio(environ, start_response)
        if path.startswith(DEV_PREFIX):
            response = self._dev_endpoint(path[len(DEV_PREFIX) :])
        else:
            response = self._page(path, environ.get("QUERY_STRING", ""))
        return response(environ, start_response)

    def _dev_endpoint(self, name: str) -> Response:
        if name == "events":
            first = {"build": self.build_number, "problems": bool(self.problems)}
            response = Response(self.events.stream(first), mimetype="text/event-stream")
            response.headers["Cache-Control"] = "no-store"
            response.headers["X-Accel-Buffering"] = "no"
            return response
        if name == "overlay":
            html = self._env.get_template("_dev/overlay.html").render(
                problems=self.problems, summary=summary(self.problems)
            )
            return Response(html, mimetype="text/html", headers=_NO_STORE)
        return Response("Not found", status=404, mimetype="text/plain")

    def _page(self, path: str, query: str = "") -> Response:
        self._idle.wait(BUILD_WAIT)
        target = safe_join(str(self.site), path.lstrip("/"))
        if target is None:
            return self._missing(path, query)
        file = Path(target)
        if file.is_dir():
            if not path.endswith("/"):
                return Response(status=301, headers={"Location": path + "/"})
            file = file / "index.html"
        if not file.is_file() or file.name.startswith("."):
            if path == "/":  # no page of the shop's own at its root: the list of journeys
                return self._journeys(200)
            return self._missing(path, query)
        data = file.read_bytes()
        mimetype = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        if mimetype == "text/html":
            data = self._inject(data)
        # A published asset's name carries its digest (a change is a new name), so the
        # browser may keep it: a page that reloads after a save then waits for nothing
        # but its own HTML (a third of the time from a save to the page shown).
        cached = path.startswith(ASSETS_PREFIX)
        return Response(data, mimetype=mimetype, headers=_IMMUTABLE if cached else _NO_STORE)

    def _inject(self, html: bytes) -> bytes:
        tag = self._env.get_template("_dev/inject.html").render(build=self.build_number)
        head, marker, tail = html.rpartition(b"</body>")
        if not marker:
            return html + tag.encode()
        return head + tag.encode() + marker + tail

    def _missing(self, path: str, query: str = "") -> Response:
        if path in self.moved:  # the open page's step was renamed or switched off
            location = self.moved[path] + (f"?{query}" if query else "")
            return Response(status=307, headers={"Location": location, **_NO_STORE})
        return self._journeys(404, path)

    def _journeys(self, status: int, path: str = "/") -> Response:
        """The journeys' first steps: the dev server's home page, and its answer to a 404."""
        html = self._env.get_template("_dev/missing.html").render(
            path=path,
            journeys=self.first_step_urls("/"),
            build=self.build_number,
            studio=STUDIO_PREFIX + "/" if self._studio is not None else "",
        )
        return Response(html, status=status, mimetype="text/html", headers=_NO_STORE)


def moved_pages(old: Shop, new: Shop, known: dict[str, str]) -> dict[str, str]:
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
        active = {step.id: step for step in journey.active_steps}
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
                moves["/" + before.step_path(step)] = "/" + journey.step_path(active[target])
    merged = {source: moves.get(target, target) for source, target in known.items()}
    merged.update(moves)
    # Keep only moves to pages that exist, from pages that do not (again).
    pages = {"/" + j.step_path(step) for j in new.journeys.values() for step in j.active_steps}
    return {s: t for s, t in merged.items() if t in pages and s not in pages}


def _check_port(host: str, port: int) -> None:
    """Raise OSError when the port is taken: werkzeug would print its own text and exit."""
    if port == 0:
        return
    family = select_address_family(host, port)
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as werkzeug binds
        probe.bind(get_sockaddr(host, port, family))
