"""The example shop in German and English: a whole checkout in German in Chromium, with
its refusals and the confirmation email read from a real SMTP server, and the language
switcher keeping the step and the cart.

The German words expected are read from the shipped catalog (``de(...)``), and each is
checked to be a translation, so the test follows the catalog's wording while still
failing on any English left on the page.
"""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Iterator
from email import message_from_bytes
from email.policy import default as default_policy
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from browser_helpers import (
    KEY,
    VALID_IBAN,
    Server,
    Workspace,
    add_product,
    fill_billing,
    press_continue,
    running,
    strong_password,
    submit_step_form,
    unique_email,
    wait_for_state,
    wait_for_step,
)

from kljourney import i18n
from kljourney.theme import templates_folder

pytestmark = pytest.mark.browser


def de(message: str, **values: Any) -> str:
    """``message`` in the shipped German catalog; it must be translated."""
    with i18n.speaking("de-DE", [templates_folder()]):
        german = i18n.gettext(message)
    assert german != message, f"{message!r} is not translated into German"
    return german % values if values else german


class Mailbox:
    """An SMTP server's inbox: each message as it arrives, and an event for the next one."""

    def __init__(self) -> None:
        self.messages: list[Any] = []
        self.arrived = threading.Event()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append(message_from_bytes(envelope.content, policy=default_policy))
        self.arrived.set()
        return "250 OK"

    def wait_for(self, recipient: str, timeout: float = 20.0) -> Any:
        while True:
            for message in self.messages:
                if recipient in str(message["To"]):
                    return message
            self.arrived.clear()
            assert self.arrived.wait(timeout), f"no email to {recipient} arrived"


@pytest.fixture(scope="module")
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    yield box, port
    controller.stop()


@pytest.fixture(scope="module")
def bilingual(
    tmp_path_factory: pytest.TempPathFactory, mailbox: tuple[Mailbox, int]
) -> Iterator[Server]:
    """The example shop in German (the default) and British English, with the order
    confirmation email of the self-service journey on."""
    ws = Workspace(tmp_path_factory.mktemp("languages"))
    ws.edit('locale = "en-US"', 'locales = ["de-DE", "en-GB"]', name="keylight.toml")
    # The marketer's own words by language; the English name first keeps the step's address.
    ws.edit('name = "Cart"', 'name = { en = "Cart", de = "Warenkorb" }')
    ws.write(
        "self-service.toml",
        ws.read() + '\n[[hooks]]\ntype = "email"\nsubject = "Ihre Bestellung {order_number}"\n',
    )
    smtp = {
        "KEYLIGHT_SMTP_HOST": "127.0.0.1",
        "KEYLIGHT_SMTP_PORT": str(mailbox[1]),
        "KEYLIGHT_SMTP_TLS": "none",
        "KEYLIGHT_SMTP_FROM": "Shop <shop@example.com>",
    }
    with running(ws, env=smtp) as server:
        yield server


def error_summary(page: Any) -> str:
    summary = page.locator(".error-summary")
    summary.wait_for(state="visible")
    return summary.inner_text()


def test_a_whole_checkout_in_german(
    page: Any, bilingual: Server, mailbox: tuple[Mailbox, int]
) -> None:
    page.goto(bilingual.url("product-selection"))
    wait_for_step(page, "product-selection")
    assert page.locator("html").get_attribute("lang") == "de-DE"
    assert page.locator(".skip-link").inner_text() == de("Skip to content")
    add_product(page, "starter")
    press_continue(page)
    wait_for_step(page, "cart")
    assert page.locator("h1").inner_text() == "Warenkorb"
    press_continue(page)
    wait_for_step(page, "login-or-create-an-account")

    # A refused login, in German.
    login = page.locator('form[data-kl-form="login"]')
    login.get_by_label(de("Email")).fill(unique_email("nobody"))
    login.get_by_label(de("Password")).fill("not the password")
    login.get_by_role("button", name=de("Log in")).click()
    summary = error_summary(page)
    assert de("There is a problem") in summary
    assert de("The email or password is wrong.") in summary

    email = unique_email()
    signup = page.locator('form[data-kl-form="signup"]')
    signup.get_by_label(de("Email")).fill(email)
    signup.get_by_label(de("Password")).fill(strong_password())
    signup.get_by_role("button", name=de("Create account")).click()
    wait_for_step(page, "customer-information")

    # The error summary of an empty form: the shop's labels in the project's sentences.
    submit_step_form(page)
    summary = error_summary(page)
    assert de("There is a problem") in summary
    assert de("%(label)s is required.", label="Last name") in summary
    fill_billing(page, email)
    submit_step_form(page)
    wait_for_step(page, "payment-method")

    # A wrong IBAN, refused in German.
    assert page.locator("legend, h2").filter(has_text=de("How would you like to pay?")).count()
    page.get_by_role("radio", name="SEPA Direct Debit").check()
    page.get_by_label(de("Account holder")).fill("Ada Lovelace")
    page.get_by_label("IBAN", exact=True).fill("DE00 3704 0044 0532 0130 00")
    page.get_by_label(de("I agree to the SEPA Direct Debit mandate")).check()
    submit_step_form(page)
    summary = error_summary(page)
    assert "IBAN" in summary and summary != "IBAN"
    assert de("There is a problem") in summary
    page.get_by_label("IBAN", exact=True).fill(VALID_IBAN)
    submit_step_form(page)
    wait_for_step(page, "confirm-order")

    # The order button says that ordering obliges to pay; the seller's pages are linked.
    button = page.get_by_role("button", name="Zahlungspflichtig bestellen")
    assert button.is_visible()
    main = page.locator("main").inner_text()
    assert de("Terms and conditions") in main or "AGB" in main
    assert "9,90\xa0€" in main and de("including tax") in main
    button.click()
    wait_for_step(page, "order-done")
    number = page.locator("[data-kl-order-number]").inner_text()
    assert re.fullmatch(r"KL-[0-9A-Z-]+", number)

    message = mailbox[0].wait_for(email)
    assert message["Subject"] == f"Ihre Bestellung {number}"
    text = message.get_body(("plain",)).get_content()
    assert de("Thank you for your order.") in text
    assert de("Monthly: %(amount)s", amount="9,90\xa0€ / Monat") in text
    assert "MwSt." in text and "Zahlungspflichtig" not in text
    html = message.get_body(("html",)).get_content()
    assert '<html lang="de-DE">' in html
    rows = bilingual.ws.query("SELECT locale FROM orders WHERE number = ?", number)
    assert [r["locale"] for r in rows] == ["de-DE"]


def test_the_language_switcher_keeps_the_step_and_the_cart(page: Any, bilingual: Server) -> None:
    page.goto(bilingual.url("product-selection"))
    wait_for_step(page, "product-selection")
    add_product(page, "pro")
    press_continue(page)
    wait_for_step(page, "cart")
    page.locator('nav.languages a[hreflang="en-GB"]').click()
    page.wait_for_url(re.compile(rf"/en-gb/{KEY}/cart/$"))
    wait_for_state(page)
    assert page.locator("html").get_attribute("lang") == "en-GB"
    assert page.locator("h1").inner_text() == "Cart"
    assert page.locator(".skip-link").inner_text() == "Skip to content"
    cart = page.locator("main").inner_text()
    assert "Pro" in cart and "€29.00 / month" in cart  # the same cart, in English
    # The backend answers the English page in English.
    press_continue(page)
    page.wait_for_url(re.compile(rf"/en-gb/{KEY}/login-or-create-an-account/$"))
    wait_for_state(page)
    login = page.locator('form[data-kl-form="login"]')
    login.get_by_label("Email").fill(unique_email("nobody"))
    login.get_by_label("Password").fill("not the password")
    login.get_by_role("button", name="Log in").click()
    assert "The email or password is wrong." in error_summary(page)
    # And back: the German cart page, the same cart.
    page.goto(bilingual.url("cart"))
    wait_for_step(page, "cart")
    assert "29,00\xa0€ / Monat" in page.locator("main").inner_text()
