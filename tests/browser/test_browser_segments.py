"""The example's segments journey in Chromium: one path for businesses, one for private customers.

The branch is chosen by conditions (``when``) on the steps: entering with
``?segment=business`` gives the company form and invoice, entering without it
the short form and SEPA. The progress bar hides the steps of the other branch,
and a rule's message stands next to its field like a built-in one.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from browser_helpers import (
    Server,
    Workspace,
    add_product,
    choose_sepa,
    place_order,
    press_continue,
    submit_step_form,
    unique_email,
    wait_for_step,
)
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

KEY = "segments"
VAT_RULE = "Enter your company's VAT ID: we need it to invoice a business outside Germany."


def progress_bar(page: Any) -> list[str]:
    """The names of the progress bar's visible steps, as a customer sees them."""
    items = page.locator("nav.progress li")
    return [
        items.nth(i).inner_text().split("\n")[0].strip()
        for i in range(items.count())
        if items.nth(i).is_visible()
    ]


def continue_as_guest(page: Any, email: str) -> None:
    """From the product page: through the cart, then on as a guest."""
    press_continue(page)
    wait_for_step(page, "cart", KEY)
    press_continue(page)
    wait_for_step(page, "account", KEY)
    guest = page.locator('form[data-kl-form="guest"]')
    guest.get_by_label("Email").fill(email)
    guest.get_by_role("button", name="Continue as guest").click()


def test_business_customers_fill_in_the_company_form_and_pay_by_invoice(
    page: Any, module_server: Server, module_ws: Workspace
) -> None:
    email = unique_email("business")
    page.goto(module_server.url("product-selection", KEY) + "?segment=business")
    wait_for_step(page, "product-selection", KEY)
    bar = progress_bar(page)
    assert bar == [
        "1 Product selection",
        "2 Cart",
        "3 Company details",
        "4 Payment",
        "5 Confirm order",
        "6 Order done",
    ]
    add_product(page, "pro")
    continue_as_guest(page, email)
    wait_for_step(page, "company-details", KEY)
    form = page.locator("form.step-form")
    assert form.get_by_label("Company name").is_visible()
    assert "Your details" not in " ".join(progress_bar(page))
    # A phone's one line counts the steps of this branch only (7 in the bar, 6 shown).
    page.set_viewport_size({"width": 320, "height": 640})
    compact = page.locator("[data-kl-progress-compact]")
    assert compact.inner_text() == "Step 3 of 6 — Company details"
    page.set_viewport_size({"width": 1024, "height": 900})
    for label, value in {
        "Company name": "Analytical Engines Ltd",
        "Contact person": "Ada Lovelace",
        "Street and number": "Ringstrasse 1",
        "Postal code": "1010",
        "City": "Vienna",
    }.items():
        form.get_by_label(label).fill(value)
    form.locator('[name="country"]').select_option("AT")
    submit_step_form(page)

    # The rule refuses the form: its message is next to the VAT ID field and in the summary.
    wait_for_step(page, "company-details", KEY)
    vat = form.get_by_label("VAT ID")
    page.wait_for_function(
        "() => document.querySelector('[name=vat_id]').getAttribute('aria-invalid') === 'true'"
    )
    described = vat.get_attribute("aria-describedby").split()
    messages = [page.locator(f"#{name}").inner_text() for name in described]
    assert VAT_RULE in messages
    assert VAT_RULE in page.locator("[data-kl-error-summary]").inner_text()
    assert form.get_by_label("Company name").input_value() == "Analytical Engines Ltd"

    vat.fill("ATU12345678")
    submit_step_form(page)
    wait_for_step(page, "invoice", KEY)
    radios = page.get_by_role("radio")
    assert radios.count() == 1
    assert page.get_by_role("radio", name="Invoice").is_checked()
    page.get_by_role("button", name="Continue").click()
    wait_for_step(page, "confirm-order", KEY)
    place_order(page)
    wait_for_step(page, "order-done", KEY)
    number = page.locator("[data-kl-order-number]").inner_text()
    (order,) = module_ws.query("SELECT * FROM orders WHERE number = ?", number)
    assert order["journey_key"] == KEY and order["email"] == email
    assert order["payment_method"] == "invoice"
    answers = json.loads(order["answers"])["sold_to_account"]
    assert answers["company"] == "Analytical Engines Ltd" and answers["vat_id"] == "ATU12345678"


def test_private_customers_fill_in_a_short_form_and_pay_by_sepa(
    page: Any, module_server: Server, module_ws: Workspace
) -> None:
    email = unique_email("private")
    page.goto(module_server.url("product-selection", KEY))
    wait_for_step(page, "product-selection", KEY)
    assert progress_bar(page) == [
        "1 Product selection",
        "2 Cart",
        "3 Your details",
        "4 Payment",
        "5 Confirm order",
        "6 Order done",
    ]
    add_product(page, "starter")

    # The business branch's page sends a private customer on, to the first step still to do.
    page.goto(module_server.url("company-details", KEY))
    wait_for_step(page, "account", KEY)
    guest = page.locator('form[data-kl-form="guest"]')
    guest.get_by_label("Email").fill(email)
    guest.get_by_role("button", name="Continue as guest").click()
    wait_for_step(page, "your-details", KEY)
    form = page.locator("form.step-form")
    assert form.locator('[name="company"]').count() == 0
    form.get_by_label("First name").fill("Charles")
    form.get_by_label("Last name").fill("Babbage")
    assert form.get_by_label("Email").input_value() == email
    submit_step_form(page)
    wait_for_step(page, "direct-debit", KEY)
    assert page.get_by_role("radio").count() == 1
    choose_sepa(page, holder="Charles Babbage")
    page.get_by_role("button", name="Continue").click()
    wait_for_step(page, "confirm-order", KEY)
    # The confirmation sums up the private branch's form alone, and the payment.
    summaries = page.locator("main section.summary:visible h2")
    summaries.first.wait_for()
    expect(summaries).to_have_text(["Your account", "Your details", "Payment"])
    place_order(page)
    wait_for_step(page, "order-done", KEY)
    number = page.locator("[data-kl-order-number]").inner_text()
    (order,) = module_ws.query("SELECT * FROM orders WHERE number = ?", number)
    assert order["journey_key"] == KEY and order["email"] == email
    assert order["payment_method"] == "sepa_debit"
    assert json.loads(order["answers"]) == {
        "sold_to_account": {"first_name": "Charles", "last_name": "Babbage", "email": email}
    }
