"""A new build reaches a running backend: the server's HUP, as docs/checkout-config.md says.

granian (the production recipe's server) and gunicorn both start workers that load
the journeys again, then let the old ones finish what they are answering: the
customers asking meanwhile are answered, and a cart made against the old build is
priced from the new catalog. (A request that reaches one of granian's old workers
at the very moment it stops gets no answer; bench/server_reload.py counts those
under steady traffic, which a test could only catch by chance.)
"""

from __future__ import annotations

import shutil
import signal
import threading
import time
from pathlib import Path

import pytest
import requests
from checkout_helpers import EXAMPLE, SECRETS, Shopper
from serving import SERVERS, free_port, stop

#: What each server is told beyond the recipe's options: gunicorn's workers and the time
#: its old workers get to finish (granian's recipe options are in ``serving.granian``).
OPTIONS = {
    "gunicorn": ("--workers", "2", "--threads", "4", "--graceful-timeout", "20"),
    "granian": (),
}


@pytest.mark.parametrize("server", sorted(SERVERS))
def test_hup_serves_a_new_build_without_dropping_a_request(
    server: str, tmp_path: Path, journeys_dir: Path
) -> None:
    journeys = tmp_path / "journeys"
    shutil.copytree(journeys_dir, journeys)
    port = free_port()
    env = {
        "KEYLIGHT_JOURNEYS": str(journeys),
        "KEYLIGHT_INSTANCE": str(tmp_path / "instance"),
        "KEYLIGHT_DATABASE_URL": f"sqlite:///{tmp_path / 'k.sqlite3'}",
        "KEYLIGHT_SECRET_KEYS": ",".join(SECRETS),
    }
    process = SERVERS[server](env, port, *OPTIONS[server])
    api = f"http://127.0.0.1:{port}/api"
    finished = threading.Event()
    outcomes: list[int | str] = []
    answered = threading.Condition()

    def keep_asking() -> None:
        """Customers arriving all the while: each on a new connection, as a new visitor."""
        while not finished.is_set():
            try:
                answer = requests.get(
                    f"{api}/{EXAMPLE}/state", headers={"Connection": "close"}, timeout=10
                )
                outcome: int | str = answer.status_code
            except requests.RequestException as error:
                outcome = type(error).__name__
            with answered:
                outcomes.append(outcome)
                answered.notify_all()

    customer = Shopper(api, EXAMPLE)
    customer.http.headers["Origin"] = f"http://127.0.0.1:{port}"
    # A new connection per request: a server may close an idle keep-alive connection
    # as its old workers wind down, and a browser retries a GET that met one; requests
    # does not, and the drop this test looks for is a request the server accepted.
    customer.http.headers["Connection"] = "close"
    asking = threading.Thread(target=keep_asking)
    try:
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
        # And more customers while the old workers wind down: counted, not timed, so a
        # busy machine (other tests in parallel) still sends them.
        with answered:
            enough = len(outcomes) + 10
            assert answered.wait_for(lambda: len(outcomes) >= enough, 30), outcomes
    finally:
        finished.set()
        if asking.is_alive():
            asking.join(15)
        customer.close()
        errors = stop(process)
    assert len(outcomes) > 10 and set(outcomes) == {200}, (outcomes, errors)
