"""Benchmark of the checkout backend under gunicorn on 127.0.0.1 (2 cores in mind).

One run prints:
- add-to-cart POST: requests/s, p50 and p99 latency;
- the ceiling: a bare Flask endpoint that only reads, updates and re-signs an
  itsdangerous cookie, served the same way, and the ratio of the two;
- complete guest checkouts per second on SQLite and on PostgreSQL (eight
  requests each: state, add, cart, guest email, billing form, payment, confirm,
  and the done page's state; sign-up is left out because argon2 is slow on purpose);
- the checkouts the load generator saw confirmed (the done page shows the order
  number) against the orders in the database: they must be equal.

Both servers run as docs/checkout-config.md recommends: gunicorn, 2 gthread
workers x 4 threads (keep-alive connections). The load generators share the
cores with the server, so they are made cheap and report their own CPU use:
- add-to-cart and the ceiling: wrk (written in C) with a Lua script that POSTs
  the form with the cookie, CSRF token and Origin over 32 keep-alive
  connections, each thread stopping after its share of a fixed request count.
  wrk is not a Python package: install it with ``apt-get install -y wrk``
  (Debian/Ubuntu) or ``brew install wrk`` (macOS); the script stops with that
  hint when it is missing.
- checkouts: an asyncio client below, one keep-alive connection per concurrent
  customer (32), raw HTTP/1.1 on streams.

The load is bounded (fixed request and checkout counts after a short warm-up,
timeouts on every request) and goes only to loopback addresses. The benchmark is
not part of the test command. Run: .venv/bin/python bench/checkout.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import resource
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


# --- wrk for the single-endpoint figures: C, epoll, keep-alive, stops after a fixed count

WRK_SCRIPT = r"""
-- POST one form (cookie, CSRF token, Origin) over keep-alive connections and stop
-- each thread after a fixed number of answers; print the figures as one JSON line.
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  wrk.method = "POST"
  wrk.path = args[1]
  wrk.body = args[2]
  wrk.headers["Cookie"] = args[3]
  wrk.headers["Origin"] = args[4]
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
  limit = tonumber(args[5])
  answered = 0
  statuses = {}
  prepared = wrk.format()
end

function request()
  return prepared
end

function response(status, headers, body)
  answered = answered + 1
  statuses[status] = (statuses[status] or 0) + 1
  if answered == limit then
    -- wrk's main thread sleeps for -d regardless; the script's caller sends SIGINT
    -- once every thread said this, which ends the run at once.
    io.stderr:write("KLSTOP\n")
    io.stderr:flush()
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local counts = {}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do
      counts[status] = (counts[status] or 0) + count
    end
  end
  local parts = {}
  for status, count in pairs(counts) do
    table.insert(parts, string.format('"%d": %d', status, count))
  end
  local errors = summary.errors
  io.write(string.format(
    'KLRESULT {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, ' ..
    '"socket_errors": %d, "statuses": {%s}}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    errors.connect + errors.read + errors.write + errors.timeout, table.concat(parts, ", ")))
end
"""


def server_cpu(process: subprocess.Popen) -> float | None:
    """CPU seconds used so far by gunicorn and its workers (Linux /proc; None elsewhere).

    On a shared, noisy machine the server's CPU time per request is steadier than
    requests per second: it does not count time other programs took from it.
    """
    try:
        children = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()
        total = 0.0
        for pid in [process.pid, *map(int, children)]:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return total
    except (OSError, ValueError):
        return None


def cpu_per(process: subprocess.Popen, before: float | None, count: int) -> float | None:
    after = server_cpu(process)
    return None if before is None or after is None else (after - before) / count * 1000


def fsync_cost(folder: Path, count: int = 200) -> tuple[float, float]:
    """Median and p99 milliseconds of fsync after a 4 KiB append, in the database's folder:
    the floor under every durable commit (SQLite's WAL, like PostgreSQL's, is fsynced)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "fsync-probe"
    times = []
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        for _ in range(count):
            os.write(descriptor, b"x" * 4096)
            started = time.perf_counter()
            os.fsync(descriptor)
            times.append(time.perf_counter() - started)
    finally:
        os.close(descriptor)
        path.unlink()
    return statistics.median(times) * 1000, percentile(times, 0.99) * 1000


def require_wrk() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise SystemExit(
            "bench/checkout.py needs wrk (a load generator in C) and did not find it on PATH.\n"
            "Install it: apt-get install -y wrk (Debian/Ubuntu), brew install wrk (macOS)."
        )
    return found


def run_wrk(
    wrk: str, port: int, path: str, body: str, cookie: str, total: int, workdir: Path
) -> dict:
    """POST ``path`` ``total`` times over CONCURRENCY keep-alive connections (2 wrk threads)."""
    script = workdir / "post.lua"
    script.write_text(WRK_SCRIPT)
    threads = 2
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    process = subprocess.Popen(
        [
            wrk,
            f"-t{threads}",
            f"-c{CONCURRENCY}",
            "-d120s",  # a bound only: the run ends when each thread has its share of ``total``
            "--timeout",
            "10s",
            "-s",
            str(script),
            f"http://{HOST}:{port}{path}",
            "--",
            path,
            body,
            cookie,
            f"http://{HOST}:{port}",
            str(total // threads),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    stopped = 0
    for message in process.stderr:
        stopped += message.strip() == "KLSTOP"
        if stopped == threads:
            process.send_signal(signal.SIGINT)
            break
    stdout, _ = process.communicate(timeout=180)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if process.returncode != 0:
        raise SystemExit(f"wrk failed with {process.returncode}: {stdout}")
    line = next(x for x in stdout.splitlines() if x.startswith("KLRESULT "))
    data = json.loads(line.removeprefix("KLRESULT "))
    seconds = data["duration_us"] / 1e6
    return {
        "rps": data["requests"] / seconds,
        "p50": data["p50_us"] / 1000,
        "p99": data["p99_us"] / 1000,
        "statuses": {int(k): v for k, v in data["statuses"].items()},
        "socket_errors": data["socket_errors"],
        "generator_cpu": (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
        / seconds,
    }


# --- a small keep-alive HTTP/1.1 client on asyncio, for the multi-step checkouts


class Answer:
    def __init__(
        self, status: int, headers: list[tuple[str, str]], body: bytes, elapsed: float
    ) -> None:
        self.status = status
        self.headers = headers
        self.body = body
        self.elapsed = elapsed

    def header(self, name: str) -> str:
        return next((v for k, v in self.headers if k == name), "")

    def cookie(self, name: str) -> str | None:
        for key, value in self.headers:
            if key == "set-cookie" and value.startswith(name + "="):
                return value.split(";", 1)[0].split("=", 1)[1]
        return None


class Connection:
    """One persistent connection, reopened only when the server closes it."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def request(
        self, method: str, path: str, cookie: str = "", form: dict | None = None
    ) -> Answer:
        body = urlencode(form).encode() if form is not None else b""
        lines = [f"{method} {path} HTTP/1.1", f"Host: {HOST}:{self.port}"]
        if method == "POST":
            lines.append(f"Origin: http://{HOST}:{self.port}")
        if cookie:
            lines.append(f"Cookie: {cookie}")
        if form is not None:
            lines += [
                "Content-Type: application/x-www-form-urlencoded",
                f"Content-Length: {len(body)}",
            ]
        raw = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
        started = time.perf_counter()
        reused = self.writer is not None
        try:
            return await asyncio.wait_for(self._exchange(raw, started), 30)
        except (asyncio.IncompleteReadError, ConnectionError):
            await self.close()
            if not reused:
                raise
            # The server closed an idle kept-alive connection before reading: send again.
            return await asyncio.wait_for(self._exchange(raw, time.perf_counter()), 30)

    async def _exchange(self, raw: bytes, started: float) -> Answer:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(HOST, self.port)
        assert self.reader is not None
        self.writer.write(raw)
        head = (await self.reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        status = int(head[0].split()[1])
        headers = []
        for line in head[1:]:
            if line:
                key, _, value = line.partition(":")
                headers.append((key.strip().lower(), value.strip()))
        length = int(next((v for k, v in headers if k == "content-length"), "0"))
        body = await self.reader.readexactly(length) if length else b""
        elapsed = time.perf_counter() - started
        if next((v for k, v in headers if k == "connection"), "").lower() == "close":
            await self.close()
        return Answer(status, headers, body, elapsed)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def first_visit(connection: Connection, api: str) -> tuple[str, str]:
    """The cookie and CSRF token a page gets from its first state request."""
    state = await connection.request("GET", f"{api}/state")
    cookie = "keylight=" + (state.cookie("keylight") or "")
    return cookie, json.loads(state.body)["csrf_token"]


async def checkouts(port: int, total: int) -> dict:
    """``total`` guest checkouts, CONCURRENCY customers at a time, each on its own connection.

    Eight requests each: state (cookie and token), add, cart, guest email, billing
    form, payment, confirm, and the order done page's state, which must show the
    order number for the checkout to count as confirmed.
    """
    api = "/api/" + KEY
    confirmed = 0
    failures: dict[str, int] = {}
    latencies: list[float] = []
    queue = iter(range(total))

    async def customer(connection: Connection, index: int) -> None:
        nonlocal confirmed
        cookie, token = await first_visit(connection, api)
        steps = [
            ("cart/add", {"product": "starter", "quantity": "1", "step": "plans"}),
            ("steps/cart", {}),
            ("steps/account", {"action": "guest", "email": f"bench{index}@example.com"}),
            ("steps/billing", BILLING),
            ("steps/payment", {"method": "invoice"}),
            ("steps/confirm", {"confirm_token": uuid.uuid4().hex}),
        ]
        for path, form in steps:
            answer = await connection.request(
                "POST", f"{api}/{path}", cookie, {**form, "csrf_token": token}
            )
            latencies.append(answer.elapsed)
            fresh = answer.cookie("keylight")
            if fresh:
                cookie = "keylight=" + fresh
            wrong_done = "/done/" in answer.header("location") and path != "steps/confirm"
            if answer.status != 303 or wrong_done:
                key = f"{path} {answer.status}"
                failures[key] = failures.get(key, 0) + 1
                return
        if not answer.header("location").endswith(f"/{KEY}/done/"):
            failures["confirm went to " + answer.header("location")] = 1
            return
        done = await connection.request("GET", f"{api}/state?step=done", cookie)
        latencies.append(done.elapsed)
        if done.status == 200 and (json.loads(done.body).get("order") or {}).get("number"):
            confirmed += 1
        else:
            failures[f"done page {done.status}"] = failures.get(f"done page {done.status}", 0) + 1

    async def worker() -> None:
        connection = Connection(port)
        try:
            for index in queue:
                await customer(connection, index)
        finally:
            await connection.close()

    before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "per_second": total / wall,
        "confirmed": confirmed,
        "failures": failures,
        "p50": statistics.median(latencies) * 1000,
        "p99": percentile(latencies, 0.99) * 1000,
        "generator_cpu": (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
        / wall,
    }


# --- servers


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


#: The command docs/checkout-config.md recommends, on the benchmark's port: gthread
#: workers keep connections alive (sync workers close each one) and let a request
#: that waits for the database's disk flush step aside for another.
WORKERS = 2
THREADS = 4


def gunicorn_command(app: str, port: int) -> list[str]:
    return [
        str(VENV_BIN / "gunicorn"),
        "--workers",
        str(WORKERS),
        "--worker-class",
        "gthread",
        "--threads",
        str(THREADS),
        "--bind",
        f"{HOST}:{port}",
        "--log-level",
        "warning",
        "--backlog",
        "2048",
        "--pythonpath",
        str(Path(__file__).parent),
        app,
    ]


def start_gunicorn(app: str, env: dict[str, str], port: int) -> subprocess.Popen:
    process = subprocess.Popen(
        gunicorn_command(app, port), env={**os.environ, **env}, cwd=str(REPO)
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


def run_backend(
    wrk: str, tmp: Path, database_url: str, total_checkouts: int, add_requests: int
) -> dict:
    port = free_port()
    process = start_gunicorn("klcheckout.wsgi:application", backend_env(tmp, database_url), port)
    try:
        result: dict = {}
        if add_requests:
            cookie, token = asyncio.run(_first_visit(port))
            body = urlencode(
                {"product": "starter", "quantity": "1", "step": "plans", "csrf_token": token}
            )
            path = f"/api/{KEY}/cart/add"
            run_wrk(wrk, port, path, body, cookie, min(add_requests // 10, 1000), tmp)  # warm-up
            before = server_cpu(process)
            result["add"] = run_wrk(wrk, port, path, body, cookie, add_requests, tmp)
            result["add"]["server_ms"] = cpu_per(process, before, add_requests)
        warm = asyncio.run(checkouts(port, min(total_checkouts // 10, 100)))  # warm-up
        before = server_cpu(process)
        result["checkouts"] = asyncio.run(checkouts(port, total_checkouts))
        result["checkouts"]["server_ms"] = cpu_per(process, before, total_checkouts)
        # Every order in the database must be one the customers saw confirmed.
        result["confirmed"] = warm["confirmed"] + result["checkouts"]["confirmed"]
        result["orders"] = count_orders(database_url)
        return result
    finally:
        stop(process)


async def _first_visit(port: int) -> tuple[str, str]:
    connection = Connection(port)
    try:
        return await first_visit(connection, f"/api/{KEY}")
    finally:
        await connection.close()


def run_bare(wrk: str, tmp: Path, total: int) -> dict:
    port = free_port()
    process = start_gunicorn("checkout:bare_app()", {}, port)
    try:

        async def prepare() -> str:
            connection = Connection(port)
            try:
                answer = await connection.request("GET", "/bare")
            finally:
                await connection.close()
            return "bare=" + (answer.cookie("bare") or "")

        cookie = asyncio.run(prepare())
        body = urlencode({"product": "starter", "quantity": "1"})
        run_wrk(wrk, port, "/bare", body, cookie, min(total // 10, 1000), tmp)  # warm-up
        before = server_cpu(process)
        result = run_wrk(wrk, port, "/bare", body, cookie, total, tmp)
        result["server_ms"] = cpu_per(process, before, total)
        return result
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


def _server(result: dict, unit: str) -> str:
    value = result.get("server_ms")
    return f"  server CPU {value:.2f} ms/{unit}" if value else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of the load, for a smoke run")
    args = parser.parse_args()
    wrk = require_wrk()
    scale = 10 if args.quick else 1
    add_requests, checkout_count = 20000 // scale, 2000 // scale

    tmp = Path(tempfile.mkdtemp(prefix="klbench-"))
    try:
        shutil.copytree(REPO / "journeys", tmp / "journeys")
        (tmp / "journeys" / "bench.toml").write_text(JOURNEY)
        fsync_ms = fsync_cost(tmp / "instance")
        bare = run_bare(wrk, tmp, add_requests)
        sqlite_url = f"sqlite:///{tmp / 'instance' / 'bench.sqlite3'}"
        on_sqlite = run_backend(wrk, tmp, sqlite_url, checkout_count, add_requests)
        on_postgres = None
        created = postgres_schema()
        if created:
            schema, url = created
            try:
                on_postgres = run_backend(wrk, tmp, url, checkout_count, 0)
            finally:
                drop_schema(schema)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    add = on_sqlite["add"]
    print(
        f"gunicorn, {WORKERS} gthread workers x {THREADS} threads, {HOST}, "
        f"concurrency {CONCURRENCY} keep-alive connections, {os.cpu_count()} cores"
    )
    for name, result in (("add-to-cart POST   ", add), ("bare cookie ceiling", bare)):
        print(
            f"{name} {result['rps']:8.0f} req/s  p50 {result['p50']:6.1f} ms  "
            f"p99 {result['p99']:6.1f} ms  {result['statuses']}"
            + (f"  socket errors {result['socket_errors']}" if result["socket_errors"] else "")
            + f"  (wrk used {result['generator_cpu']:.0%} of a core)"
            + _server(result, "request")
        )
    print(f"ratio add/ceiling   {add['rps'] / bare['rps']:8.0%}   (goal: >= 70 %, p99 < 50 ms)")
    if add.get("server_ms") and bare.get("server_ms"):
        share = bare["server_ms"] / add["server_ms"]
        print(f"ratio of server CPU {share:8.0%}   (ceiling's CPU per request / add-to-cart's)")
    print(
        f"fsync of 4 KiB (the SQLite file's disk): median {fsync_ms[0]:.2f} ms, "
        f"p99 {fsync_ms[1]:.2f} ms; each order is one durable commit"
    )
    for name, result in (("SQLite", on_sqlite), ("PostgreSQL", on_postgres)):
        if result is None:
            print(f"checkouts {name:10}  skipped")
            continue
        done = result["checkouts"]
        same = "equal" if result["confirmed"] == result["orders"] else "NOT EQUAL"
        print(
            f"checkouts {name:10} {done['per_second']:8.1f} /s   request p50 {done['p50']:.1f} ms"
            f" p99 {done['p99']:.1f} ms   confirmed {result['confirmed']}"
            f" / orders in database {result['orders']} ({same})"
            f"  (client used {done['generator_cpu']:.0%} of a core)"
            + _server(done, "checkout")
            + (f"  failures {done['failures']}" if done["failures"] else "")
        )


if __name__ == "__main__":
    main()
