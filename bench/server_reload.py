"""What a graceful reload (``kill -HUP``) costs the customers of each WSGI server.

    .venv/bin/python bench/server_reload.py [--reloads 20] [--server granian]

Each server of ``bench/checkout.py`` (the production recipe's options: 2 workers, 2
threads) serves the benchmark shop on SQLite while customers keep arriving: two
threads post add-to-cart forms over kept-alive connections, as nginx forwards them
(``keepalive`` in deploy/nginx), and two open a new connection for each state
request, as new visitors do. The server is sent ``HUP`` ``--reloads`` times, one
every ``--every`` seconds (each once the previous reload has replaced every worker),
so that each server meets the same traffic whatever its reload takes. It prints, per server, how
long a reload took and every request that got no answer from the app (a closed
connection, a refusal): behind nginx each is a 502 for a customer, and nginx does
not send a form again to the other backend.

Nothing is asserted: the figures are for choosing the production recipe's server.
"""

from __future__ import annotations

import argparse
import http.client
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).parent))
import checkout as bench  # noqa: E402  (the shop, the servers and how they are started)

KEEP_ALIVE_CUSTOMERS = 2
NEW_VISITORS = 2


class Traffic:
    """Customers sending requests until ``stop``; what went wrong, by kind and moment."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.stopping = threading.Event()
        self.answered = 0
        self.failures: list[tuple[float, str]] = []
        self.lock = threading.Lock()
        self.threads = [
            *(threading.Thread(target=self._keep_alive_posts) for _ in range(KEEP_ALIVE_CUSTOMERS)),
            *(threading.Thread(target=self._new_visitors) for _ in range(NEW_VISITORS)),
        ]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def stop(self) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join()

    def _note(self, failure: str | None) -> None:
        with self.lock:
            if failure is None:
                self.answered += 1
            else:
                self.failures.append((time.monotonic(), failure))

    def _keep_alive_posts(self) -> None:
        cookie, token = bench.first_visit(self.port, f"/api/{bench.KEY}/state", "keylight")
        origin = f"http://{bench.HOST}:{self.port}"
        headers = {
            "Cookie": cookie,
            "Origin": origin,
            "Content-Type": "application/x-www-form-urlencoded",
        }
        body = urlencode({"product": "starter", "quantity": "1", "csrf_token": token})
        connection = http.client.HTTPConnection(bench.HOST, self.port, timeout=10)
        while not self.stopping.is_set():
            try:
                connection.request("POST", f"/api/{bench.KEY}/cart/add", body, headers)
                answer = connection.getresponse()
                answer.read()
                self._note(None if answer.status == 303 else f"POST kept alive: {answer.status}")
                if answer.getheader("Connection", "").lower() == "close":
                    connection.close()  # the server said so: a new one, as nginx opens
            except (OSError, http.client.HTTPException) as error:
                self._note(f"POST kept alive: {type(error).__name__}")
                connection.close()

    def _new_visitors(self) -> None:
        while not self.stopping.is_set():
            connection = http.client.HTTPConnection(bench.HOST, self.port, timeout=10)
            try:
                connection.request(
                    "GET", f"/api/{bench.KEY}/state", headers={"Connection": "close"}
                )
                answer = connection.getresponse()
                answer.read()
                self._note(None if answer.status == 200 else f"GET new connection: {answer.status}")
            except (OSError, http.client.HTTPException) as error:
                self._note(f"GET new connection: {type(error).__name__}")
            finally:
                connection.close()


def workers(pid: int) -> set[int]:
    """The worker processes of a server's main process (Linux /proc)."""
    return {int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()}


def reload_once(process: bench.subprocess.Popen, count: int, timeout: float = 90) -> float:
    """HUP the server and wait until none of its old workers is left; the seconds it took."""
    old = workers(process.pid)
    started = time.monotonic()
    process.send_signal(signal.SIGHUP)
    while time.monotonic() - started < timeout:
        now = workers(process.pid)
        if len(now) >= count and not now & old:
            return time.monotonic() - started
        time.sleep(0.02)
    raise SystemExit(f"the old workers were still there {timeout:.0f} s after HUP")


def measure(server: str, reloads: int, every: float, tmp: Path) -> dict:
    env = bench.backend_env(tmp, f"sqlite:///{tmp / f'{server}.sqlite3'}")
    port = bench.free_port()
    process = bench.start_server(server, "klcheckout.wsgi:application", env, port)
    count = len(workers(process.pid))
    traffic = Traffic(port)
    durations, hups = [], []
    try:
        traffic.start()
        time.sleep(1)
        for _ in range(reloads):
            hups.append(time.monotonic())
            durations.append(reload_once(process, count))
            time.sleep(max(every - (time.monotonic() - hups[-1]), 0.5))
    finally:
        traffic.stop()
        bench.stop(process)
    late = [
        moment - max(hup for hup in hups if hup <= moment)
        for moment, _ in traffic.failures
        if moment >= hups[0]
    ]
    return {
        "durations": durations,
        "answered": traffic.answered,
        "failures": Counter(kind for _, kind in traffic.failures),
        "after_hup": late,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reloads", type=int, default=20)
    parser.add_argument("--every", type=float, default=9.0, help="seconds from one HUP to the next")
    parser.add_argument(
        "--server",
        choices=sorted(bench.SERVERS),
        action="append",
        help="a server to measure (repeatable; default: granian and gunicorn-gthread, the"
        " production recipe's candidates)",
    )
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="klreload-"))
    try:
        shutil.copytree(bench.REPO / "journeys", tmp / "journeys")
        (tmp / "journeys" / "bench.toml").write_text(bench.JOURNEY)
        servers = args.server or ["granian", "gunicorn-gthread"]
        results = {server: measure(server, args.reloads, args.every, tmp) for server in servers}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(
        f"{args.reloads} reloads under traffic ({KEEP_ALIVE_CUSTOMERS} customers posting over"
        f" kept-alive connections, {NEW_VISITORS} arriving on new ones), one every"
        f" {args.every:.0f} s, 2 workers x {bench.THREADS} threads"
    )
    for server, result in results.items():
        failed = sum(result["failures"].values())
        when = sorted(f"{seconds:.1f}" for seconds in result["after_hup"])
        print(
            f"{server:17} reload median {statistics.median(result['durations']):5.1f} s"
            f"  answered {result['answered']}  not answered {failed}"
            + (
                f" {dict(result['failures'])}; seconds after HUP: {', '.join(when)}"
                if failed
                else ""
            )
        )


if __name__ == "__main__":
    main()
