"""Two browsers in Chromium: a partner orders on a customer's behalf in the example's
partner journey and hands the payment step to the customer; the customer opens the link
from the email a real SMTP server (aiosmtpd) received, gives the SEPA mandate, and the
partner sees it done and places the order."""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Iterator
from email import message_from_bytes
from email.policy import default as default_policy
from typing import Any

import pyotp
import pytest
import requests
from aiosmtpd.controller import Controller
from browser_helpers import (
    BILLING,
    Server,
    Workspace,
    choose_sepa,
    order_for_customer,
    running,
    submit_step_form,
    unique_email,
    wait_for_step,
)
from click.testing import CliRunner
from test_browser_journey import check_accessible

from klcheckout.cli import cli

pytestmark = pytest.mark.browser

KEY = "assisted-order"
PASSWORD = "a long staff passphrase"


class Inbox:
    """What a real SMTP server received, with a wait for the next message to someone."""

    def __init__(self) -> None:
        self.messages: list[Any] = []
        self.arrived = threading.Condition()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        with self.arrived:
            self.messages.append(envelope)
            self.arrived.notify_all()
        return "250 OK"

    def wait_for(self, email: str, subject: str, timeout: float = 20.0) -> Any:
        """The first message to ``email`` whose subject has ``subject``, parsed."""

        def found() -> Any:
            for raw in self.messages:
                message = message_from_bytes(raw.content, policy=default_policy)
                if email in raw.rcpt_tos and subject in message["Subject"]:
                    return message
            return None

        with self.arrived:
            assert self.arrived.wait_for(found, timeout), f"no email to {email}: {subject!r}"
            return found()


@pytest.fixture(scope="module")
def inbox() -> Iterator[Inbox]:
    box = Inbox()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    box.port = port  # type: ignore[attr-defined]
    yield box
    controller.stop()


@pytest.fixture(scope="module")
def shop(module_ws: Workspace, inbox: Inbox) -> Iterator[Server]:
    env = {
        "KEYLIGHT_SMTP_HOST": "127.0.0.1",
        "KEYLIGHT_SMTP_PORT": str(inbox.port),  # type: ignore[attr-defined]
        "KEYLIGHT_SMTP_TLS": "none",
        "KEYLIGHT_SMTP_FROM": "Acme Shop <shop@example.com>",
    }
    with running(module_ws, env=env) as server:
        yield server


def signed_in_partner(ws: Workspace, server: Server) -> tuple[str, dict[str, Any]]:
    """A partner added with the CLI, signed in with both factors over HTTP: their email
    and staff cookie, for a browser. (Signing in on the staff page is test_browser_staff's.)"""
    email = unique_email("pat")
    result = CliRunner().invoke(
        cli,
        ["staff", "add", email, "--role", "partner", "--partner", "Initech", "--password-stdin"],
        input=PASSWORD + "\n",
        env={
            "KEYLIGHT_JOURNEYS": str(ws.journeys),
            "KEYLIGHT_INSTANCE": str(ws.instance),
            "KEYLIGHT_DATABASE_URL": f"sqlite:///{ws.database}",
        },
    )
    assert result.exit_code == 0, result.output
    api = server.base + "api/staff/"
    http = requests.Session()
    http.headers["Origin"] = server.base.rstrip("/")

    def post(action: str, data: dict[str, str]) -> dict[str, Any]:
        token = http.get(api + "state").json()["csrf_token"]
        answer = http.post(
            api + action, data={**data, "csrf_token": token}, headers={"Accept": "application/json"}
        )
        assert answer.status_code == 200, answer.text
        return answer.json()

    post("sign-in", {"email": email, "password": PASSWORD})
    secret = http.get(api + "state").json()["enrolment"]["secret"].replace(" ", "")
    assert post("enrol", {"code": pyotp.TOTP(secret).now()})["stage"] == "signed-in"
    [cookie] = [c for c in http.cookies if c.name == "kl_staff"]
    return email, {"name": cookie.name, "value": cookie.value, "url": server.base}


def test_a_partner_hands_the_payment_to_the_customer_who_gives_the_mandate(
    browser: Any, page: Any, shop: Server, module_ws: Workspace, inbox: Inbox
) -> None:
    partner, cookie = signed_in_partner(module_ws, shop)
    page.context.add_cookies([cookie])
    customer = unique_email("grace")
    # The partner finds (here: creates) the customer, and walks up to the payment.
    order_for_customer(page, shop, KEY, customer, "starter")
    wait_for_step(page, "partner-reference", KEY)
    page.get_by_label("Your reference for this order").fill("PO-77")
    submit_step_form(page)
    wait_for_step(page, "billing", KEY)
    for name, value in {**BILLING, "email": customer}.items():
        page.locator(f'form.step-form [name="{name}"]').fill(value)
    page.locator('form.step-form [name="country"]').select_option("DE")
    submit_step_form(page)
    wait_for_step(page, "payment-method", KEY)
    # The step is the customer's: the partner sends it instead of choosing.
    handover = page.locator("[data-kl-handover]")
    handover.wait_for()
    assert customer in handover.inner_text()
    assert page.locator("form[data-kl-payment-form]").is_hidden()
    page.get_by_role("button", name="Send to the customer").click()
    page.get_by_text("Waiting for the customer").wait_for()
    assert f"Sent to {customer}" in page.locator("[data-kl-messages]").inner_text()
    check_accessible(page)  # with a message shown, and the hand-over's box

    # The customer, in a browser of their own, opens the link of the email and pays.
    mail = inbox.wait_for(customer, "please complete")
    link = re.search(r"https?://\S+/handover/\S+", mail.get_body(("plain",)).get_content())
    theirs = browser.new_context(viewport={"width": 1024, "height": 900})
    try:
        other = theirs.new_page()
        other.goto(link.group(0))
        wait_for_step(other, "payment-method", KEY)
        assert other.locator("[data-kl-handover]").is_hidden()
        assert "Starter" in other.locator("[data-kl-cart]").first.inner_text()
        choose_sepa(other, holder="Grace Hopper")
        submit_step_form(other)
        other.get_by_role("heading", name="Thank you").wait_for()
        assert "The rest is done by Acme Shop" in other.locator("main").inner_text()
    finally:
        theirs.close()

    # The partner sees it done (the IBAN masked), goes on and places the order.
    assert (
        inbox.wait_for(partner, "completed")["Subject"] == f"{customer} completed “Payment method”"
    )
    page.reload()
    wait_for_step(page, "payment-method", KEY)
    done = page.locator("[data-kl-handover-done]")
    done.wait_for()
    assert "DE89" in done.inner_text() and "0532" not in done.inner_text()
    done.get_by_role("link", name="Continue").click()
    wait_for_step(page, "confirm-order", KEY)
    page.get_by_role("button", name="Order and pay").click()
    wait_for_step(page, "order-done", KEY)
    page.locator("[data-kl-order-number]").first.wait_for()
    number = page.locator("[data-kl-order-number]").first.inner_text()
    [order] = module_ws.query("SELECT payment_method, partner FROM orders WHERE number = ?", number)
    assert (order["payment_method"], order["partner"]) == ("sepa_debit", "Initech")
    # The order is the customer's: its confirmation goes to them (the example's hook).
    assert inbox.wait_for(customer, f"Your order {number}")["Subject"] == f"Your order {number}"
    assert page.kl_errors == []  # type: ignore[attr-defined]
