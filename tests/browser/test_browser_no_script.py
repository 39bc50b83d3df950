"""The example shop in Chromium with JavaScript switched off: plain HTML, to a placed order.

Every step works from the same templates as the static pages, rendered by the
backend with the customer's state; errors on the way are shown and nothing typed
is lost.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from browser_helpers import KEY, VALID_IBAN, Server, shot, strong_password, unique_email

pytestmark = pytest.mark.browser

BILLING = {
    "first_name": "Ada",
    "last_name": "Lovelace",
    "street": "Hauptstrasse 5",
    "postal_code": "10115",
    "city": "Berlin",
}


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A new customer whose browser runs no script at all."""
    context = browser.new_context(
        java_script_enabled=False, viewport={"width": 1024, "height": 900}
    )
    context.set_default_timeout(10_000)
    try:
        yield context.new_page()
    finally:
        context.close()


def backend_page(step: str) -> str:
    return f"/api/{KEY}/pages/{step}/"


def on(page: Any, step: str) -> None:
    page.wait_for_url(re.compile(re.escape(backend_page(step)) + r"(\?.*)?$"))


def test_the_whole_journey_without_javascript(module_server: Server, page: Any) -> None:
    # A page after the product page sends such a browser to the backend's rendering at once.
    page.goto(module_server.url("cart"))
    on(page, "cart")
    assert page.locator("form.continue").count() == 0  # nothing to continue with yet
    assert page.get_by_text("Your cart is empty.").is_visible()

    # The product page stays crawlable: it links to the page that works without script.
    page.goto(module_server.url("product-selection"))
    page.get_by_role("link", name="choose here").click()
    on(page, "product-selection")
    page.locator('[data-kl-product="starter"] button[type=submit]').click()
    on(page, "product-selection")
    assert page.locator('[data-kl-product="starter"] [data-kl-in-cart]').is_visible()
    page.locator("form.continue button").click()

    on(page, "cart")
    line = page.locator(".cart-line")
    assert line.count() == 1 and "Starter" in line.inner_text()
    assert "×" not in line.inner_text()  # the quantity is in its box, once
    line.get_by_label("Quantity").fill("2")
    line.get_by_role("button", name="Update").click()
    on(page, "cart")
    assert page.locator(".cart-line").get_by_label("Quantity").input_value() == "2"
    page.locator("form.continue button").click()

    on(page, "login-or-create-an-account")
    email, password = unique_email(), strong_password()
    signup = page.locator('form[data-kl-form="signup"]')
    signup.get_by_label("Email").fill(email)
    signup.get_by_label("Password").fill("short")
    signup.get_by_role("button", name="Create account").click()
    on(page, "login-or-create-an-account")
    # The error, in the summary and at its field, in the form that was sent only.
    assert "at least 8 characters" in page.locator(".error-summary").inner_text()
    assert page.locator("#signup-password").get_attribute("aria-invalid") == "true"
    assert page.locator("#signup-email").input_value() == email
    assert page.locator("#login-email").input_value() == ""
    page.locator("#signup-password").fill(password)
    page.locator('form[data-kl-form="signup"] button').click()

    on(page, "customer-information")
    form = page.locator("form.step-form")
    for name, value in BILLING.items():
        form.locator(f'[name="{name}"]').fill(value)
    form.locator('[name="country"]').select_option("DE")
    form.locator('[name="email"]').fill("not an email")
    form.get_by_role("button", name="Continue").click()
    on(page, "customer-information")
    summary = page.locator(".error-summary")
    assert summary.is_visible() and "email address" in summary.inner_text()
    assert page.locator("#field-email").get_attribute("aria-invalid") == "true"
    assert page.locator("#field-last_name").input_value() == "Lovelace"  # nothing typed is lost
    shot(page, "no-script-billing-error")
    page.locator("#field-email").fill(email)
    page.locator("form.step-form button[type=submit]").click()

    on(page, "payment-method")
    page.get_by_role("radio", name="SEPA Direct Debit").check()
    page.get_by_label("Account holder").fill("Ada Lovelace")
    page.get_by_label("IBAN", exact=True).fill("DE00 0000 0000 0000 0000 00")
    page.get_by_label("I agree to the SEPA Direct Debit mandate").check()
    page.locator("form.step-form button[type=submit]").click()
    on(page, "payment-method")
    assert "IBAN is not valid" in page.locator(".error-summary").inner_text()
    assert page.get_by_label("IBAN", exact=True).input_value() == "DE00 0000 0000 0000 0000 00"
    page.get_by_label("IBAN", exact=True).fill(VALID_IBAN)
    page.get_by_label("I agree to the SEPA Direct Debit mandate").check()
    page.locator("form.step-form button[type=submit]").click()

    on(page, "confirm-order")
    text = page.locator("main").inner_text()
    assert "Starter" in text and "Lovelace" in text and "Germany" in text and email in text
    assert "VAT" not in page.locator("[data-kl-answers]").first.inner_text()  # left empty: no row
    page.get_by_role("button", name="Order and pay").click()

    on(page, "order-done")
    number = page.locator("[data-kl-order-number]").inner_text()
    assert number.startswith("KL-")
    assert page.locator(".progress a").count() == 0  # the order is placed: no way back
    [order] = module_server.ws.query(
        "SELECT email, payment_method FROM orders WHERE number = ?", number
    )
    assert (order["email"], order["payment_method"]) == (email, "sepa_debit")


def test_a_static_form_sent_without_script_changes_nothing_and_says_why(
    module_server: Server, page: Any
) -> None:
    page.goto(module_server.url("product-selection"))
    page.locator('[data-kl-product="pro"] button[type=submit]').click()
    on(page, "product-selection")
    assert "did not run the shop's page script" in page.locator(".messages").inner_text()
    assert page.get_by_text("Your cart is empty.").is_visible()
    page.locator('[data-kl-product="pro"] button[type=submit]').click()  # now it works
    on(page, "product-selection")
    assert page.locator('[data-kl-product="pro"] [data-kl-in-cart]').is_visible()


def test_the_entry_parameters_come_along_without_javascript(
    module_server: Server, page: Any
) -> None:
    """``?segment=business`` chooses the branch, as the page script would pass it on."""
    page.goto(module_server.url("product-selection", "segments") + "?segment=business")
    page.get_by_role("link", name="choose here").click()
    page.wait_for_url(re.compile(r"/api/segments/pages/product-selection/$"))
    bar = page.locator("nav.progress").inner_text()
    assert "Company details" in bar and "Your details" not in bar
