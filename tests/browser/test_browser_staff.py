"""A member of staff, added with ``klcheckout staff add``, signs in on the staff page in
Chromium, enrols the second factor from what the page shows, and reaches the first step
of a journey only sales walk; a customer's browser is refused the same journey."""

from __future__ import annotations

from typing import Any

import pyotp
import pytest
from browser_helpers import Server, Workspace, unique_email, wait_for_step
from click.testing import CliRunner

from klcheckout.cli import cli

pytestmark = pytest.mark.browser

SALES_KEY = "assisted"
PASSWORD = "a long staff passphrase"
EXTRA_FILES = {
    "assisted.toml": f'''
name = "Quick order for a customer"
key = "{SALES_KEY}"
business_entity = "acme"
audience = ["sales"]

[[steps]]
name = "Plan"
type = "product_selection"
product_selection = "plans"
progress_bar = true

[[steps]]
name = "Done"
type = "order_done"
''',
}


def add_member(ws: Workspace, email: str) -> None:
    env = {
        "KEYLIGHT_JOURNEYS": str(ws.journeys),
        "KEYLIGHT_INSTANCE": str(ws.instance),
        "KEYLIGHT_DATABASE_URL": f"sqlite:///{ws.database}",
    }
    result = CliRunner().invoke(
        cli,
        ["staff", "add", email, "--role", "sales", "--password-stdin"],
        input=PASSWORD + "\n",
        env=env,
    )
    assert result.exit_code == 0, result.output


def sign_in_with_password(page: Any, server: Server, email: str) -> None:
    """The first half of a staff sign-in, on the staff page: the email and password."""
    page.goto(server.base + "staff/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Continue").click()


def test_a_member_enrols_and_walks_a_sales_journey_a_customer_cannot(
    browser: Any, page: Any, module_server: Server, module_ws: Workspace
) -> None:
    email = unique_email("bea")
    add_member(module_ws, email)
    sign_in_with_password(page, module_server, email)
    # Enrolment: a QR code, and the key to type, read from the page as a person would.
    secret_text = page.locator("[data-kl-secret]")
    secret_text.wait_for(state="visible")
    assert page.locator("[data-kl-qr] svg").count() == 1
    secret = secret_text.inner_text().replace(" ", "")
    code = page.get_by_label("The code the app shows")
    assert code.get_attribute("autocomplete") == "one-time-code"
    code.fill("000000" if pyotp.TOTP(secret).now() != "000000" else "111111")
    page.get_by_role("button", name="Confirm").click()
    page.locator("#staff-enrol-code-error").wait_for(state="visible")
    assert page.evaluate("document.activeElement.id") == "staff-enrol-code"
    code.fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Confirm").click()
    page.locator("[data-kl-recovery-list] li").first.wait_for()
    assert page.locator("[data-kl-recovery-list] li").count() == 10
    assert email in page.locator('[data-kl-staff="email"]').inner_text()
    assert page.locator('[data-kl-staff="role"]').inner_text() == "sales"

    # The journeys of the member's role are offered on the page (the example's quote
    # journey and its order for a customer are for sales too).
    offered = page.locator("[data-kl-staff-journey-list] a")
    expected = ["Order for a customer", "Quick order for a customer", "Sales quote"]
    assert sorted(offered.all_inner_texts()) == expected
    page.get_by_role("link", name="Quick order for a customer").click()
    wait_for_step(page, "plan", SALES_KEY)
    page.locator('[data-kl-product="starter"]').wait_for()
    assert page.locator("[data-kl-messages]").is_hidden()
    # The one error is Chromium's note of the wrong code's 401, which the page showed.
    errors = page.kl_errors  # type: ignore[attr-defined]
    assert [error for error in errors if "status of 401" not in error] == []

    customer = browser.new_context()
    try:
        other = customer.new_page()
        other.goto(module_server.url("plan", SALES_KEY))
        messages = other.locator("[data-kl-messages]")
        messages.get_by_role("link", name="Sign in as staff").wait_for()
        assert "This journey is for the shop's staff" in messages.inner_text()
        assert other.locator("main form").first.is_hidden()
        other.get_by_role("link", name="Sign in as staff").click()
        other.get_by_label("Email").wait_for()
        assert other.url.endswith("/staff/")
    finally:
        customer.close()


def test_a_sign_in_sent_before_the_page_state_arrives_waits_for_it(
    page: Any, module_server: Server, module_ws: Workspace
) -> None:
    """A quick member (or a slow network) sends the password before the page's first
    state has come: the form has no security token yet, and a late state would hide the
    answer's enrolment again. The form waits for the state instead."""
    email = unique_email("quick")
    add_member(module_ws, email)
    held: list[Any] = []
    page.route("**/staff/state*", lambda route: held.append(route))
    sent: list[str] = []

    def record(request: Any) -> None:
        if request.method == "POST":
            sent.append(request.url)

    page.on("request", record)
    sign_in_with_password(page, module_server, email)
    page.wait_for_function("document.querySelector('[data-kl-form=sign-in]').ariaBusy === 'true'")
    assert held and sent == []
    held[0].continue_()
    page.locator("[data-kl-secret]").wait_for(state="visible")
    assert page.locator("[data-kl-secret]").inner_text().strip()
    assert [url for url in sent if "/staff/sign-in" in url]
    assert page.locator("[data-kl-messages]").is_hidden()
