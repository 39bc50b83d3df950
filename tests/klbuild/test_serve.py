"""``klbuild serve`` over HTTP, without a browser: pages, live-reload events, overlay, backend."""

from __future__ import annotations

import json
import queue
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

import kljourney
from klbuild.serve import DevServer

#: tests/klbuild/conftest.py's Workspace (not imported: tests/browser has a conftest too).
Workspace = Any

INJECTED = '<script data-build="'


class Running:
    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self.dev = DevServer(ws.journeys, ws.site, instance=ws.root / "instance", port=0)
        self.base = self.dev.start()
        self.thread = threading.Thread(target=self.dev.serve_forever, daemon=True)
        self.thread.start()
        self.streams: list[Events] = []

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        with requests.get(self.base + path.lstrip("/"), timeout=10, **kwargs) as response:
            response.content  # noqa: B018 - read it before the connection closes
            return response

    def events(self) -> Events:
        stream = Events(self.base + "__klbuild/events")
        self.streams.append(stream)
        return stream

    def stop(self) -> None:
        self.dev.shutdown()  # serve_forever returns and stops the rest
        self.thread.join(10)
        for stream in self.streams:
            stream.close()


class Events:
    """A Server-Sent Events client reading on its own thread."""

    def __init__(self, url: str) -> None:
        self.response = requests.get(url, stream=True, timeout=10)
        assert self.response.headers["Content-Type"].startswith("text/event-stream")
        self.queue: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        name = None
        try:
            for line in self.response.iter_lines(decode_unicode=True):
                if line.startswith("event: "):
                    name = line[len("event: ") :]
                elif line.startswith("data: ") and name:
                    self.queue.put((name, json.loads(line[len("data: ") :])))
                    name = None
        except (requests.RequestException, AttributeError, ValueError):
            pass  # the stream ended when the server stopped

    def next(self, timeout: float = 5.0) -> tuple[str, dict[str, Any]]:
        return self.queue.get(timeout=timeout)

    def close(self) -> None:
        self.thread.join(10)
        self.response.close()


@pytest.fixture
def running(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> Iterator[Running]:
    elsewhere = ws.root / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the instance folder is next to the journeys, not here
    monkeypatch.delenv("KEYLIGHT_DATABASE_URL", raising=False)
    server = Running(ws)
    try:
        yield server
    finally:
        server.stop()


def test_pages_get_the_livereload_script_but_built_files_do_not(
    ws: Workspace, running: Running
) -> None:
    response = running.get(f"/{ws.key}/cart/")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    assert response.headers["Cache-Control"] == "no-store"
    html = response.text
    assert html.count(INJECTED) == 1
    assert html.index(INJECTED) < html.index("</body>")
    script = html[html.index(INJECTED) : html.index("</script>", html.index(INJECTED))]
    assert 'new EventSource("/__klbuild/events")' in script
    for page in ws.pages().values():
        assert "__klbuild" not in page and "data-build" not in page


def test_assets_are_served_as_they_are(ws: Workspace, running: Running) -> None:
    css = next((ws.site / "assets").glob("app.*.css"))
    response = running.get(f"/assets/{css.name}")
    assert response.status_code == 200
    assert response.content == css.read_bytes()
    assert response.headers["Content-Type"].startswith("text/css")
    # Named by their digest: a reloading page takes them from the browser's cache.
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"


def test_a_folder_without_slash_redirects(ws: Workspace, running: Running) -> None:
    response = running.get(f"/{ws.key}/cart", allow_redirects=False)
    assert response.status_code == 301
    assert response.headers["Location"].endswith(f"/{ws.key}/cart/")


@pytest.mark.parametrize("path", ["/nowhere/", "/.klbuild.json", "/../journeys/keylight.toml"])
def test_missing_page_lists_the_journeys(ws: Workspace, running: Running, path: str) -> None:
    response = running.get(path)
    assert response.status_code == 404
    assert "Acme" not in response.text or "<html" in response.text
    assert f'href="/{ws.key}/product-selection/"' in response.text
    assert "Self-Service Shop &amp; Checkout" in response.text
    assert INJECTED in response.text  # it reloads when the page appears
    assert "[site]" not in response.text


def test_the_root_lists_the_journeys(ws: Workspace, running: Running) -> None:
    """``--open`` opens it: a shop with several journeys is not one journey's."""
    response = running.get("/")
    assert response.status_code == 200
    assert f'href="/{ws.key}/product-selection/"' in response.text
    assert "The journeys of this shop" in response.text
    assert INJECTED in response.text


def test_pages_ask_for_no_favicon_that_is_not_there(ws: Workspace, running: Running) -> None:
    page = running.get(f"/{ws.key}/cart/")
    assert '<link rel="icon" href="data:,">' in page.text


def test_backend_is_mounted_under_the_api_url(ws: Workspace, running: Running) -> None:
    health = running.get("/api/healthz")
    assert health.status_code == 200
    assert health.json() == {"status": "ok"}
    state = running.get(f"/api/{ws.key}/state?step=cart")
    assert state.status_code == 200
    assert state.json()["journey"]["key"] == ws.key
    assert (ws.root / "instance" / "keylight.sqlite3").is_file()
    assert not (ws.root / "elsewhere" / "instance").exists()
    with requests.Session() as session:
        token = session.get(running.base + f"api/{ws.key}/state", timeout=10).json()["csrf_token"]
        added = session.post(
            running.base + f"api/{ws.key}/cart/add",
            data={"product": "starter", "step": "product-selection", "csrf_token": token},
            headers={"Origin": running.base.rstrip("/")},
            allow_redirects=False,
            timeout=10,
        )
        assert added.status_code == 303
        assert added.headers["Location"].endswith(f"/{ws.key}/product-selection/")
        lines = session.get(running.base + f"api/{ws.key}/state", timeout=10).json()["cart"][
            "lines"
        ]
        assert [line["product"] for line in lines] == ["starter"]


def test_events_hello_then_reload_of_the_saved_journey(ws: Workspace, running: Running) -> None:
    stream = running.events()
    assert stream.next() == ("hello", {"build": 1, "problems": False})
    ws.edit(ws.journey_file, 'name = "Cart"', 'name = "Basket"')
    name, data = stream.next()
    assert name == "reload"
    assert data == {"build": 2, "journeys": [ws.key], "all": False}
    assert running.get(f"/{ws.key}/basket/").status_code == 200
    # A page that connects later learns the build it missed from its hello.
    late = running.events()
    assert late.next() == ("hello", {"build": 2, "problems": False})


def test_saving_a_shared_file_reloads_every_page(ws: Workspace, running: Running) -> None:
    stream = running.events()
    stream.next()
    ws.edit("catalog.toml", 'price = "9.90"', 'price = "11.90"')
    name, data = stream.next()
    assert name == "reload"
    assert data["all"] is True


def test_a_save_built_already_is_not_built_again(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The watcher reports the files the studio writes, after the studio has had them
    built: the same bytes again start no build, which would change no page and only
    hold back the preview's reload. Other bytes, or a file gone, do."""
    dev = DevServer(ws.journeys, ws.site, instance=ws.root / "instance", port=0)
    builds: list[Any] = []
    build = dev.builder.build

    def counted(changed: Any = None) -> Any:
        builds.append(changed)
        return build(changed=changed)

    monkeypatch.setattr(dev.builder, "build", counted)
    journey = ws.journeys / ws.journey_file
    try:
        dev.rebuild()
        ws.edit(ws.journey_file, 'name = "Cart"', 'name = "Basket"')
        dev.rebuild({journey})  # the studio's build, at once
        dev.rebuild({journey})  # the watcher's report of the same save
        monkeypatch.chdir(ws.journeys)
        dev.rebuild({Path(ws.journey_file)})  # the same file, named from elsewhere
        assert len(builds) == 2
        assert (ws.site / ws.key / "basket" / "index.html").is_file()
        ws.edit(ws.journey_file, 'name = "Basket"', 'name = "Trolley"')
        dev.rebuild({journey})
        assert len(builds) == 3 and (ws.site / ws.key / "trolley" / "index.html").is_file()
        extra = ws.journeys / "extra.toml"
        extra.write_text(journey.read_text().replace(f'key = "{ws.key}"', 'key = "extra"'))
        dev.rebuild({extra})
        extra.unlink()
        dev.rebuild({extra})
        dev.rebuild({extra})
        assert len(builds) == 5 and not (ws.site / "extra").exists()
        # A build that failed: the same bytes as before it, which may be the fix, build.
        good = journey.read_text()
        journey.write_text(good.replace('type = "order"', 'type = "basket"'))
        dev.rebuild({journey})
        assert dev.problems
        journey.write_text(good)
        dev.rebuild({journey})
        assert len(builds) == 7 and not dev.problems
    finally:
        dev.stop()


def check_messages(ws: Workspace) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-m", "klbuild", "check", str(ws.journeys)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    return result.stderr.strip().splitlines()


def overlay_items(html: str) -> list[str]:
    import html as html_module

    return [
        html_module.unescape(item)
        for item in re.findall(r"<li class=\"\w+\">(.*?)</li>", html, re.S)
    ]


def test_problems_event_and_overlay_match_klbuild_check(ws: Workspace, running: Running) -> None:
    stream = running.events()
    stream.next()
    ws.edit(ws.journey_file, 'form = "billing"', 'form = "bliling"')
    name, data = stream.next()
    assert name == "problems"
    expected = check_messages(ws)
    assert data == {"summary": "1 error"}
    assert expected[-1].startswith("1 error")
    overlay = running.get("/__klbuild/overlay")
    assert overlay.status_code == 200
    assert overlay_items(overlay.text) == expected[:-1]
    assert "The journeys could not be built: 1 error" in overlay.text
    # Pages keep the last good build; a page that connects now learns of the problems.
    assert running.get(f"/{ws.key}/cart/").status_code == 200
    assert running.events().next() == ("hello", {"build": 1, "problems": True})
    ws.edit(ws.journey_file, 'form = "bliling"', 'form = "billing"')
    name, data = stream.next()
    assert name == "reload"
    assert data["all"] is True
    assert overlay_items(running.get("/__klbuild/overlay").text) == []


def test_a_python_hook_nobody_provides_shows_in_the_overlay(
    ws: Workspace, running: Running
) -> None:
    """The backend refuses such a journey at start; the dev server keeps serving and says why."""
    stream = running.events()
    stream.next()
    path = ws.journeys / ws.journey_file
    hook = '\n[[hooks]]\ntype = "python"\nevent = "order_placed"\nfunction = "nobody_has_this"\n'
    path.write_text(path.read_text() + hook)
    name, data = stream.next()
    assert (name, data) == ("problems", {"summary": "1 error"})
    [message] = overlay_items(running.get("/__klbuild/overlay").text)
    assert "a python hook cannot run: no function 'nobody_has_this'" in message
    assert running.get("/api/healthz").status_code == 200  # the last good model still serves
    path.write_text(path.read_text().replace(hook, ""))
    name, data = stream.next()
    assert name == "reload"
    assert overlay_items(running.get("/__klbuild/overlay").text) == []


def test_a_missing_journeys_folder_stops_the_server(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "klbuild", "serve", str(tmp_path / "nowhere"), "--no-open"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "the journeys folder does not exist" in result.stderr
    assert "Traceback" not in result.stderr


def serve_command(ws: Workspace, port: int) -> list[str]:
    """``klbuild serve`` of the workspace, as a user runs it (port 0: any free one)."""
    where = [str(ws.journeys), "--site", str(ws.site), "--port", str(port), "--no-open"]
    return [sys.executable, "-m", "klbuild", "serve", *where]


def test_port_in_use_is_reported_without_a_traceback(ws: Workspace) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            serve_command(ws, port),
            capture_output=True,
            text=True,
            timeout=60,
            cwd=ws.root,
        )
    assert result.returncode != 0
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "--port" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_prints_the_base_and_journey_urls(ws: Workspace) -> None:
    process = subprocess.Popen(
        serve_command(ws, 0),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=ws.root,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        match = re.match(r"Serving .* at (http://127\.0\.0\.1:(\d+)/) ", first)
        assert match and int(match.group(2)) > 0, first
        second = process.stdout.readline()
        assert second.strip() == (
            f"Self-Service Shop & Checkout: {match.group(1)}{ws.key}/product-selection/"
        )
        assert requests.get(match.group(1) + "api/healthz", timeout=10).status_code == 200
    finally:
        process.terminate()
        process.wait(10)
        if process.stdout:
            process.stdout.close()
    assert Path(ws.root / "instance").is_dir()


def test_an_open_page_whose_step_was_renamed_or_switched_off_finds_its_step(
    ws: Workspace, running: Running
) -> None:
    """The page reloads after a save: to the step's new page, not to a 404."""
    stream = running.events()
    stream.next()
    ws.edit(ws.journey_file, 'name = "Cart"', 'name = "Basket"')
    assert stream.next()[0] == "reload"
    moved = running.get(f"/{ws.key}/cart/?entry=x", allow_redirects=False)
    assert moved.status_code == 307
    assert moved.headers["Location"] == f"/{ws.key}/basket/?entry=x"
    assert running.get(f"/{ws.key}/cart/").url.endswith(f"/{ws.key}/basket/")

    # Renamed again, then switched off: both old pages go to the next active step.
    ws.edit(ws.journey_file, 'name = "Basket"', 'name = "Bag"')
    assert stream.next()[0] == "reload"
    ws.edit(
        ws.journey_file,
        'name = "Bag"\ntype = "order"\nprogress_bar = true\nactive = true',
        'name = "Bag"\ntype = "order"\nprogress_bar = true\nactive = false',
    )
    assert stream.next()[0] == "reload"
    for old in ("cart", "basket", "bag"):
        response = running.get(f"/{ws.key}/{old}/", allow_redirects=False)
        assert response.headers["Location"] == f"/{ws.key}/login-or-create-an-account/"
    # A page that never existed is still a plain 404.
    assert running.get(f"/{ws.key}/nowhere/").status_code == 404


def test_open_shows_the_list_of_journeys(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    """A shop may have several journeys: --open opens the list, not one of them."""
    from klbuild import serve as serving

    opened: list[str] = []
    monkeypatch.setattr(serving.webbrowser, "open", opened.append)
    monkeypatch.setattr(serving.DevServer, "serve_forever", serving.DevServer.stop)
    serving.serve(
        ws.journeys, ws.site, None, host="127.0.0.1", port=0, open_browser=True, poll=False
    )
    assert len(opened) == 1 and re.fullmatch(r"http://127\.0\.0\.1:\d+/", opened[0])


def test_the_root_leads_to_the_account_page_for_subscription_journeys(tmp_path: Path) -> None:
    """A subscription journey's page needs a subscription: it starts on the account page."""
    from example import EXAMPLE

    from klbuild.livereload import LiveServer

    shop = kljourney.load(EXAMPLE)
    server = LiveServer(tmp_path / "site", [], host="127.0.0.1", port=0)
    try:
        server.shop = shop
        urls = server.first_step_urls("/")
    finally:
        server.close()
    assert urls[-1] == ("/account/", "Your account: subscriptions and their journeys")
    assert not any(url.startswith(("/change-plan/", "/cancel/")) for url, _ in urls)
    assert ("/k9uscs7vr7/product-selection/", "Self-Service Shop & Checkout") in urls
