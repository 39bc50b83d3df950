"""Benchmark of the checkout backend under gunicorn (2 workers) on 127.0.0.1.

One run prints:
- add-to-cart POST: requests/s, p50 and p99 latency;
- the ceiling: a bare Flask endpoint that only reads, updates and re-signs an
  itsdangerous cookie, served the same way, and the ratio of the two;
- complete guest checkouts per second on SQLite and on PostgreSQL (seven
  requests each: state, add, cart, guest email, billing form, payment, confirm;
  sign-up is left out because argon2 is slow on purpose);
- the checkouts the load generator saw confirmed against the orders in the
  database (they must be equal).

The load is bounded (a fixed number of requests, concurrency 32) and goes only
to loopback addresses. Run: .venv/bin/python bench/checkout.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlencode

from flask import Flask, make_response, request
from itsdangerous import BadSignature, URLSafeTimedSerializer

HOST = "127.0.0.1"
CONCURRENCY = 32
REPO = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
PG_URL = os.environ.get(
    "KEYLIGHT_BENCH_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
KEY = "benchshop1"
JOURNEY = f'''
name = "Benchmark shop"
key = "{KEY}"
business_entity = "acme"

[[steps]]
name = "Plans"
type = "product_selection"
product_selection = "plans"

[[steps]]
name = "Cart"
type = "order"

[[steps]]
name = "Account"
type = "optional_authentication"

[[steps]]
name = "Billing"
type = "form"
form = "billing"
form_target = "sold_to_account"

[[steps]]
name = "Payment"
type = "payment_method"

[[steps]]
name = "Confirm"
type = "confirmation"

[[steps]]
name = "Done"
type = "order_done"
'''
BILLING = {
    "first_name": "Ada",
    "last_name": "Lovelace",
    "email": "ada@example.com",
    "street": "1 Engine Road",
    "postal_code": "10115",
    "city": "Berlin",
    "country": "DE",
}


def bare_app() -> Flask:
    """The ceiling: read, update and re-sign an itsdangerous cookie, nothing else."""
    app = Flask(__name__)
    serializer = URLSafeTimedSerializer(
        "bench-secret-" + "x" * 40,
        salt="bench",
        signer_kwargs={"key_derivation": "hmac", "digest_method": hashlib.sha256},
    )

    @app.route("/bare", methods=["GET", "POST"])
    def bare():  # type: ignore[no-untyped-def]
        try:
            data = serializer.loads(request.cookies.get("bare", ""), max_age=3600)
        except BadSignature:
            data = {"c": secrets.token_urlsafe(18), "l": []}
        data["l"] = [["starter", len(data["l"]) + 1]]
        response = make_response("", 303)
        response.headers["Location"] = "/bench/cart/"
        response.set_cookie("bare", serializer.dumps(data), httponly=True, samesite="Lax")
        return response

    return app


# --- a small HTTP/1.1 client on asyncio: one connection per request, like gunicorn's sync workers


class Answer:
    def __init__(self, status: int, headers: list[tuple[str, str]], elapsed: float) -> None:
        self.status = status
        self.headers = headers
        self.elapsed = elapsed

    def header(self, name: str) -> str:
        return next((v for k, v in self.headers if k == name), "")

    def cookie(self, name: str) -> str | None:
        for key, value in self.headers:
            if key == "set-cookie" and value.startswith(name + "="):
                return value.split(";", 1)[0].split("=", 1)[1]
        return None


async def http(
    port: int, method: str, path: str, cookie: str = "", form: dict | None = None
) -> Answer:
    body = urlencode(form).encode() if form is not None else b""
    lines = [
        f"{method} {path} HTTP/1.1",
        f"Host: {HOST}:{port}",
        "Connection: close",
        f"Origin: http://{HOST}:{port}",
    ]
    if cookie:
        lines.append(f"Cookie: {cookie}")
    if form is not None:
        lines += ["Content-Type: application/x-www-form-urlencoded", f"Content-Length: {len(body)}"]
    started = time.perf_counter()
    reader, writer = await asyncio.wait_for(asyncio.open_connection(HOST, port), 30)
    try:
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        raw = await asyncio.wait_for(reader.read(), 30)
    finally:
        writer.close()
    elapsed = time.perf_counter() - started
    head = raw.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    status = int(head[0].split()[1])
    headers = []
    for line in head[1:]:
        key, _, value = line.partition(":")
        headers.append((key.strip().lower(), value.strip()))
    return Answer(status, headers, elapsed)


async def pool(total: int, job) -> float:  # type: ignore[no-untyped-def]
    """Run ``job(i)`` for i in range(total), CONCURRENCY at a time; the wall time."""
    queue = iter(range(total))
    started = time.perf_counter()

    async def worker() -> None:
        for index in queue:
            await job(index)

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return time.perf_counter() - started


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def measure_cookie_post(port: int, path: str, cookie_name: str, total: int, prepare) -> dict:  # type: ignore[no-untyped-def]
    """POST ``path`` ``total`` times, each task with its own fresh cookie and token."""
    sessions = [await prepare() for _ in range(CONCURRENCY)]
    latencies: list[float] = []
    statuses: dict[int, int] = {}

    async def job(index: int) -> None:
        cookie, form = sessions[index % CONCURRENCY]
        answer = await http(port, "POST", path, f"{cookie_name}={cookie}", form)
        statuses[answer.status] = statuses.get(answer.status, 0) + 1
        latencies.append(answer.elapsed)

    await pool(min(total // 10, 500), job)  # warm-up, not counted
    latencies.clear()
    statuses.clear()
    wall = await pool(total, job)
    return {
        "rps": total / wall,
        "p50": statistics.median(latencies) * 1000,
        "p99": percentile(latencies, 0.99) * 1000,
        "statuses": statuses,
    }


async def checkouts(port: int, total: int) -> dict:
    api = "/api/" + KEY
    confirmed = 0
    failures: dict[str, int] = {}

    async def job(index: int) -> None:
        nonlocal confirmed
        state = await http(port, "GET", f"{api}/state")
        cookie = "keylight=" + (state.cookie("keylight") or "")
        token = await _token(port, api, cookie)
        steps = [
            ("cart/add", {"product": "starter", "quantity": "1", "step": "plans"}),
            ("steps/cart", {}),
            ("steps/account", {"action": "guest", "email": f"bench{index}@example.com"}),
            ("steps/billing", BILLING),
            ("steps/payment", {"method": "invoice"}),
            ("steps/confirm", {"confirm_token": uuid.uuid4().hex}),
        ]
        for path, form in steps:
            answer = await http(
                port, "POST", f"{api}/{path}", cookie, {**form, "csrf_token": token}
            )
            fresh = answer.cookie("keylight")
            if fresh:
                cookie = "keylight=" + fresh
            if (
                answer.status != 303
                or "/done/" in answer.header("location")
                and path != "steps/confirm"
            ):
                failures[f"{path} {answer.status}"] = failures.get(f"{path} {answer.status}", 0) + 1
                return
        if answer.header("location").endswith(f"/{KEY}/done/"):
            confirmed += 1
        else:
            failures["confirm went to " + answer.header("location")] = 1

    wall = await pool(total, job)
    return {"per_second": total / wall, "confirmed": confirmed, "failures": failures}


async def _token(port: int, api: str, cookie: str) -> str:
    import json

    reader, writer = await asyncio.open_connection(HOST, port)
    writer.write(
        f"GET {api}/state HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
        f"Connection: close\r\nCookie: {cookie}\r\n\r\n".encode()
    )
    raw = await reader.read()
    writer.close()
    return json.loads(raw.split(b"\r\n\r\n", 1)[1].decode())["csrf_token"]


# --- servers


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def start_gunicorn(app: str, env: dict[str, str], port: int) -> subprocess.Popen:
    process = subprocess.Popen(
        [
            str(VENV_BIN / "gunicorn"),
            "-w",
            "2",
            "-b",
            f"{HOST}:{port}",
            "--log-level",
            "warning",
            "--backlog",
            "2048",
            "--pythonpath",
            str(Path(__file__).parent),
            app,
        ],
        env={**os.environ, **env},
        cwd=str(REPO),
    )
    deadline = time.time() + 60
    while time.time() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"gunicorn for {app} exited with {process.returncode}")
        try:
            with socket.create_connection((HOST, port), timeout=1):
                time.sleep(0.5)  # let both workers finish booting
                return process
        except OSError:
            time.sleep(0.2)
    stop(process)
    raise SystemExit(f"gunicorn for {app} did not start within 60 s")


def stop(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def count_orders(database_url: str) -> int:
    from sqlalchemy import create_engine, func, select

    from klcheckout.tables import orders

    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return connection.execute(select(func.count()).select_from(orders)).scalar_one()
    finally:
        engine.dispose()


def backend_env(tmp: Path, database_url: str) -> dict[str, str]:
    return {
        "KEYLIGHT_JOURNEYS": str(tmp / "journeys"),
        "KEYLIGHT_INSTANCE": str(tmp / "instance"),
        "KEYLIGHT_SECRET_KEYS": "bench-secret-" + "y" * 40,
        "KEYLIGHT_DATABASE_URL": database_url,
    }


def run_backend(tmp: Path, database_url: str, total_checkouts: int, add_requests: int) -> dict:
    port = free_port()
    process = start_gunicorn("klcheckout.wsgi:application", backend_env(tmp, database_url), port)
    try:
        result: dict = {}
        if add_requests:

            async def prepare() -> tuple[str, dict]:
                state = await http(port, "GET", f"/api/{KEY}/state")
                cookie = state.cookie("keylight") or ""
                token = await _token(port, f"/api/{KEY}", f"keylight={cookie}")
                return cookie, {
                    "product": "starter",
                    "quantity": "1",
                    "step": "plans",
                    "csrf_token": token,
                }

            result["add"] = asyncio.run(
                measure_cookie_post(port, f"/api/{KEY}/cart/add", "keylight", add_requests, prepare)
            )
        result["checkouts"] = asyncio.run(checkouts(port, total_checkouts))
        result["orders"] = count_orders(database_url)
        return result
    finally:
        stop(process)


def run_bare(total: int) -> dict:
    port = free_port()
    process = start_gunicorn("checkout:bare_app()", {}, port)
    try:

        async def prepare() -> tuple[str, dict]:
            answer = await http(port, "GET", "/bare")
            return answer.cookie("bare") or "", {"product": "starter", "quantity": "1"}

        return asyncio.run(measure_cookie_post(port, "/bare", "bare", total, prepare))
    finally:
        stop(process)


def postgres_schema() -> tuple[str, str] | None:
    from sqlalchemy import create_engine, text

    schema = f"klbench_{uuid.uuid4().hex[:10]}"
    engine = create_engine(PG_URL)
    try:
        with engine.begin() as connection:
            connection.execute(text(f"CREATE SCHEMA {schema}"))
    except Exception as error:  # noqa: BLE001
        print(f"PostgreSQL unreachable at {PG_URL}: {type(error).__name__}; skipping it")
        return None
    finally:
        engine.dispose()
    return schema, f"{PG_URL}?options=-csearch_path%3D{schema}"


def drop_schema(schema: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(PG_URL)
    with engine.begin() as connection:
        connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of the load, for a smoke run")
    args = parser.parse_args()
    scale = 10 if args.quick else 1
    add_requests, checkout_count = 8000 // scale, 1500 // scale

    tmp = Path(tempfile.mkdtemp(prefix="klbench-"))
    try:
        shutil.copytree(REPO / "journeys", tmp / "journeys")
        (tmp / "journeys" / "bench.toml").write_text(JOURNEY)
        bare = run_bare(add_requests)
        sqlite_url = f"sqlite:///{tmp / 'instance' / 'bench.sqlite3'}"
        on_sqlite = run_backend(tmp, sqlite_url, checkout_count, add_requests)
        on_postgres = None
        created = postgres_schema()
        if created:
            schema, url = created
            try:
                on_postgres = run_backend(tmp, url, checkout_count, 0)
            finally:
                drop_schema(schema)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    add = on_sqlite["add"]
    print(f"gunicorn, 2 sync workers, {HOST}, concurrency {CONCURRENCY}, {os.cpu_count()} cores")
    print(
        f"add-to-cart POST    {add['rps']:8.0f} req/s  p50 {add['p50']:6.1f} ms  "
        f"p99 {add['p99']:6.1f} ms  {add['statuses']}"
    )
    print(
        f"bare cookie ceiling {bare['rps']:8.0f} req/s  p50 {bare['p50']:6.1f} ms  "
        f"p99 {bare['p99']:6.1f} ms  {bare['statuses']}"
    )
    print(f"ratio add/ceiling   {add['rps'] / bare['rps']:8.0%}   (goal: >= 70 %, p99 < 50 ms)")
    for name, result in (("SQLite", on_sqlite), ("PostgreSQL", on_postgres)):
        if result is None:
            print(f"checkouts {name:10}  skipped")
            continue
        done = result["checkouts"]
        same = "equal" if done["confirmed"] == result["orders"] else "NOT EQUAL"
        print(
            f"checkouts {name:10} {done['per_second']:8.1f} /s   confirmed {done['confirmed']}"
            f" / orders in database {result['orders']} ({same})"
            + (f"  failures {done['failures']}" if done["failures"] else "")
        )


if __name__ == "__main__":
    main()
