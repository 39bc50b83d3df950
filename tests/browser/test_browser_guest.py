"""A second journey: one plan (unique selection) and guest checkout (optional authentication)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from browser_helpers import (
    Server,
    Workspace,
    add_product,
    fill_billing,
    press_continue,
    submit_step_form,
    unique_email,
    wait_for_step,
)

pytestmark = pytest.mark.browser

GUEST_KEY = "guestplan1"
EXTRA_FILES = {
    "guest-plan.toml": f'''
name = "One plan, guests welcome"
key = "{GUEST_KEY}"
business_entity = "acme"
order_channel = "browser-tests"

[[steps]]
name = "Plan"
type = "product_selection"
product_selection = "plans"
unique_selection = true
progress_bar = true

[[steps]]
name = "Account"
type = "optional_authentication"

[[steps]]
name = "Billing"
type = "form"
form = "billing"
form_target = "sold_to_account"
progress_bar = true

[[steps]]
name = "Payment"
type = "payment_method"
methods = ["invoice"]
progress_bar = true

[[steps]]
name = "Confirm"
type = "confirmation"
progress_bar = true

[[steps]]
name = "Done"
type = "order_done"
message_title = "Thanks, guest"
progress_bar = true
''',
}


def test_unique_selection_replaces_the_first_product(page: Any, module_server: Server) -> None:
    page.goto(module_server.url("plan", GUEST_KEY))
    wait_for_step(page, "plan", GUEST_KEY)
    assert "Selecting another replaces your choice" in page.locator("main").inner_text()
    add_product(page, "starter")
    starter = page.locator('[data-kl-product="starter"] [data-kl-in-cart]')
    assert starter.is_visible() and starter.inner_text().endswith("Selected")
    # The chosen plan offers nothing more to select; the others still do.
    assert page.locator('[data-kl-product="starter"] form').is_hidden()
    assert page.locator('[data-kl-product="pro-yearly"] form').is_visible()
    add_product(page, "pro-yearly")
    assert page.locator('[data-kl-product="pro-yearly"] [data-kl-in-cart]').is_visible()
    assert starter.is_hidden()
    lines = page.locator("[data-kl-cart] li.cart-line")
    assert lines.count() == 1
    assert "Pro, yearly" in lines.inner_text()
    assert page.locator('[data-kl-total="yearly_gross"]').inner_text() == "€290.00 / year"
    assert page.locator('[data-kl-total="monthly_gross"]').is_hidden()


def to_the_account_step(page: Any, server: Server) -> Any:
    """A plan in the cart and on to the account step: its guest form."""
    page.goto(server.url("plan", GUEST_KEY))
    wait_for_step(page, "plan", GUEST_KEY)
    add_product(page, "starter")
    press_continue(page)
    wait_for_step(page, "account", GUEST_KEY)
    return page.locator('form[data-kl-form="guest"]')


def test_guest_checkout(page: Any, module_server: Server, module_ws: Workspace) -> None:
    email = unique_email("guest")
    backend: list[str] = []
    page.on(
        "request",
        lambda request: (
            backend.append(f"{request.method} {request.url.split('/')[-1]}")
            if f"/{GUEST_KEY}/" in request.url and "/api/" in request.url
            else None
        ),
    )
    guest = to_the_account_step(page, module_server)
    assert guest.is_visible()
    guest.get_by_label("Email").fill(email)
    guest.get_by_role("button", name="Continue as guest").click()
    wait_for_step(page, "billing", GUEST_KEY)
    # The guest's email is offered in the form.
    assert page.locator('form.step-form [name="email"]').input_value() == email
    fill_billing(page, email)
    submit_step_form(page)
    wait_for_step(page, "payment", GUEST_KEY)
    assert page.get_by_role("radio").count() == 1
    page.get_by_role("button", name="Continue").click()
    wait_for_step(page, "confirm", GUEST_KEY)
    assert page.locator("[data-kl-customer]").first.inner_text() == email
    page.get_by_role("button", name="Order and pay").click()
    wait_for_step(page, "done", GUEST_KEY)
    assert page.locator("h1").inner_text() == "Thanks, guest"
    number = page.locator("[data-kl-order-number]").inner_text()
    rows = module_ws.query("SELECT * FROM orders WHERE number = ?", number)
    assert len(rows) == 1
    order = rows[0]
    assert order["email"] == email
    assert order["customer_id"] is None
    assert order["journey_key"] == GUEST_KEY
    assert order["order_channel"] == "browser-tests"
    assert order["payment_method"] == "invoice"
    assert json.loads(order["answers"])["sold_to_account"]["first_name"] == "Ada"
    assert module_ws.query("SELECT count(*) FROM customers WHERE email = ?", email)[0][0] == 0
    # One request per step: each answer carries the next page's state, so only the page
    # the customer opened asks for it.
    assert [entry.split("?")[0] for entry in backend] == [
        "GET state",
        "POST add",
        "POST plan",
        "POST account",
        "POST billing",
        "POST payment",
        "POST confirm",
    ]


def test_a_form_that_could_not_be_sent_can_be_sent_again(page: Any, module_server: Server) -> None:
    """No answer (the connection dropped): the page says so and keeps what was typed; a
    page opened again asks for its own state."""
    email = unique_email("offline")
    guest = to_the_account_step(page, module_server)
    guest.get_by_label("Email").fill(email)
    page.route("**/steps/account*", lambda route: route.abort("connectionreset"))
    guest.get_by_role("button", name="Continue as guest").click()
    messages = page.locator("[data-kl-messages]")
    messages.get_by_text("could not be sent").wait_for()
    assert page.evaluate("document.activeElement.hasAttribute('data-kl-messages')")
    assert guest.get_by_label("Email").input_value() == email
    page.unroute("**/steps/account*")
    guest.get_by_role("button", name="Continue as guest").click()
    wait_for_step(page, "billing", GUEST_KEY)
    with page.expect_request(lambda request: "/state?step=billing" in request.url):
        page.reload()
    wait_for_step(page, "billing", GUEST_KEY)
    assert page.locator('form.step-form [name="email"]').input_value() == email
