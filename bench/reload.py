"""How long a save takes to reach an open page in ``klbuild serve``.

    .venv/bin/python bench/reload.py [--journeys 1000] [--saves 20] [--studio]

Copies the example journeys into a temporary folder, adds N synthetic journeys
(the example under other keys), starts ``klbuild serve`` on a free port as a
subprocess, connects one Server-Sent Events client to ``/__klbuild/events`` and
saves one journey file ``--saves`` times: alternately in place (open, write,
close) and by temp file and rename, as editors do. Each save renames a step, so
every save changes the pages. It prints, per kind of save and overall, the median
and worst time from just before the save to the ``reload`` event reaching the
client. The goal: a median under 100 ms on 2 cores, whatever the number of journeys.

With ``--studio`` each change is made in the studio instead (a form posted to
``/__klbuild/studio/``, as the person's browser sends it): the time then includes
the studio's check of the change by the loader and its write.

Nothing is asserted: the figures are for people comparing changes.
"""

from __future__ import annotations

import argparse
import os
import queue
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EXAMPLE_KEY = "k9uscs7vr7"
EXAMPLE_FILE = "self-service.toml"


def make_journeys(root: Path, count: int) -> Path:
    journeys = root / "journeys"
    shutil.copytree(REPO / "journeys", journeys)
    text = (journeys / EXAMPLE_FILE).read_text(encoding="utf-8")
    for i in range(count):
        key = f"syn{i:05d}x"
        copy = text.replace(f'key = "{EXAMPLE_KEY}"', f'key = "{key}"').replace(
            'name = "Self-Service Shop & Checkout"', f'name = "Synthetic journey {i}"'
        )
        (journeys / f"synthetic-{i:05d}.toml").write_text(copy, encoding="utf-8")
    return journeys


class Client:
    """A bare SSE client on a socket, timestamping each event as it arrives."""

    def __init__(self, host: str, port: int) -> None:
        self.sock = socket.create_connection((host, port))
        self.sock.sendall(
            f"GET /__klbuild/events HTTP/1.1\r\nHost: {host}:{port}\r\n"
            "Accept: text/event-stream\r\n\r\n".encode()
        )
        self.events: queue.Queue[tuple[float, str, str]] = queue.Queue()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        buffer = b""
        while True:
            try:
                chunk = self.sock.recv(65536)
            except OSError:
                return
            now = time.perf_counter()
            if not chunk:
                return
            buffer += chunk
            while b"\n\n" in buffer:
                block, buffer = buffer.split(b"\n\n", 1)
                name = data = ""
                for line in block.decode("utf-8", "replace").splitlines():
                    if line.startswith("event: "):
                        name = line[7:]
                    elif line.startswith("data: "):
                        data = line[6:]
                if name:
                    self.events.put((now, name, data))

    def next(self, timeout: float) -> tuple[float, str, str]:
        return self.events.get(timeout=timeout)

    def close(self) -> None:
        self.sock.close()


class Studio:
    """The studio's form for the example's second step, posted as a browser posts it."""

    def __init__(self, host: str, port: int) -> None:
        self.origin = f"http://{host}:{port}"
        self.step = f"/__klbuild/studio/journeys/{EXAMPLE_FILE}/steps/1/"

    def fingerprint(self) -> str:
        with urllib.request.urlopen(self.origin + self.step) as answer:
            page = answer.read().decode()
        return re.search(r'name="seen" value="([0-9a-f]+)"', page).group(1)

    def rename_cart(self, name: str, seen: str) -> None:
        form = {"seen": seen, "name": name, "type": "order", "active": "true"}
        form["progress_bar"] = "true"
        request = urllib.request.Request(
            self.origin + self.step,
            data=urllib.parse.urlencode(form).encode(),
            headers={"Origin": self.origin},
        )
        opener = urllib.request.build_opener(_NoRedirect)
        try:
            opener.open(request)
        except urllib.error.HTTPError as answer:
            if answer.code != 303:
                sys.exit(f"the studio refused the change ({answer.code}): {answer.read()[:500]}")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def save(path: Path, text: str, atomic: bool) -> None:
    if atomic:
        temp = path.with_name(f".{path.name}.swp-bench.tmp")
        with open(temp, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(temp, path)
    else:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)


def start_server(root: Path, journeys: Path) -> tuple[subprocess.Popen[str], str, float]:
    """``klbuild serve`` of ``journeys`` on a free port, as a subprocess: the process,
    its origin (``http://127.0.0.1:PORT``) and the seconds it took to be ready."""
    started = time.perf_counter()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "klbuild",
            "serve",
            str(journeys),
            "--site",
            str(root / "site"),
            "--port",
            "0",
            "--no-open",
        ],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("KEYLIGHT_")},
    )
    assert server.stdout is not None
    line = server.stdout.readline()
    match = re.search(r"at (http://[\d.]+:\d+)/", line)
    if not match:
        server.terminate()
        sys.exit(f"klbuild serve did not start: {line!r}")
    # Keep reading stdout so the server never blocks on a full pipe.
    threading.Thread(target=server.stdout.read, daemon=True).start()
    return server, match.group(1), time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--journeys", type=int, default=1000, help="synthetic journeys (1000)")
    parser.add_argument("--saves", type=int, default=20, help="saves to time (20)")
    parser.add_argument(
        "--studio", action="store_true", help="make each change in the studio, not in the file"
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="klbuild-reload-") as tmp:
        root = Path(tmp)
        journeys = make_journeys(root, args.journeys)
        server, origin, ready = start_server(root, journeys)
        try:
            host, port = origin.removeprefix("http://").rsplit(":", 1)
            client = Client(host, int(port))
            _, name, _ = client.next(timeout=30)
            assert name == "hello", name
            time.sleep(0.5)  # let the watcher settle after the first build

            path = journeys / EXAMPLE_FILE
            original = path.read_text(encoding="utf-8")
            times: dict[str, list[float]] = {"in place": [], "temp file + rename": []}
            if args.studio:
                times = {"studio": []}
                studio = Studio(host, int(port))
            for i in range(args.saves):
                atomic = i % 2 == 1
                text = original.replace('name = "Cart"', f'name = "Cart {i}"', 1)
                if args.studio:
                    seen = studio.fingerprint()
                    before = time.perf_counter()
                    studio.rename_cart(f"Cart {i}", seen)
                else:
                    before = time.perf_counter()
                    save(path, text, atomic)
                while True:
                    arrived, name, data = client.next(timeout=30)
                    if name == "reload":
                        break
                    if name == "problems":
                        sys.exit(f"the save made the journeys invalid: {data}")
                kind = "studio" if args.studio else "temp file + rename" if atomic else "in place"
                times[kind].append((arrived - before) * 1000)
                time.sleep(0.2)  # a person does not save faster; keep saves apart
                # Nothing else must arrive for this save (one rebuild per save).
                try:
                    extra = client.next(timeout=0.01)
                    print(f"  note: save {i + 1} sent a second event: {extra[1]}")
                except queue.Empty:
                    pass
            path.write_text(original, encoding="utf-8")
            client.close()
        finally:
            server.terminate()
            server.wait(10)

    print(
        f"klbuild serve: example + {args.journeys} journeys, {os.cpu_count()} CPUs, "
        f"ready in {ready:.1f} s"
    )
    every = [t for kind in times.values() for t in kind]
    for label, values in [*times.items(), ("all saves", every)]:
        if values:
            print(
                f"  {label:<20} {len(values):>3} saves: median {statistics.median(values):6.1f} ms,"
                f" worst {max(values):6.1f} ms"
            )
    verdict = "meets" if statistics.median(every) < 100 else "MISSES"
    print(f"Goal: median under 100 ms -> {verdict} it.")


if __name__ == "__main__":
    main()
