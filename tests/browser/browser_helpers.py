"""Fixtures for the browser tests: a real ``klbuild serve`` and Debian's Chromium.

Every server works on its own copy of the example journeys in a temporary folder,
with its own site and instance folder (``<journeys>/../instance``), so the repo's
files and database are never touched. Tests that only walk journeys share one
server per module; tests that edit journey files start their own.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "journeys"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = REPO / "test-artifacts"
SCREENSHOTS = ARTIFACTS / "screenshots"

#: The example journey's key and file, as written in journeys/self-service.toml.
KEY = "k9uscs7vr7"
JOURNEY_FILE = "self-service.toml"
#: Step ids of the example journey, in order (slugs of the step names).
STEPS = [
    "product-selection",
    "cart",
    "login-or-create-an-account",
    "customer-information",
    "payment-method",
    "confirm-order",
    "order-done",
]
VALID_IBAN = "DE89 3704 0044 0532 0130 00"

_SERVING = re.compile(r"^Serving .* at (http://\S+/) ")


class Workspace:
    """A copy of the example journeys next to a site and an instance folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.journeys = root / "journeys"
        self.site = root / "site"
        self.instance = root / "instance"
        #: The server's working directory: not the journeys' parent, whose instance it uses.
        self.cwd = root / "cwd"
        self.cwd.mkdir()
        shutil.copytree(EXAMPLE, self.journeys)

    def path(self, name: str) -> Path:
        return self.journeys / name

    def read(self, name: str = JOURNEY_FILE) -> str:
        return self.path(name).read_text(encoding="utf-8")

    def write(self, name: str, text: str, *, atomic: bool = False) -> None:
        """Save a file in place, or as editors do: a temp file renamed over the original."""
        target = self.path(name)
        if atomic:
            temp = target.with_name(f".{target.name}.{secrets.token_hex(3)}.tmp")
            temp.write_text(text, encoding="utf-8")
            os.replace(temp, target)
        else:
            target.write_text(text, encoding="utf-8")

    def edit(self, old: str, new: str, name: str = JOURNEY_FILE, *, atomic: bool = False) -> None:
        """Replace text once in a journey file, failing loudly if the text is not there."""
        text = self.read(name)
        assert old in text, f"{old!r} not in {name}"
        self.write(name, text.replace(old, new, 1), atomic=atomic)

    # -- the backend's database ---------------------------------------------------------

    @property
    def database(self) -> Path:
        return self.instance / "keylight.sqlite3"

    def query(self, sql: str, *params: Any) -> list[sqlite3.Row]:
        with contextlib.closing(sqlite3.connect(self.database)) as connection:
            connection.row_factory = sqlite3.Row
            return connection.execute(sql, params).fetchall()


class Server:
    """``klbuild serve`` in a subprocess on a free port, until ``stop()``."""

    def __init__(self, ws: Workspace, *extra: str, env: dict[str, str] | None = None) -> None:
        self.ws = ws
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self.urls: list[str] = []
        self._lines = threading.Condition()
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "klbuild",
                "serve",
                str(ws.journeys),
                "--site",
                str(ws.site),
                "--port",
                "0",
                "--no-open",
                *extra,
            ],
            cwd=ws.cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            env={
                **{k: v for k, v in os.environ.items() if not k.startswith("KEYLIGHT_")},
                "PYTHONUNBUFFERED": "1",
                **(env or {}),
            },
        )
        self._readers = [
            threading.Thread(
                target=self._read, args=(self.process.stdout, self.stdout), daemon=True
            ),
            threading.Thread(
                target=self._read, args=(self.process.stderr, self.stderr), daemon=True
            ),
        ]
        for reader in self._readers:
            reader.start()
        self.base = self._wait_for_base_url()

    def _read(self, stream: Any, lines: list[str]) -> None:
        for line in stream:
            with self._lines:
                lines.append(line.rstrip("\n"))
                self._lines.notify_all()

    def _wait_for_base_url(self, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        with self._lines:
            while True:
                for line in self.stdout:
                    match = _SERVING.match(line)
                    if match:
                        # The per-journey URLs follow on the next lines.
                        self._lines.wait_for(lambda: len(self.stdout) > 1, 1.0)
                        self.urls = [
                            m.group(0)
                            for line in self.stdout[1:]
                            for m in [re.search(r"http://\S+", line)]
                            if m
                        ]
                        return match.group(1)
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        "klbuild serve did not start:\n" + "\n".join(self.stdout + self.stderr)
                    )
                self._lines.wait(0.1)

    def wait_for_output(self, pattern: re.Pattern[str], timeout: float = 15.0) -> re.Match[str]:
        """The first match of ``pattern`` in what the server printed, waiting for it."""
        deadline = time.monotonic() + timeout
        with self._lines:
            while True:
                for line in self.stdout + self.stderr:
                    found = pattern.search(line)
                    if found:
                        return found
                left = deadline - time.monotonic()
                if left <= 0 or self.process.poll() is not None:
                    raise AssertionError(
                        f"the server printed nothing like {pattern.pattern!r}:\n"
                        + "\n".join(self.stdout + self.stderr)
                    )
                self._lines.wait(min(left, 0.5))

    def url(self, step: str, key: str = KEY) -> str:
        return f"{self.base}{key}/{step}/"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        for reader in self._readers:
            reader.join(5)
        for stream in (self.process.stdout, self.process.stderr):
            if stream:
                stream.close()


@contextlib.contextmanager
def running(ws: Workspace, *extra: str, env: dict[str, str] | None = None) -> Iterator[Server]:
    server = Server(ws, *extra, env=env)
    try:
        yield server
    finally:
        server.stop()


# -- fixtures ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def module_ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """One copy of the journeys per module, for tests that do not edit files."""
    ws = Workspace(tmp_path_factory.mktemp("shop"))
    return ws


@pytest.fixture(scope="module")
def module_server(request: pytest.FixtureRequest, module_ws: Workspace) -> Iterator[Server]:
    """One dev server per module; a module may add journey files first via ``EXTRA_FILES``."""
    for name, text in getattr(request.module, "EXTRA_FILES", {}).items():
        module_ws.write(name, text)
    with running(module_ws) as server:
        yield server


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    """A fresh copy of the journeys for a test that edits them (and starts its own server)."""
    return Workspace(tmp_path)


@pytest.fixture
def server(ws: Workspace) -> Iterator[Server]:
    with running(ws) as server:
        yield server


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium (scripts/test does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


class PageErrors(list):
    """Uncaught script errors and console errors of a page: a healthy page has none."""


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    """A fresh browser profile (no cookies): a new customer."""
    context = browser.new_context(viewport={"width": 1024, "height": 900})
    context.set_default_timeout(10_000)
    try:
        yield context
    finally:
        context.close()


@pytest.fixture
def page(context: Any) -> Iterator[Any]:
    page = context.new_page()
    errors = PageErrors()
    page.on("pageerror", lambda error: errors.append(f"pageerror: {error}"))

    def on_console(message: Any) -> None:
        # Chromium asks every origin for /favicon.ico; the shop has none.
        if message.type in ("error", "warning") and not message.location.get("url", "").endswith(
            "/favicon.ico"
        ):
            errors.append(f"console.{message.type}: {message.text}")

    page.on("console", on_console)
    page.kl_errors = errors  # type: ignore[attr-defined]
    yield page


def unique_email(prefix: str = "ada") -> str:
    return f"{prefix}-{secrets.token_hex(4)}@example.com"


def strong_password() -> str:
    return "Kl-" + secrets.token_urlsafe(12)


# -- walking a journey as a customer ------------------------------------------------------


def step_of(page: Any) -> str:
    return page.locator("body").get_attribute("data-step")


def wait_for_step(page: Any, step: str, key: str = KEY) -> None:
    """Wait until the browser shows ``step`` and the page script has applied the state."""
    page.wait_for_url(re.compile(rf"/{key}/{step}/(\?.*)?(#.*)?$"))
    wait_for_state(page)


def wait_for_state(page: Any) -> None:
    """The page script puts a csrf_token into every post form once the state has arrived.

    A form the script is sending is marked busy until the next page replaces this one
    (which may be this step's page again, with errors): a page with a busy form is
    still the old one.
    """
    page.wait_for_function(
        """() => !document.querySelector('form[aria-busy="true"]') &&
              Array.from(document.querySelectorAll('form'))
                .filter(f => (f.getAttribute('method') || '').toLowerCase() === 'post')
                .every(f => {
                  const t = f.querySelector('input[name=csrf_token]');
                  return t && t.value;
                })"""
    )


def shot(page: Any, name: str) -> None:
    """Save a full-page screenshot as a test artifact."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def add_product(page: Any, product: str) -> None:
    step, key = step_of(page), page.locator("body").get_attribute("data-journey")
    with page.expect_navigation():  # back to the same step: wait for the new page
        page.locator(f'[data-kl-product="{product}"] button[type=submit]').click()
    wait_for_step(page, step, key)


def buy_starter_and_sign_up(page: Any, product_page: str, password: str = "") -> str:
    """From the example's product page: Starter in the cart, on through the cart, and a
    new account (with ``password``, or a new one); the email it signed up with. The caller
    waits for the step that follows."""
    page.goto(product_page)
    wait_for_step(page, "product-selection")
    add_product(page, "starter")
    press_continue(page)
    wait_for_step(page, "cart")
    press_continue(page)
    wait_for_step(page, "login-or-create-an-account")
    email = unique_email()
    sign_up(page, email, password or strong_password())
    return email


def press_continue(page: Any) -> None:
    page.locator("form.continue button[type=submit]").click()


def order_for_customer(page: Any, server: Server, key: str, customer: str, product: str) -> None:
    """A member of staff, signed in, walks ``key``'s customer_lookup step for
    ``customer`` (found, or created), puts ``product`` in the cart and goes on from the
    cart; the caller waits for the step that follows."""
    page.goto(server.url("customer", key))
    wait_for_step(page, "customer", key)
    page.get_by_label("Customer's email").fill(customer)
    page.get_by_role("button", name="Find or create the customer").click()
    wait_for_step(page, "product-selection", key)
    add_product(page, product)
    page.goto(server.url("cart", key))
    wait_for_step(page, "cart", key)
    press_continue(page)


def sign_up(page: Any, email: str, password: str) -> None:
    form = page.locator('form[data-kl-form="signup"]')
    form.get_by_label("Email").fill(email)
    form.get_by_label("Password").fill(password)
    form.get_by_role("button", name="Create account").click()


def log_in(page: Any, email: str, password: str) -> None:
    form = page.locator('form[data-kl-form="login"]')
    form.get_by_label("Email").fill(email)
    form.get_by_label("Password").fill(password)
    form.get_by_role("button", name="Log in").click()


BILLING = {
    "company": "Analytical Engines Ltd",
    "first_name": "Ada",
    "last_name": "Lovelace",
    "street": "Hauptstrasse 5",
    "postal_code": "10115",
    "city": "Berlin",
}


def fill_billing(page: Any, email: str, values: dict[str, str] | None = None) -> None:
    values = {**BILLING, "email": email, **(values or {})}
    for name, value in values.items():
        page.locator(f'form.step-form [name="{name}"]').fill(value)
    page.locator('form.step-form [name="country"]').select_option("DE")


def submit_step_form(page: Any) -> None:
    page.locator("form.step-form button[type=submit]").click()


def choose_sepa(page: Any, iban: str = VALID_IBAN, holder: str = "Ada Lovelace") -> None:
    page.get_by_role("radio", name="SEPA Direct Debit").check()
    page.get_by_label("Account holder").fill(holder)
    page.get_by_label("IBAN", exact=True).fill(iban)
    page.get_by_label("I agree to the SEPA Direct Debit mandate").check()


def place_order(page: Any) -> None:
    page.get_by_role("button", name="Order and pay").click()


def no_horizontal_scroll(page: Any) -> tuple[int, int]:
    return page.evaluate(
        "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )


def cookie_text(context: Any) -> str:
    """Every cookie's value with signed payloads decoded (itsdangerous: base64, maybe zlib)."""
    import base64
    import zlib

    texts = []
    for cookie in context.cookies():
        value = cookie["value"]
        texts.append(value)
        compressed = value.startswith(".")
        payload = value.lstrip(".").split(".")[0]
        with contextlib.suppress(ValueError, zlib.error):
            raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
            texts.append((zlib.decompress(raw) if compressed else raw).decode("utf-8", "replace"))
    return "\n".join(texts)
