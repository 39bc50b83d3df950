"""A new build reaches a running backend: gunicorn's HUP, as docs/checkout-config.md says.

gunicorn starts workers that load the journeys again, then lets the old ones
finish what they are answering: no request is dropped, and a cart made against
the old build is priced from the new catalog.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests
from checkout_helpers import EXAMPLE, SECRETS, Shopper

GUNICORN = Path(sys.executable).parent / "gunicorn"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_healthy(url: str, process: subprocess.Popen[bytes], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, "gunicorn exited"
        try:
            if requests.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.1)
    raise AssertionError("gunicorn did not answer in time")


def test_hup_serves_a_new_build_without_dropping_a_request(
    tmp_path: Path, journeys_dir: Path
) -> None:
    journeys = tmp_path / "journeys"
    shutil.copytree(journeys_dir, journeys)
    port = _free_port()
    env = {
        **os.environ,
        "KEYLIGHT_JOURNEYS": str(journeys),
        "KEYLIGHT_INSTANCE": str(tmp_path / "instance"),
        "KEYLIGHT_DATABASE_URL": f"sqlite:///{tmp_path / 'k.sqlite3'}",
        "KEYLIGHT_SECRET_KEYS": ",".join(SECRETS),
    }
    process = subprocess.Popen(
        [
            str(GUNICORN),
            "--workers",
            "2",
            "--worker-class",
            "gthread",
            "--threads",
            "4",
            "--graceful-timeout",
            "20",
            "--bind",
            f"127.0.0.1:{port}",
            "klcheckout.wsgi:application",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    api = f"http://127.0.0.1:{port}/api"
    stop = threading.Event()
    outcomes: list[int | str] = []

    def keep_asking() -> None:
        """Customers arriving all the while: each on a new connection, as a new visitor."""
        while not stop.is_set():
            try:
                answer = requests.get(
                    f"{api}/{EXAMPLE}/state", headers={"Connection": "close"}, timeout=10
                )
                outcomes.append(answer.status_code)
            except requests.RequestException as error:
                outcomes.append(type(error).__name__)

    customer = Shopper(api, EXAMPLE)
    customer.http.headers["Origin"] = f"http://127.0.0.1:{port}"
    asking = threading.Thread(target=keep_asking)
    try:
        _wait_healthy(api, process)
        customer.add("starter")
        [line] = customer.state("cart")["cart"]["lines"]
        assert line["unit_price"] == "9.90"
        asking.start()
        catalog = journeys / "catalog.toml"
        catalog.write_text(catalog.read_text().replace('price = "9.90"', 'price = "12.90"', 1))
        process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 30
        while customer.state("cart")["cart"]["lines"][0]["unit_price"] != "12.90":
            assert time.monotonic() < deadline, "the new build was not served"
            time.sleep(0.1)
        time.sleep(0.5)  # and a little more traffic while the old workers wind down
    finally:
        stop.set()
        if asking.is_alive():
            asking.join(15)
        customer.close()
        process.terminate()
        _, errors = process.communicate(timeout=30)
    assert len(outcomes) > 10 and set(outcomes) == {200}, (outcomes, errors.decode()[-2000:])
