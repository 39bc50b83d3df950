"""Hooks against real parts: an HTTP receiver on 127.0.0.1, an SMTP server (aiosmtpd),
an entry point of an installed distribution, and a backend process that is killed."""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from email import message_from_bytes
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from aiosmtpd.controller import Controller
from checkout_helpers import (
    BILLING,
    EXAMPLE,
    GUEST_JOURNEY,
    REPO,
    STOP_POLL,
    Shopper,
    base_config,
    close_app,
    database,
    serve,
    unique_email,
)
from click.testing import CliRunner
from sqlalchemy import func, select, update

from klcheckout import clock, create_app, hooks, subscriptions, tables
from klcheckout.cli import cli
from klcheckout.hooks import delivery, outbox, validation
from klcheckout.hooks import events as hook_events
from klcheckout.settings import SettingsError
from klcheckout.tables import events, orders

SECRET = "whsec-test-" + "s" * 24
SITE: list[str] = []
KEY = "hookshop1"


class Receiver:
    """An HTTP receiver in a thread that verifies signatures and answers as told."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        #: Per path: statuses to answer with, first first (then 200).
        self.statuses: dict[str, list[int]] = {}
        #: Per path: a JSON answer, or "hang" to never answer.
        self.answers: dict[str, Any] = {}
        self.port = _free_port()
        self.server: ThreadingHTTPServer | None = None
        self.release = threading.Event()
        self.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                signed = hooks.verify(SECRET, body, self.headers.get(hooks.SIGNATURE_HEADER, ""))
                receiver.received.append(
                    {"path": self.path, "event": json.loads(body), "verified": signed}
                )
                answer = receiver.answers.get(self.path)
                if answer == "hang":
                    receiver.release.wait(10)
                    return
                queue = receiver.statuses.get(self.path) or []
                status = queue.pop(0) if queue else 200
                payload = json.dumps(answer if answer is not None else {"ok": True}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, args=(STOP_POLL,), daemon=True).start()

    def stop(self) -> None:
        assert self.server is not None
        self.server.shutdown()
        self.server.server_close()

    def events(self, path: str) -> list[dict[str, Any]]:
        return [r["event"] for r in self.received if r["path"] == path]


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append(envelope)
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


HOOKS = """
[[hooks]]
type = "webhook"
event = "order_placed"
url = "{url}/orders"
secret_env = "KEYLIGHT_TEST_HOOK_SECRET"

[[hooks]]
type = "email"
subject = "Your order {{order_number}}"

[[hooks]]
type = "python"
event = "order_placed"
function = "keylight_test_record"

[[hooks]]
type = "webhook"
event = "account_created"
url = "{url}/accounts"
secret_env = "KEYLIGHT_TEST_HOOK_SECRET"
"""

#: Validate and step_completed hooks on the Billing form step.
BILLING_HOOKS = """
[[steps.hooks]]
type = "validate"
url = "{url}/validate"
secret_env = "KEYLIGHT_TEST_HOOK_SECRET"
timeout = 0.5
on_error = "{policy}"

[[steps.hooks]]
type = "webhook"
event = "step_completed"
url = "{url}/steps"
secret_env = "KEYLIGHT_TEST_HOOK_SECRET"
when = "answers.country == 'DE'"
"""


def hook_journey(url: str, policy: str = "refuse", key: str = KEY) -> str:
    text = GUEST_JOURNEY.replace('key = "guestshop1"', f'key = "{key}"')
    extras = '[[steps]]\nname = "Extras"\ntype = "product_selection"\nproduct_selection = "bulk"\n'
    assert extras in text
    text = text.replace(extras, "")  # the bulk catalog is only in the shared test journeys
    billing = 'form_target = "sold_to_account"\n'
    text = text.replace(billing, billing + BILLING_HOOKS.format(url=url, policy=policy), 1)
    return text + HOOKS.format(url=url)


@pytest.fixture(scope="module")
def entry_point(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[dict[str, Any]]]:
    """An installed distribution registering ``keylight_test_record`` in keylight.hooks."""
    site = tmp_path_factory.mktemp("site")
    (site / "keylight_test_hooks.py").write_text(
        "RECEIVED = []\n\ndef record(event):\n    RECEIVED.append(event)\n"
    )
    info = site / "keylight_test_hooks-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: keylight-test-hooks\nVersion: 1.0\n"
    )
    (info / "entry_points.txt").write_text(
        "[keylight.hooks]\nkeylight_test_record = keylight_test_hooks:record\n"
    )
    sys.path.insert(0, str(site))
    SITE.append(str(site))  # for the backend started as a separate process
    importlib.invalidate_caches()
    module = importlib.import_module("keylight_test_hooks")
    yield module.RECEIVED
    sys.path.remove(str(site))


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.release.set()
    found.stop()


@pytest.fixture(scope="module")
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=_free_port())
    controller.start()
    yield box, controller.port
    controller.stop()


@pytest.fixture(scope="module", autouse=True)
def hook_secret() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("KEYLIGHT_TEST_HOOK_SECRET", SECRET)
        yield


#: A plan change journey whose hooks hear the changes made in it, when they are to Pro.
PLAN_HOOKS = """
name = "Plan change with hooks"
key = "hookplan"
subject = "subscription"
business_entity = "acme"

[[steps]]
name = "Plan"
type = "plan_change"
product_selection = "subscription-plans"

[[steps]]
name = "Confirm"
type = "confirmation"

[[steps]]
name = "Done"
type = "order_done"

[[hooks]]
type = "webhook"
event = "subscription_changed"
url = "{url}/plan-changed"
secret_env = "KEYLIGHT_TEST_HOOK_SECRET"
when = "subscription.product == 'pro'"
"""


def fast(config: dict[str, Any], smtp_port: int) -> dict[str, Any]:
    return {
        **config,
        "KEYLIGHT_HOOK_BACKOFF": (0.01, 0.05),
        "KEYLIGHT_HOOK_LEASE": 30.0,
        "KEYLIGHT_HOOK_MAX_ATTEMPTS": 3,
        "KEYLIGHT_SMTP_HOST": "127.0.0.1",
        "KEYLIGHT_SMTP_PORT": smtp_port,
        "KEYLIGHT_SMTP_TLS": "none",
        "KEYLIGHT_SMTP_FROM": "Shop <shop@example.com>",
    }


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def shop(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    receiver: Receiver,
    mailbox: tuple[Mailbox, int],
    entry_point: list[dict[str, Any]],
) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("hooks-" + request.param)
    journeys = tmp / "journeys"
    shutil.copytree(REPO / "journeys", journeys)
    (journeys / "hookshop.toml").write_text(hook_journey(receiver.url))
    (journeys / "hookplan.toml").write_text(PLAN_HOOKS.format(url=receiver.url))
    with database(request.param, tmp) as database_url:
        config = fast(base_config(tmp, journeys, database_url), mailbox[1])
        app = create_app(config)
        served = serve(app)
        try:
            yield {"app": app, "url": served.url, "config": config, "tmp": tmp}
        finally:
            served.stop()
            close_app(app)


def webhook(url: str, path: str, event: str = "step_completed", table: str = "hooks") -> str:
    """A webhook for ``event`` to ``path`` on the receiver: journey-level (``hooks``), or
    ``steps.hooks`` to go under the step it follows in the file."""
    return (
        f'\n[[{table}]]\ntype = "webhook"\nevent = "{event}"\n'
        f'url = "{url}{path}"\nsecret_env = "KEYLIGHT_TEST_HOOK_SECRET"\n'
    )


@contextlib.contextmanager
def hook_shop(tmp_path: Path, journey: str) -> Iterator[tuple[Any, str]]:
    """The example shop plus ``journey`` as hookshop.toml, served on SQLite: (app, URL)."""
    journeys = tmp_path / "journeys"
    shutil.copytree(REPO / "journeys", journeys)
    (journeys / "hookshop.toml").write_text(journey)
    app = create_app(base_config(tmp_path, journeys, f"sqlite:///{tmp_path / 'k.sqlite3'}"))
    served = serve(app)
    try:
        yield app, served.url
    finally:
        served.stop()
        close_app(app)


@contextlib.contextmanager
def step_events_failing(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """While the block runs, writing a ``step_completed`` event fails (others still work)."""
    real = hook_events.enqueue

    def failing(connection: Any, journey: Any, event_type: str, *args: Any, **kw: Any) -> Any:
        if event_type == "step_completed":
            raise RuntimeError("the outbox is full")
        return real(connection, journey, event_type, *args, **kw)

    monkeypatch.setattr(hook_events, "enqueue", failing)
    try:
        yield
    finally:
        monkeypatch.setattr(hook_events, "enqueue", real)


def place_order(url: str, email: str, country: str = "DE") -> str:
    person = Shopper(url, KEY)
    person.http.headers["Origin"] = url.removesuffix("/api")  # an origin has no path
    try:
        person.add("starter", step="plan")
        person.step("cart")
        person.step("account", {"action": "guest", "email": email})
        billing = person.step("billing", {**BILLING, "email": email, "country": country})
        assert billing.headers.get("Location", "").endswith("/payment/"), billing.text[:2000]
        person.step("payment", {"method": "invoice"})
        done = person.step("confirm", {"confirm_token": "hooks-" + email})
        assert done.status_code == 303, done.text
        return person.state("done")["order"]["number"]
    finally:
        person.close()


def deliveries(app: Any, event_id: str) -> list[Any]:
    with app.extensions["keylight_db"].connect() as connection:
        return list(connection.execute(select(events).where(events.c.event_id == event_id)))


def order_events(receiver: Receiver, email: str) -> list[dict[str, Any]]:
    return [e for e in receiver.events("/orders") if e["data"]["order"]["email"] == email]


def test_order_placed_reaches_webhook_email_and_python_hook(
    shop: dict[str, Any],
    receiver: Receiver,
    mailbox: tuple[Mailbox, int],
    entry_point: list[dict[str, Any]],
) -> None:
    email = unique_email()
    number = place_order(shop["url"], email)
    assert order_events(receiver, email) == []  # nothing is sent from the request itself
    outbox.run_once(shop["app"])

    [event] = order_events(receiver, email)
    assert event["type"] == "order_placed" and event["id"].startswith("evt_")
    assert event["journey"] == {
        "key": KEY,
        "name": "Guest shop for tests",
        "order_channel": "tests",
    }
    assert event["data"]["order"]["number"] == number
    assert event["data"]["order"]["lines"][0]["product"] == "starter"
    assert [r["verified"] for r in receiver.received if r["event"]["id"] == event["id"]] == [True]

    [python_event] = [e for e in entry_point if e["id"] == event["id"]]
    assert python_event["data"]["order"]["number"] == number

    [mail] = [m for m in mailbox[0].messages if email in m.rcpt_tos]
    message = message_from_bytes(mail.content, policy=default_policy)
    assert message["Subject"] == f"Your order {number}"
    assert message.get_body(("html",)) is not None
    text = message.get_body(("plain",)).get_content()
    # Each billing period with the tax it includes, formatted in the order's language;
    # nothing is due now for a monthly plan.
    assert "Monthly: €9.90 / month (including tax: €1.58 (19 %))" in text
    assert "Due now" not in text and "Payment: Invoice" in text
    # The contract's content: who sells, under which terms.
    assert "Seller: Acme GmbH, Hauptstrasse 1, 10115 Berlin, Germany" in text
    assert "Terms and conditions: https://shop.example.com/terms" in text
    assert event["data"]["seller"]["withdrawal_url"] == "https://shop.example.com/withdrawal"
    assert number in text

    rows = deliveries(shop["app"], event["id"])
    assert sorted(r.hook["type"] for r in rows) == ["email", "python", "webhook"]
    assert {(r.status, r.attempts) for r in rows} == {("delivered", 1)}


def test_step_completed_follows_when_and_validate_answers(
    shop: dict[str, Any], receiver: Receiver
) -> None:
    email = unique_email()
    receiver.answers["/validate"] = {"errors": {"vat_id": "This VAT id is not registered."}}
    person = Shopper(shop["url"], KEY)
    try:
        person.add("starter", step="plan")
        person.step("cart")
        person.step("account", {"action": "guest", "email": email})
        refused = person.step("billing", {**BILLING, "email": email}, json=True)
        assert refused.status_code == 422
        assert refused.json()["errors"] == {"vat_id": "This VAT id is not registered."}
        [asked] = [
            e for e in receiver.events("/validate") if e["data"]["answers"]["email"] == email
        ]
        assert asked["type"] == "validate" and asked["data"]["step"]["id"] == "billing"

        receiver.answers["/validate"] = {"ok": True}
        accepted = person.step("billing", {**BILLING, "email": email}, json=True)
        assert accepted.status_code == 200 and accepted.json()["ok"], accepted.text
        # when = "answers.country == 'DE'": a second customer from France gets no event.
    finally:
        person.close()
        receiver.answers.pop("/validate", None)
    outbox.run_once(shop["app"])
    [completed] = [e for e in receiver.events("/steps") if e["data"]["customer"]["email"] == email]
    assert completed["data"]["step"]["id"] == "billing"
    assert completed["data"]["answers"]["country"] == "DE"

    other = unique_email()
    place_order(shop["url"], other, country="FR")
    outbox.run_once(shop["app"])
    assert not [e for e in receiver.events("/steps") if e["data"]["customer"]["email"] == other]


def test_a_steps_answers_and_its_event_are_saved_together(
    shop: dict[str, Any], receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If the event cannot be written, neither are the answers: no step without its event."""
    email = unique_email()
    person = Shopper(shop["url"], KEY)

    def saved_billing() -> list[Any]:
        with shop["app"].extensions["keylight_db"].connect() as connection:
            rows = list(connection.execute(select(tables.checkouts)))
        return [r for r in rows if (r.answers or {}).get("billing", {}).get("email") == email]

    try:
        person.add("starter", step="plan")
        person.step("cart")
        person.step("account", {"action": "guest", "email": email})
        with step_events_failing(monkeypatch):
            broken = person.step("billing", {**BILLING, "email": email}, json=True)
        assert broken.status_code == 500 and "Traceback" not in broken.text
        assert saved_billing() == []
        again = person.step("billing", {**BILLING, "email": email}, json=True)
        assert again.status_code == 200, again.text
        assert len(saved_billing()) == 1
    finally:
        person.close()
    outbox.run_once(shop["app"])
    [completed] = [e for e in receiver.events("/steps") if e["data"]["customer"]["email"] == email]
    assert completed["data"]["answers"]["email"] == email


@pytest.mark.parametrize(
    ("answer", "status"),
    [("hang", 200), ({"errors": ["not", "a", "dict"]}, 200), ({"ok": True}, 500)],
    ids=["hangs", "wrong-shape", "500"],
)
def test_validate_failures_follow_the_refuse_policy(
    shop: dict[str, Any], receiver: Receiver, answer: Any, status: int
) -> None:
    receiver.answers["/validate"] = answer
    receiver.statuses["/validate"] = [status]
    person = Shopper(shop["url"], KEY)
    try:
        person.add("starter", step="plan")
        person.step("cart")
        person.step("account", {"action": "guest", "email": unique_email()})
        started = time.monotonic()
        refused = person.step("billing", BILLING, json=True)
        assert time.monotonic() - started < 3  # timeout = 0.5 bounds the call
        assert refused.status_code == 422
        assert refused.json()["errors"] == {"_form": validation.UNAVAILABLE}
    finally:
        person.close()
        receiver.answers.pop("/validate", None)
        receiver.statuses.pop("/validate", None)


def test_validate_accept_policy_lets_the_step_through(
    tmp_path: Path, journeys_dir: Path, receiver: Receiver, entry_point: Any
) -> None:
    journeys = tmp_path / "journeys"
    shutil.copytree(REPO / "journeys", journeys)
    (journeys / "hookshop.toml").write_text(hook_journey(receiver.url, policy="accept"))
    config = base_config(tmp_path, journeys, f"sqlite:///{tmp_path / 'k.sqlite3'}")
    app = create_app(config)
    served = serve(app)
    receiver.answers["/validate"] = "hang"
    person = Shopper(served.url, KEY)
    try:
        person.add("starter", step="plan")
        person.step("cart")
        person.step("account", {"action": "guest", "email": unique_email()})
        accepted = person.step("billing", BILLING, json=True)
        assert accepted.status_code == 200 and accepted.json()["ok"], accepted.text
    finally:
        person.close()
        receiver.answers.pop("/validate", None)
        served.stop()
        close_app(app)


def test_validate_hooks_guard_other_steps_too(
    tmp_path: Path, receiver: Receiver, entry_point: Any
) -> None:
    """A stock check on the cart: the receiver sees the cart and can refuse the step."""
    journeys = tmp_path / "journeys"
    shutil.copytree(REPO / "journeys", journeys)
    stock = (
        f'[[steps.hooks]]\ntype = "validate"\nurl = "{receiver.url}/stock"\n'
        'secret_env = "KEYLIGHT_TEST_HOOK_SECRET"\ntimeout = 0.5\n'
    )
    text = hook_journey(receiver.url)
    cart = 'name = "Cart"\ntype = "order"\n'
    assert cart in text
    (journeys / "hookshop.toml").write_text(text.replace(cart, cart + stock, 1))
    app = create_app(base_config(tmp_path, journeys, f"sqlite:///{tmp_path / 'k.sqlite3'}"))
    served = serve(app)
    receiver.answers["/stock"] = {"errors": {"_form": "Starter is sold out."}}
    person = Shopper(served.url, KEY)
    try:
        person.add("starter", step="plan")
        refused = person.step("cart", json=True)
        assert refused.status_code == 422
        assert refused.json()["errors"] == {"_form": "Starter is sold out."}
        [asked] = receiver.events("/stock")[-1:]
        assert asked["data"]["step"]["id"] == "cart"
        assert asked["data"]["cart"] == [{"product": "starter", "quantity": 1}]
        receiver.answers["/stock"] = {"ok": True}
        accepted = person.step("cart", json=True)
        assert accepted.status_code == 200 and accepted.json()["ok"], accepted.text
    finally:
        person.close()
        receiver.answers.pop("/stock", None)
        served.stop()
        close_app(app)


def test_retries_after_500_and_while_the_receiver_is_down_then_fails_and_resends(
    shop: dict[str, Any], receiver: Receiver
) -> None:
    app = shop["app"]
    email = unique_email()
    receiver.statuses["/orders"] = [500]
    place_order(shop["url"], email)
    outbox.run_once(app)
    [first] = [r for r in receiver.received if r["path"] == "/orders"][-1:]
    event_id = first["event"]["id"]
    [webhook] = [r for r in deliveries(app, event_id) if r.hook["type"] == "webhook"]
    assert (webhook.status, webhook.attempts) == ("pending", 1)
    assert "answered 500" in webhook.last_error

    receiver.stop()  # the receiver is down: attempts 2 and 3 fail, then the row is failed
    try:
        for _ in range(40):
            outbox.run_once(app)
            [webhook] = [r for r in deliveries(app, event_id) if r.hook["type"] == "webhook"]
            if webhook.status == "failed":
                break
            time.sleep(0.02)
        assert (webhook.status, webhook.attempts) == ("failed", 3)
        assert "could not reach" in webhook.last_error
    finally:
        receiver.start()

    env = cli_env(shop)
    listed = CliRunner().invoke(cli, ["events", "list", "--status", "failed"], env=env)
    assert listed.exit_code == 0, listed.output
    assert event_id in listed.output and "attempts=3" in listed.output
    resent = CliRunner().invoke(cli, ["events", "resend", event_id], env=env)
    assert resent.exit_code == 0, resent.output
    outbox.run_once(app)
    assert len(order_events(receiver, email)) == 2  # the 500 answer and the resent one
    assert {r.status for r in deliveries(app, event_id)} == {"delivered"}
    missing = CliRunner().invoke(cli, ["events", "resend", "evt_nope"], env=env)
    assert missing.exit_code == 1 and "no event 'evt_nope'" in missing.output


def test_a_claimed_delivery_is_not_claimed_again_until_its_lease_ends(
    shop: dict[str, Any], receiver: Receiver
) -> None:
    app = shop["app"]
    place_order(shop["url"], unique_email())
    engine = app.extensions["keylight_db"]
    token, rows = outbox.claim(engine, lease=30)
    assert rows
    assert outbox.claim(engine, lease=30)[1] == []  # another worker finds nothing due
    with engine.begin() as connection:  # the first worker died: its lease ran out
        connection.execute(
            update(events).where(events.c.claim == token).values(locked_until=rows[0].created_at)
        )
    again_token, again = outbox.claim(engine, lease=30)
    assert {r.id for r in again} == {r.id for r in rows}
    assert all(r.attempts == 2 for r in again)
    for row in again:
        outbox.finish(engine, row, token, None, app.config)  # the dead worker's claim: ignored
    assert {r.status for r in deliveries(app, again[0].event_id)} == {"sending"}
    for row in again:
        outbox.finish(engine, row, again_token, None, app.config)
    assert {r.status for r in deliveries(app, again[0].event_id)} == {"delivered"}


def test_step_completed_only_for_steps_really_completed(
    tmp_path: Path, receiver: Receiver, entry_point: Any
) -> None:
    """Not for a step its condition passes over, nor for a confirmation sent twice."""
    every_step = webhook(receiver.url, "/every-step")
    text = hook_journey(receiver.url)
    cart = 'name = "Cart"\ntype = "order"\n'
    assert cart in text
    text = text.replace(cart, cart + 'when = "cart.quantity > 5"\n', 1)  # passed over here
    email = unique_email()
    with hook_shop(tmp_path, text + every_step) as (app, url):
        person = Shopper(url, KEY)
        try:
            person.add("starter", step="plan")
            assert person.step("plan").status_code == 303
            assert person.step("cart").headers["Location"].endswith("/account/")  # sent on
            person.step("account", {"action": "guest", "email": email})
            person.step("billing", {**BILLING, "email": email})
            person.step("payment", {"method": "invoice"})
            confirm = {"confirm_token": "twice-" + email}
            person.state("confirm")
            assert person.step("confirm", confirm).status_code == 303
            person.csrf = ""
            assert person.step("confirm", confirm).status_code == 303  # the same order again
        finally:
            person.close()
        outbox.run_once(app)
    completed = receiver.events("/every-step")  # this test's path
    steps = [e["data"]["step"]["id"] for e in completed]
    assert steps == ["plan", "account", "billing", "payment", "confirm"]  # no cart, one confirm
    # The confirmation's event tells of the checkout the order was placed for.
    assert completed[-1]["data"]["customer"] == {"email": email, "signed_in": False, "guest": True}
    assert completed[-1]["data"]["checkout_id"] == completed[-2]["data"]["checkout_id"]


def test_a_sign_in_and_its_step_completed_are_saved_together(
    tmp_path: Path, receiver: Receiver, entry_point: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    email = unique_email()
    signup = {"action": "signup", "email": email, "password": "a long passphrase"}
    journey = hook_journey(receiver.url) + webhook(receiver.url, "/signed-steps")
    with hook_shop(tmp_path, journey) as (app, url):
        person = Shopper(url, KEY)
        try:
            person.add("starter", step="plan")
            person.step("cart")
            with step_events_failing(monkeypatch):
                assert person.step("account", signup).status_code == 500
            assert person.state("account")["customer"] is None  # no sign-in without its event
            assert person.step("account", signup).headers["Location"].endswith("/billing/")
            assert person.state("billing")["customer"]["email"] == email
        finally:
            person.close()
        outbox.run_once(app)
    [event] = [e for e in receiver.events("/signed-steps") if e["data"]["step"]["id"] == "account"]
    assert event["data"]["customer"] == {"email": email, "signed_in": True, "guest": False}


def test_an_order_placed_hook_on_the_confirmation_step_is_sent(
    tmp_path: Path, receiver: Receiver, entry_point: Any
) -> None:
    """A step's hooks hear of the events at that step: ``order_placed`` happens at the
    confirmation step (it was once recorded against the journey's last step instead)."""
    text = hook_journey(receiver.url)
    confirm = 'name = "Confirm"\ntype = "confirmation"\n'
    assert confirm in text
    on_confirm = webhook(receiver.url, "/confirm-step", "order_placed", "steps.hooks") + "\n"
    with hook_shop(tmp_path, text.replace(confirm, confirm + on_confirm, 1)) as (app, url):
        number = place_order(url, unique_email())
        outbox.run_once(app)
    [event] = receiver.events("/confirm-step")
    assert event["type"] == "order_placed"
    assert event["data"]["order"]["number"] == number


def test_each_subscription_of_an_order_is_announced(
    tmp_path: Path, receiver: Receiver, entry_point: Any
) -> None:
    subscribed = webhook(receiver.url, "/subscribed", "subscription_created")
    renewed = webhook(receiver.url, "/renewed", "subscription_renewed")
    email = unique_email()
    with hook_shop(tmp_path, hook_journey(receiver.url) + subscribed + renewed) as (app, url):
        number = place_order(url, email)
        shop = app.extensions["keylight"].shop
        engine = app.extensions["keylight_db"]
        # As if it had been ordered on the pages of another language: the renewal, which
        # no customer asks for, is announced in that language all the same.
        with engine.begin() as connection:
            connection.execute(
                update(orders).where(orders.c.number == number).values(locale="de-DE")
            )
        a_month_later = clock.now() + timedelta(days=32)
        applied = subscriptions.apply_due(engine, shop, a_month_later)
        outbox.run_once(app)
    [(public_id, action)] = applied
    assert action == "renewed"
    [renewal] = receiver.events("/renewed")
    assert renewal["locale"] == "de-DE"
    assert renewal["data"]["action"] == "renewed"
    assert renewal["data"]["subscription"]["public_id"] == public_id
    [event] = receiver.events("/subscribed")
    assert event["locale"] == "en-US"  # the language of the pages it was ordered on
    assert event["data"]["order_number"] == number
    subscription = event["data"]["subscription"]
    assert (subscription["product"], subscription["status"], subscription["email"]) == (
        "starter",
        "active",
        email,
    )
    assert subscription["public_id"].startswith("sub_")


def test_a_worker_claims_one_delivery_at_a_time(
    shop: dict[str, Any], receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While one slow receiver is being waited for, the other deliveries stay claimable."""
    app = shop["app"]
    place_order(shop["url"], unique_email())  # a webhook, an email and a Python hook
    engine = app.extensions["keylight_db"]
    sending: list[int] = []

    def observe(app: Any, row: Any) -> None:
        with engine.connect() as connection:
            sending.append(
                connection.execute(
                    select(func.count()).select_from(events).where(events.c.status == "sending")
                ).scalar_one()
            )

    monkeypatch.setattr(delivery, "deliver", observe)
    assert outbox.run_once(app) >= 3
    assert sending and set(sending) == {1}


def cli_env(shop: dict[str, Any]) -> dict[str, str]:
    config = shop["config"]
    return {
        "KEYLIGHT_JOURNEYS": config["KEYLIGHT_JOURNEYS"],
        "KEYLIGHT_INSTANCE": config["KEYLIGHT_INSTANCE"],
        "KEYLIGHT_DATABASE_URL": config["KEYLIGHT_DATABASE_URL"],
        "KEYLIGHT_SECRET_KEYS": ",".join(config["KEYLIGHT_SECRET_KEYS"]),
    }


def test_no_event_is_lost_when_the_backend_is_killed_before_delivery(
    shop: dict[str, Any], receiver: Receiver
) -> None:
    env = {**os.environ, **cli_env(shop), "KEYLIGHT_TRUSTED_PROXIES": "1"}
    env["PYTHONPATH"] = os.pathsep.join(SITE + [env.get("PYTHONPATH", "")])
    port = _free_port()
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "klcheckout"), "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        base = f"http://127.0.0.1:{port}/api"
        for _ in range(100):
            try:
                requests.get(f"{base}/{KEY}/state", timeout=1)
                break
            except requests.ConnectionError:
                assert process.poll() is None, process.communicate()[1].decode()
                time.sleep(0.1)
        email = unique_email()
        number = place_order(base, email)
    finally:
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=10)
    assert order_events(receiver, email) == []
    outbox.run_once(shop["app"])  # the worker, in another process than the killed backend
    [event] = order_events(receiver, email)
    assert event["data"]["order"]["number"] == number


def test_signature_verification(receiver: Receiver) -> None:
    body = b'{"id":"evt_1"}'
    header = hooks.sign(SECRET, body)
    assert hooks.verify(SECRET, body, header)
    assert not hooks.verify("another-secret", body, header)
    assert not hooks.verify(SECRET, body + b" ", header)
    assert not hooks.verify(SECRET, body, hooks.sign(SECRET, body, int(time.time()) - 3600))
    assert not hooks.verify(SECRET, body, "garbage")


def test_missing_python_hook_is_an_error_at_start(tmp_path: Path, receiver: Receiver) -> None:
    journeys = tmp_path / "journeys"
    shutil.copytree(REPO / "journeys", journeys)
    text = hook_journey(receiver.url).replace("keylight_test_record", "nobody_registered_this")
    (journeys / "hookshop.toml").write_text(text)
    config = base_config(tmp_path, journeys, f"sqlite:///{tmp_path / 'k.sqlite3'}")
    with pytest.raises(SettingsError, match="nobody_registered_this.*keylight.hooks"):
        create_app(config)


def test_a_hook_url_that_is_not_http_is_refused_by_klbuild_check(
    tmp_path: Path, receiver: Receiver
) -> None:
    from klbuild.cli import cli as klbuild_cli

    journeys = tmp_path / "journeys"
    shutil.copytree(REPO / "journeys", journeys)
    text = hook_journey(receiver.url).replace(f"{receiver.url}/orders", "ftp://example.com/x")
    (journeys / "hookshop.toml").write_text(text)
    result = CliRunner().invoke(klbuild_cli, ["check", str(journeys)])
    assert result.exit_code != 0
    assert "hookshop.toml" in result.output and "absolute http(s) URL" in result.output


def test_hooks_without_their_settings_stop_a_production_start(
    tmp_path: Path,
    receiver: Receiver,
    entry_point: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
    caplog: Any,
) -> None:
    """Found at start, not as deliveries failing later; in development only a warning."""
    journeys = tmp_path / "journeys"
    shutil.copytree(REPO / "journeys", journeys)
    (journeys / "hookshop.toml").write_text(hook_journey(receiver.url))
    shop_file = journeys / "keylight.toml"  # production wants the shop's address
    shop_file.write_text(
        shop_file.read_text().replace('base_url = "/"', 'base_url = "https://shop.example.com/"')
    )
    monkeypatch.delenv("KEYLIGHT_TEST_HOOK_SECRET")
    config = base_config(tmp_path, journeys, f"sqlite:///{tmp_path / 'k.sqlite3'}")
    with pytest.raises(SettingsError) as refused:
        create_app({**config, "KEYLIGHT_ENV": "production"})
    message = str(refused.value)
    assert "hookshop.toml" in message
    assert "KEYLIGHT_TEST_HOOK_SECRET, which is not set" in message
    assert "email hooks need KEYLIGHT_SMTP_HOST and KEYLIGHT_SMTP_FROM" in message
    # The shop's own emails too: sign-in links and the news of every subscription change.
    assert "keylight.toml: the account page emails guests their sign-in links" in message
    assert "cancel.toml: a subscription journey emails the customer about every change" in message
    assert "assisted-order.toml: staff's journey emails the customer" in message
    assert "sales-quote.toml: email hooks need KEYLIGHT_SMTP_HOST" in message

    with caplog.at_level("WARNING"):
        app = create_app(config)
    close_app(app)
    assert "KEYLIGHT_TEST_HOOK_SECRET, which is not set" in caplog.text

    monkeypatch.setenv("KEYLIGHT_TEST_HOOK_SECRET", SECRET)
    smtp = {"KEYLIGHT_SMTP_HOST": "127.0.0.1", "KEYLIGHT_SMTP_FROM": "Shop <shop@example.com>"}
    app = create_app({**config, **smtp, "KEYLIGHT_ENV": "production"})
    close_app(app)


def test_a_change_journeys_hooks_hear_its_changes_and_the_customer_gets_an_email(
    shop: dict[str, Any], receiver: Receiver, mailbox: tuple[Mailbox, int]
) -> None:
    email = unique_email()
    customer = Shopper(shop["url"], EXAMPLE)
    customer.add("starter")
    customer.step("cart")
    customer.step(
        "login-or-create-an-account",
        {"action": "signup", "email": email, "password": "a long passphrase"},
    )
    customer.step("customer-information", {**BILLING, "email": email})
    customer.step("payment-method", {"method": "invoice"})
    customer.step("confirm-order", {"confirm_token": "hooks-" + email})
    engine = shop["app"].extensions["keylight_db"]
    with engine.connect() as connection:
        [bought] = subscriptions.recent(connection, email=email)
    customer.journey = "hookplan"
    entry = f"subscription={bought['public_id']}"
    customer.http.get(f"{shop['url']}/hookplan/state", params={"step": "plan", "entry": entry})
    customer.step("plan", {"product": "pro"})
    confirmed = customer.step(
        "confirm", {"confirm_token": "hooks-up-" + email, "subscription": bought["public_id"]}
    )
    assert confirmed.headers["Location"] == "/hookplan/done/"
    outbox.run_once(shop["app"])

    [event] = [
        e
        for e in receiver.events("/plan-changed")
        if e["data"]["subscription"]["public_id"] == bought["public_id"]
    ]
    assert event["type"] == "subscription_changed"
    assert event["journey"]["key"] == "hookplan"
    data = event["data"]
    assert (data["action"], data["subscription"]["product"]) == ("changed", "pro")
    assert data["from"] == {"product": "starter", "name": "Starter", "line_total": "9.90"}
    assert data["order_number"].startswith("KL-") and Decimal(data["prorated"]) > 0
    [mail] = [m for m in mailbox[0].messages if email in m.rcpt_tos]
    text = mail.content.decode()
    assert "Subject: Your subscription: Your plan is now Pro." in text
    assert data["order_number"] in text


def test_a_theme_writes_the_emails_in_its_own_words(tmp_path: Path) -> None:
    from klcheckout.hooks import mail

    emails = tmp_path / "theme" / "emails"
    emails.mkdir(parents=True)
    (emails / "subscription_changed.txt").write_text("Moin! {{ data.summary }}\n")
    (emails / "subscription_changed.html").write_text("<p>Moin! {{ data.summary }}</p>\n")
    hook = {"type": "email", "template": "subscription_changed", "subject": "Hi", "builtin": True}
    event = {
        "id": "evt_theme",
        "type": "customer_email",
        "journey": {"key": "", "name": "", "order_channel": ""},
        "data": {"customer": {"email": "ada@example.com"}, "summary": "Your plan is now Pro."},
    }
    themed = mail.render(hook, event, "Shop <shop@example.com>", str(tmp_path / "theme"))
    assert themed.get_body(("plain",)).get_content() == "Moin! Your plan is now Pro.\n"
    # Without a theme (or for a template the theme lacks), the built-in one.
    plain = mail.render(
        {**hook, "template": "sign_in_link"},
        {**event, "data": {**event["data"], "link": "https://x/l", "minutes": 15, "shop": "Acme"}},
        "Shop <shop@example.com>",
        str(tmp_path / "theme"),
    )
    assert "https://x/l" in plain.get_body(("plain",)).get_content()


def test_without_a_mail_server_development_logs_every_email_and_production_refuses(
    caplog: Any,
) -> None:
    """An email hook's email too: the example's sales journey confirms accepted quotes."""
    from klcheckout.hooks import HookFailed, mail

    hook = {"type": "email", "template": "sign_in_link", "subject": "Your link"}
    event = {
        "id": "evt_dev",
        "type": "customer_email",
        "journey": {"key": "", "name": "", "order_channel": ""},
        "data": {
            "customer": {"email": "ada@example.com"},
            "link": "https://x/l",
            "minutes": 15,
            "shop": "Acme",
        },
    }
    config = {"KEYLIGHT_SMTP_HOST": "", "KEYLIGHT_SMTP_FROM": "", "KEYLIGHT_ENV": "development"}
    with caplog.at_level("WARNING", logger="klcheckout.mail"):
        mail.send_event(config, hook, event)
    assert "email to ada@example.com (no KEYLIGHT_SMTP_HOST, so shown here)" in caplog.text
    assert "https://x/l" in caplog.text
    with pytest.raises(HookFailed, match="KEYLIGHT_SMTP_HOST"):
        mail.send_event({**config, "KEYLIGHT_ENV": "production"}, hook, event)
