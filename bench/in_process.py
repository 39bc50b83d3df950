"""CPU per request of a checkout, in process: the backend's own share, without HTTP.

The checkout of ``bench/checkout.py`` (the page script's seven requests) is sent
straight to the WSGI app, one customer after another, on SQLite (or the database
``KEYLIGHT_DATABASE_URL`` names). It prints the CPU time of each kind of request,
the best of several rounds: a shared machine slows some rounds down, and the
fastest is the closest to what the code costs. Without a server, load generator
or other threads in the way, two versions of the code compare better here than
under ``bench/checkout.py`` (which measures what a customer gets).

``--profile FILE`` also writes a cProfile of one more round (read it with
``python -m pstats FILE``, or ``snakeviz``).

Run: .venv/bin/python bench/in_process.py [--rounds 8] [--checkouts 50] [--profile out.pstats]
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from werkzeug.test import EnvironBuilder

sys.path.insert(0, str(Path(__file__).parent))
import checkout as bench  # noqa: E402  (the shop and journey of the load benchmark)

ORIGIN = "http://localhost"
#: The page script's requests after the first page's state: (kind, path, form).
STEPS = [
    ("add", "/cart/add", "product=starter&quantity=1&step=plans"),
    ("cart", "/steps/cart", ""),
    ("account", "/steps/account", "action=guest&email=bench{n}%40example.com"),
    ("billing", "/steps/billing", urlencode(bench.BILLING)),
    ("payment", "/steps/payment", "method=invoice"),
    ("confirm", "/steps/confirm", "confirm_token=bench-{n}"),
]


class Customer:
    """One browser's cookie and token, sending requests straight to ``app``."""

    def __init__(self, app: Any, spent: dict[str, float]) -> None:
        self.app = app
        self.spent = spent
        self.cookie = ""

    def send(self, kind: str, method: str, path: str, form: str | None = None) -> dict:
        headers = {"Origin": ORIGIN, "Accept": "application/json"}
        if self.cookie:
            headers["Cookie"] = self.cookie
        environ = EnvironBuilder(
            path=f"/api/{bench.KEY}{path}",
            method=method,
            headers=headers,
            data=form,
            content_type="application/x-www-form-urlencoded" if form is not None else None,
            base_url=ORIGIN,
        ).get_environ()
        answer: dict[str, Any] = {}

        def start_response(status: str, headers: list, exc_info: Any = None) -> None:
            answer["status"], answer["headers"] = status, headers

        started = time.process_time()
        body = b"".join(self.app(environ, start_response))
        self.spent[kind] += time.process_time() - started
        if not answer["status"].startswith("200"):
            raise SystemExit(f"{kind}: {answer['status']} {body[:300]!r}")
        for name, value in answer["headers"]:
            if name.lower() == "set-cookie" and value.startswith("keylight="):
                self.cookie = value.split(";", 1)[0]
        return json.loads(body)


def checkout(app: Any, spent: dict[str, float], number: int) -> None:
    customer = Customer(app, spent)
    token = customer.send("state", "GET", "/state?step=plans")["csrf_token"]
    for kind, path, form in STEPS:
        filled = form.format(n=f"{number}-{time.time_ns()}")
        answer = customer.send(kind, "POST", path, f"{filled}&csrf_token={token}")
        token = answer["csrf_token"]
    if not answer["state"]["order"]:
        raise SystemExit("the confirmation's answer shows no order")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--checkouts", type=int, default=50, help="per round")
    parser.add_argument("--profile", metavar="FILE", help="write a cProfile of one more round")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="klrequests-"))
    try:
        shutil.copytree(bench.REPO / "journeys", tmp / "journeys")
        (tmp / "journeys" / "bench.toml").write_text(bench.JOURNEY)
        database = os.environ.get("KEYLIGHT_DATABASE_URL") or f"sqlite:///{tmp / 'bench.sqlite3'}"
        os.environ.update(bench.backend_env(tmp, database))
        from klcheckout import wsgi

        numbers = iter(range(10**9))
        for _ in range(20):  # warm-up: imports, compiled statements, catalogs
            checkout(wsgi.application, defaultdict(float), next(numbers))
        best: dict[str, float] = {}
        for _ in range(args.rounds):
            spent: dict[str, float] = defaultdict(float)
            for _ in range(args.checkouts):
                checkout(wsgi.application, spent, next(numbers))
            for kind, seconds in spent.items():
                best[kind] = min(best.get(kind, seconds), seconds)
        if args.profile:
            profile = cProfile.Profile()
            profile.enable()
            for _ in range(args.checkouts):
                checkout(wsgi.application, defaultdict(float), next(numbers))
            profile.disable()
            profile.dump_stats(args.profile)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    per_checkout = sum(best.values()) / args.checkouts * 1000
    print(f"in process, {database.split(':')[0]}, best of {args.rounds} rounds of {args.checkouts}")
    for kind, seconds in best.items():
        print(f"  {kind:8} {seconds / args.checkouts * 1000:6.3f} ms")
    print(f"  checkout {per_checkout:6.2f} ms of CPU in the app ({len(best)} requests)")


if __name__ == "__main__":
    main()
