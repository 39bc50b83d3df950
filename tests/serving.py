"""Real server processes for the tests that deploy keylight as a shop would: gunicorn, nginx.

Shared by tests/klcheckout and tests/browser (tests/ is on the import path through
tests/conftest.py). Each process is started on free ports of 127.0.0.1, waited for
by polling what it serves, and stopped by the caller.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import string
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from sqlalchemy import create_engine, text

REPO = Path(__file__).resolve().parents[1]
GUNICORN = Path(sys.executable).parent / "gunicorn"
GRANIAN = Path(sys.executable).parent / "granian"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
PG_URL = os.environ.get(
    "KEYLIGHT_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS = os.environ.get("KEYLIGHT_TEST_REDIS", "redis://127.0.0.1:6379")


def postgres_available() -> str | None:
    """Why the PostgreSQL server of the tests cannot be used, or None when it can."""
    engine = create_engine(PG_URL)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return None
    except Exception as error:  # noqa: BLE001 - any failure means "not reachable"
        return f"{type(error).__name__}: {str(error).splitlines()[0]}"
    finally:
        engine.dispose()


@contextlib.contextmanager
def postgres_schema() -> Iterator[str]:
    """A URL of a fresh, empty PostgreSQL schema, dropped afterwards."""
    problem = postgres_available()
    if problem:
        pytest.skip(f"PostgreSQL at {PG_URL} is unreachable ({problem}); scripts/test starts one")
    schema = f"kltest_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL)
    with admin.begin() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_answering(
    url: str, process: subprocess.Popen[bytes], seconds: float = 30, verify: str | bool = True
) -> None:
    """Poll ``url`` until it answers at all (any status), or fail if the process ended.
    ``verify``: the certificate to trust for https (see ``certificate``)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"{process.args[0]} exited with {process.returncode}")
        try:
            requests.get(url, timeout=10, verify=verify)
            return
        except (requests.ConnectionError, requests.Timeout):
            time.sleep(0.05)
    raise AssertionError(f"nothing answered at {url}")


def gunicorn(
    env: dict[str, str], port: int, *args: str, log: Path | None = None
) -> subprocess.Popen[bytes]:
    """``gunicorn klcheckout.wsgi:application`` on 127.0.0.1:``port``, as the README runs it."""
    command = [str(GUNICORN), "--bind", f"127.0.0.1:{port}", "--worker-class", "gthread"]
    if log is not None:
        command += ["--access-logfile", str(log)]
    process = subprocess.Popen(
        [*command, *args, "klcheckout.wsgi:application"],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _started(process, f"http://127.0.0.1:{port}/api/healthz")
    return process


def granian(
    env: dict[str, str], port: int, *args: str, log: Path | None = None
) -> subprocess.Popen[bytes]:
    """``granian ... klcheckout.wsgi:application`` on 127.0.0.1:``port``, as the README's
    production recipe runs it (``args`` add to it or override it)."""
    command = [
        str(GRANIAN),
        "--interface",
        "wsgi",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "2",
        "--blocking-threads",
        "2",
        "--respawn-failed-workers",
        "--workers-kill-timeout",
        "30",
        "--no-ws",
    ]
    if log is not None:
        command += ["--access-log", "--access-log-fmt", "%(addr)s %(method)s %(path)s"]
    # granian writes its log, access log included, to standard output.
    with open(log if log is not None else os.devnull, "wb") as output:
        process = subprocess.Popen(
            [*command, *args, "klcheckout.wsgi:application"],
            env={**os.environ, **env},
            stdout=output,
            stderr=subprocess.PIPE,
            # Its own process group: ``stop`` can end the workers too if the server hangs.
            start_new_session=True,
        )
    _started(process, f"http://127.0.0.1:{port}/api/healthz")
    return process


#: The WSGI servers the tests run the backend under, by name.
SERVERS = {"granian": granian, "gunicorn": gunicorn}


def workers(process: subprocess.Popen[bytes]) -> list[int]:
    """The worker processes of a server's main process (Linux /proc)."""
    path = Path(f"/proc/{process.pid}/task/{process.pid}/children")
    return [int(pid) for pid in path.read_text().split()]


def stop(process: subprocess.Popen[bytes], grace: float = 40) -> str:
    """Stop a process; what it wrote to stderr, for a failure's message. One that has not
    stopped after ``grace`` seconds is killed, with its workers when it has a group."""
    process.terminate()
    try:
        _, errors = process.communicate(timeout=grace)
    except subprocess.TimeoutExpired:
        # Its workers hold the pipes open too: end the whole group when it has one.
        if os.getpgid(process.pid) == process.pid:
            os.killpg(process.pid, signal.SIGKILL)
        else:
            process.kill()
        _, errors = process.communicate()
    return (errors or b"").decode(errors="replace")[-3000:]


def certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1: production mode wants HTTPS."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def nginx(config: str, values: dict[str, str], folder: Path, probe: str) -> subprocess.Popen[bytes]:
    """nginx running ``deploy/nginx/<config>`` with ``values`` filled in, as README says.

    The file is included in a minimal main configuration of the test's own (a pid
    file, logs and temporary files in ``folder``), as /etc/nginx/nginx.conf would.
    """
    text = (REPO / "deploy" / "nginx" / config).read_text()
    site = folder / "keylight.conf"
    site.write_text(string.Template(text).safe_substitute(values))
    temp = {
        f"{name}_temp_path": folder / name
        for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    }
    for path in temp.values():
        path.mkdir(exist_ok=True)
    main = folder / "nginx.conf"
    main.write_text(
        ("user root;\n" if os.geteuid() == 0 else "")
        + f"worker_processes 1;\npid {folder / 'nginx.pid'};\n"
        + f"error_log {folder / 'error.log'} warn;\n"
        + "events { worker_connections 256; }\n"
        + "http {\n  include /etc/nginx/mime.types;\n"
        + f"  access_log {folder / 'access.log'};\n"
        + "".join(f"  {directive} {path};\n" for directive, path in temp.items())
        + f"  include {site};\n}}\n"
    )
    process = subprocess.Popen(
        [NGINX, "-c", str(main), "-p", str(folder), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _started(process, probe, verify=values["KEYLIGHT_CERTIFICATE"])
    return process


def _started(process: subprocess.Popen[bytes], url: str, verify: str | bool = True) -> None:
    """Wait for a new process to answer; one that does not is stopped, not left behind."""
    try:
        wait_until_answering(url, process, verify=verify)
    except BaseException as error:
        raise AssertionError(f"{error}\n{stop(process)}") from None
