"""Fixtures: the backend served over real HTTP, on SQLite and on PostgreSQL.

Each database kind gets one server for the test session (a fresh SQLite file, or
a fresh PostgreSQL schema dropped afterwards). Tests stay independent by using a
new ``Shopper`` (its own cookies, its own client address) and unique emails.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest
import requests
from aiosmtpd.controller import Controller
from flask import Flask
from serving import free_port, postgres_schema
from sqlalchemy import create_engine
from werkzeug.serving import WSGIRequestHandler, make_server

from klcheckout import create_app, db
from klcheckout.step_views import views_of

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = "k9uscs7vr7"
TEST_JOURNEY = "guestshop1"
SECRETS = ["new-test-secret-" + "n" * 32, "old-test-secret-" + "o" * 32]
#: Cheap argon2 only for tests that are not about hashing (explicit test config).
FAST_ARGON2 = {"time_cost": 1, "memory_cost": 1024, "parallelism": 1}

GUEST_JOURNEY = f'''
name = "Guest shop for tests"
key = "{TEST_JOURNEY}"
business_entity = "acme"
order_channel = "tests"

[[steps]]
name = "Plan"
type = "product_selection"
product_selection = "plans"
unique_selection = true

[[steps]]
name = "Extras"
type = "product_selection"
product_selection = "bulk"

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
methods = ["invoice", "sepa_debit"]

[[steps]]
name = "Confirm"
type = "confirmation"

[[steps]]
name = "Done"
type = "order_done"
external_url = "https://example.com/thanks"
'''


#: The other policies of a plan change than the example's: upgrades at the period's end,
#: downgrades now with a credit.
SWAP_JOURNEY = """
name = "Swap plans"
key = "swap"
subject = "subscription"
business_entity = "acme"

[[steps]]
name = "Plan"
type = "plan_change"
product_selection = "subscription-plans"
upgrade = "period_end"
downgrade = "immediately"

[[steps]]
name = "Confirm"
type = "confirmation"

[[steps]]
name = "Done"
type = "order_done"
"""

#: The other policies of a cancellation: at once, with a cheaper plan offered instead.
LEAVE_JOURNEY = """
name = "Leave now"
key = "leave"
subject = "subscription"
business_entity = "acme"

[[steps]]
name = "Leave"
type = "cancellation"
effective = "immediately"

  [[steps.reasons]]
  id = "too-big"
  label = "It is more than I need"
  offer = "plan:starter"

  [[steps.reasons]]
  id = "other"
  label = "Something else"

[[steps]]
name = "Confirm"
type = "confirmation"

[[steps]]
name = "Done"
type = "order_done"
"""


#: A campaign: the journey's discount on what is ordered in it.
CAMPAIGN_JOURNEY = """
name = "Spring campaign"
key = "campaign"
business_entity = "acme"
discount = "loyal-20"

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
name = "Confirm"
type = "confirmation"
accept_terms = true

[[steps]]
name = "Done"
type = "order_done"
"""


def bulk_catalog(count: int = 150) -> str:
    """Many products with random ids, so a cart can outgrow its cookie (they don't compress)."""
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    ids = ["b" + "".join(secrets.choice(alphabet) for _ in range(40)) for _ in range(count)]
    parts = [
        f'[[products]]\nid = "{pid}"\nname = "Bulk {i}"\nprice = "1.00"\n'
        f'billing = "one_time"\ntax_rate = "7"\n'
        for i, pid in enumerate(ids)
    ]
    ids_list = ", ".join(f'"{pid}"' for pid in ids)
    parts.append(f'[[product_selections]]\nid = "bulk"\nname = "Bulk"\nproducts = [{ids_list}]\n')
    return "\n".join(parts)


def example_with_guest(root: Path) -> Path:
    """The example's journeys copied to ``root`` with the guest journey (``TEST_JOURNEY``)
    and the products it sells: where a module that serves its own shop starts."""
    shutil.copytree(REPO / "journeys", root)
    with open(root / "catalog.toml", "a") as handle:
        handle.write("\n" + bulk_catalog(3))
    (root / "guestshop.toml").write_text(GUEST_JOURNEY)
    return root


@pytest.fixture(scope="session")
def journeys_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the example journeys plus a guest journey; the repo's files are never written."""
    root = tmp_path_factory.mktemp("journeys") / "journeys"
    shutil.copytree(REPO / "journeys", root)
    with open(root / "catalog.toml", "a") as handle:
        handle.write("\n" + bulk_catalog())
    (root / "guestshop.toml").write_text(GUEST_JOURNEY)
    (root / "swap.toml").write_text(SWAP_JOURNEY)
    (root / "leave.toml").write_text(LEAVE_JOURNEY)
    (root / "campaign.toml").write_text(CAMPAIGN_JOURNEY)
    return root


@pytest.fixture(scope="session", autouse=True)
def clean_environment() -> Iterator[None]:
    """Tests configure the app explicitly; a developer's KEYLIGHT_* must not leak in."""
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith("KEYLIGHT_") and name != "KEYLIGHT_TEST_POSTGRES":
                patch.delenv(name)
        yield


@dataclass
class Backend:
    kind: str
    url: str
    database_url: str
    app: Flask
    config: dict[str, Any]

    @property
    def engine(self) -> Any:
        return self.app.extensions["keylight_db"]

    def shopper(self, journey: str = EXAMPLE) -> Shopper:
        return Shopper(self.url, journey)


class QuietHandler(WSGIRequestHandler):
    """No access log: hundreds of request lines would bury a failure's output."""

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


@dataclass
class Served:
    url: str
    stop: Any


#: How often a served app's loop looks for ``stop``: socketserver checks for a shutdown
#: between waits for a connection, by default every half second, which each test that
#: serves an app of its own paid again at its end.
STOP_POLL = 0.05


def serve(app: Flask) -> Served:
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, args=(STOP_POLL,), daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(5)

    return Served(f"http://127.0.0.1:{server.server_port}", stop)


def base_config(tmp: Path, journeys: Path, database_url: str) -> dict[str, Any]:
    return {
        "KEYLIGHT_JOURNEYS": str(journeys),
        "KEYLIGHT_INSTANCE": str(tmp / "instance"),
        "KEYLIGHT_DATABASE_URL": database_url,
        "KEYLIGHT_SECRET_KEYS": list(SECRETS),
        "KEYLIGHT_ARGON2": FAST_ARGON2,
        # Each Shopper sends its own X-Forwarded-For, so per-address limits stay per test.
        "KEYLIGHT_TRUSTED_PROXIES": 1,
        "KEYLIGHT_LOGIN_LIMIT": "5 per 10 minutes",
    }


def close_app(app: Flask) -> None:
    """Write the app's step views still in memory, then close its connections: a test's
    PostgreSQL schema is dropped next, and a count written after that would fail."""
    views_of(app).flush()
    app.extensions["keylight_db"].dispose()


@contextlib.contextmanager
def database(kind: str, tmp: Path) -> Iterator[str]:
    """A fresh, empty database of ``kind``; removed afterwards (PostgreSQL: its own schema)."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp / 'keylight.sqlite3'}"
        return
    with postgres_schema() as url:
        yield url


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def backend(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, journeys_dir: Path
) -> Iterator[Backend]:
    """The app served over HTTP on 127.0.0.1, once per database kind."""
    tmp = tmp_path_factory.mktemp(request.param)
    with database(request.param, tmp) as database_url:
        with served_backend(request.param, base_config(tmp, journeys_dir, database_url)) as up:
            yield up


@contextlib.contextmanager
def served_backend(kind: str, config: dict[str, Any]) -> Iterator[Backend]:
    """The app made from ``config``, served over HTTP on 127.0.0.1 until the block ends,
    then closed (its last step views written) before its database goes."""
    app = create_app(config)
    served = serve(app)
    try:
        yield Backend(kind, served.url, config["KEYLIGHT_DATABASE_URL"], app, config)
    finally:
        served.stop()
        close_app(app)


class Shopper:
    """A browser stand-in: its own cookies and client address, the page's Origin and token."""

    def __init__(self, base: str, journey: str) -> None:
        self.base = base
        self.journey = journey
        self.http = requests.Session()
        self.http.headers["Origin"] = base
        self.http.headers["X-Forwarded-For"] = (
            f"10.{secrets.randbelow(250)}.{secrets.randbelow(250)}.{secrets.randbelow(250)}"
        )
        self.csrf = ""

    def close(self) -> None:
        self.http.close()

    def state(self, step: str | None = None) -> dict[str, Any]:
        response = self.http.get(
            f"{self.base}/{self.journey}/state", params={"step": step} if step else None
        )
        assert response.status_code == 200, response.text
        assert response.headers["Cache-Control"] == "no-store"
        body = response.json()
        self.csrf = body["csrf_token"]
        return body

    def post(
        self,
        path: str,
        data: dict[str, Any] | None = None,
        *,
        json: bool = False,
        csrf: bool = True,
        **kwargs: Any,
    ) -> requests.Response:
        if csrf and not self.csrf:
            self.state()
        form = dict(data or {})
        if csrf:
            form.setdefault("csrf_token", self.csrf)
        headers = kwargs.pop("headers", {})
        if json:
            headers["Accept"] = "application/json"
        response = self.http.post(
            f"{self.base}/{self.journey}/{path}",
            data=form,
            headers=headers,
            allow_redirects=False,
            **kwargs,
        )
        if response.status_code == 303:
            self.csrf = ""  # a browser loads the next page, which asks for the state again
        elif json and response.headers.get("Content-Type", "").startswith("application/json"):
            self.csrf = response.json().get("csrf_token") or self.csrf  # as the page script does
        return response

    def step(
        self, step: str, data: dict[str, Any] | None = None, **kwargs: Any
    ) -> requests.Response:
        return self.post(f"steps/{step}", data, **kwargs)

    def add(
        self,
        product: str,
        quantity: Any = 1,
        step: str = "product-selection",
        extra: dict[str, Any] | None = None,
        **kw: Any,
    ) -> requests.Response:
        data = {"product": product, "quantity": quantity, "step": step, **(extra or {})}
        return self.post("cart/add", data, **kw)


@pytest.fixture
def shopper(backend: Backend) -> Iterator[Shopper]:
    person = backend.shopper()
    yield person
    person.close()


@pytest.fixture
def guest(backend: Backend) -> Iterator[Shopper]:
    person = backend.shopper(TEST_JOURNEY)
    yield person
    person.close()


def up_to_confirmation(guest: Shopper, email: str) -> None:
    """A guest of ``TEST_JOURNEY`` through every step before confirmation."""
    guest.add("starter", step="plan")
    guest.step("cart")
    guest.step("account", {"action": "guest", "email": email})
    guest.step("billing", {**BILLING, "email": email})
    guest.step("payment", {"method": "invoice"})


def unique_email() -> str:
    return f"ada-{uuid.uuid4().hex[:10]}@example.com"


BILLING = {
    "company": "Analytical Engines Ltd",
    "first_name": "Ada",
    "last_name": "Lovelace",
    "email": "ada@example.com",
    "street": "1 Engine Road",
    "postal_code": "10115",
    "city": "Berlin",
    "country": "DE",
    "vat_id": "",
}
GOOD_IBAN = "DE89 3704 0044 0532 0130 00"


def head_revision() -> str:
    """The newest migration's revision, read from the migration scripts."""
    from alembic.script import ScriptDirectory

    with create_engine("sqlite://").connect() as connection:
        script = ScriptDirectory.from_config(db.alembic_config(connection))
    head = script.get_current_head()
    assert head is not None
    return head


class Mailbox:
    """What a real SMTP server (aiosmtpd) received; ``port`` is where it listens."""

    def __init__(self) -> None:
        self.messages: list[Any] = []
        self.port = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append(envelope)
        return "250 OK"

    def to(self, email: str) -> list[Any]:
        """The messages to ``email``, parsed."""
        return [
            message_from_bytes(m.content, policy=default_policy)
            for m in self.messages
            if email in m.rcpt_tos
        ]


@pytest.fixture(scope="module")
def mailbox() -> Iterator[Mailbox]:
    """A real SMTP server for the module's backend (``smtp_settings``)."""
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    box.port = controller.port
    yield box
    controller.stop()


def smtp_settings(mailbox: Mailbox) -> dict[str, Any]:
    """A backend's settings that send its emails to ``mailbox``."""
    return {
        "KEYLIGHT_SMTP_HOST": "127.0.0.1",
        "KEYLIGHT_SMTP_PORT": mailbox.port,
        "KEYLIGHT_SMTP_TLS": "none",
        "KEYLIGHT_SMTP_FROM": "Shop <shop@example.com>",
    }
