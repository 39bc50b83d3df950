"""Errors as accessible forms announce them, keyboard-only checkout, narrow screens, cart edits."""

from __future__ import annotations

import re
from typing import Any

import pytest
from browser_helpers import (
    STEPS,
    Server,
    Workspace,
    add_product,
    buy_starter_and_sign_up,
    choose_sepa,
    fill_billing,
    log_in,
    no_horizontal_scroll,
    place_order,
    press_continue,
    sign_up,
    step_of,
    strong_password,
    submit_step_form,
    unique_email,
    wait_for_state,
    wait_for_step,
)

pytestmark = pytest.mark.browser


def to_payment(page: Any, server: Server) -> str:
    email = buy_starter_and_sign_up(page, server.url("product-selection"))
    wait_for_step(page, "customer-information")
    return email


def check_announced(page: Any, name: str, field_id: str, message_part: str) -> None:
    """Summary on top, focused, linking to the field; field invalid, described by its message."""
    summary = page.locator("[data-kl-error-summary]")
    assert summary.is_visible()
    assert page.evaluate("() => document.activeElement.hasAttribute('data-kl-error-summary')")
    # The summary comes before the form in the page.
    assert page.evaluate(
        """() => !!(document.querySelector('[data-kl-error-summary]')
              .compareDocumentPosition(document.querySelector('form.step-form'))
              & Node.DOCUMENT_POSITION_FOLLOWING)"""
    )
    field = page.locator(f"#{field_id}")
    assert field.get_attribute("aria-invalid") == "true"
    error = page.locator(f"#error-{name}")
    assert error.is_visible()
    assert message_part.lower() in error.inner_text().lower()
    assert f"error-{name}" in (field.get_attribute("aria-describedby") or "").split()
    # The accessible description of the field carries the message: not colour alone.
    description = page.evaluate(
        """(id) => (document.getElementById(id).getAttribute('aria-describedby') || '')
              .split(' ').filter(Boolean)
              .map(ref => document.getElementById(ref).textContent).join(' ')""",
        field_id,
    )
    assert message_part.lower() in description.lower()
    # The error is said in words ("Error:"), not only shown in red.
    before = page.evaluate(
        "(id) => getComputedStyle(document.getElementById(id), '::before').content", f"error-{name}"
    )
    assert "Error" in before
    link = summary.locator(f'a[href="#{field_id}"]')
    assert link.count() == 1
    assert message_part.lower() in link.inner_text().lower()
    link.click()
    assert page.evaluate("() => document.activeElement.id") == field_id


def test_missing_required_field_is_announced_next_to_the_field(
    page: Any, module_server: Server
) -> None:
    email = to_payment(page, module_server)
    fill_billing(page, email)
    # Skip the browser's own required check to see the backend's answer, as old browsers would.
    page.locator("form.step-form").evaluate("form => form.noValidate = true")
    page.locator('form.step-form [name="last_name"]').fill("")
    with page.expect_navigation():
        submit_step_form(page)
    wait_for_step(page, "customer-information")
    page.wait_for_selector("[data-kl-error-summary]:not([hidden])")
    check_announced(page, "last_name", "field-last_name", "")
    assert page.locator("#error-last_name").inner_text().strip()
    # What the customer typed is kept.
    assert page.locator('form.step-form [name="first_name"]').input_value() == "Ada"
    assert page.locator("[data-kl-error-summary] li").count() == 1


def test_invalid_iban_is_announced_next_to_the_field(page: Any, module_server: Server) -> None:
    email = to_payment(page, module_server)
    fill_billing(page, email)
    submit_step_form(page)
    wait_for_step(page, "payment-method")
    choose_sepa(page, iban="DE89 3704 0044 0532 0130 01")  # checksum wrong
    with page.expect_navigation():
        page.get_by_role("button", name="Continue").click()
    wait_for_step(page, "payment-method")
    page.wait_for_selector("[data-kl-error-summary]:not([hidden])")
    check_announced(page, "iban", "field-iban", "IBAN")
    # The SEPA details stay visible (the method is still chosen) so the field can be fixed.
    assert page.get_by_role("radio", name="SEPA Direct Debit").is_checked()
    assert page.locator("#field-iban").is_visible()
    # What was typed is there to correct, not to type again.
    assert page.locator("#field-iban").input_value() == "DE89 3704 0044 0532 0130 01"
    page.locator("#field-iban").fill("DE89 3704 0044 0532 0130 00")
    page.get_by_label("I agree to the SEPA Direct Debit mandate").check()
    page.get_by_role("button", name="Continue").click()
    wait_for_step(page, "confirm-order")


def test_cart_quantity_update_and_remove(page: Any, module_server: Server) -> None:
    page.goto(module_server.url("product-selection"))
    wait_for_step(page, "product-selection")
    add_product(page, "starter")
    add_product(page, "pro-yearly")
    press_continue(page)
    wait_for_step(page, "cart")
    line = page.locator("li.cart-line", has_text="Starter")
    line.get_by_label("Quantity").fill("3")
    with page.expect_navigation():
        line.get_by_role("button", name="Update").click()
    wait_for_step(page, "cart")
    assert page.locator('[data-kl-total="monthly_gross"]').inner_text() == "€29.70 / month"
    with page.expect_navigation():
        page.locator("li.cart-line", has_text="Pro, yearly").get_by_role(
            "button", name="Remove"
        ).click()
    wait_for_step(page, "cart")
    assert page.locator("li.cart-line").count() == 1
    assert page.locator('[data-kl-total="yearly_gross"]').is_hidden()


def test_pages_log_no_script_errors(page: Any, module_server: Server) -> None:
    """Every step page loads without a console error or an uncaught exception."""
    for step in STEPS:
        page.goto(module_server.url(step))
        wait_for_state(page)
        # Typing into a field makes the browser compile its pattern.
        for field in page.locator("form input[pattern]").all():
            field.fill("1")
    assert page.kl_errors == []


def test_field_patterns_work_in_the_browser(page: Any, module_server: Server) -> None:
    """A form field's ``pattern`` is checked by the browser (HTML compiles it with the v flag)."""
    page.goto(module_server.url("customer-information"))
    wait_for_state(page)
    postal = page.locator('form.step-form [name="postal_code"]')
    postal.fill("1")
    assert postal.evaluate("el => el.validity.patternMismatch") is True
    postal.fill("10115")
    assert postal.evaluate("el => el.validity.valid") is True


def test_every_step_fits_320_px(browser: Any, module_server: Server) -> None:
    """A phone-sized screen: the whole journey, filled in, never scrolls sideways."""
    context = browser.new_context(viewport={"width": 320, "height": 640})
    try:
        page = context.new_page()
        widths = {}

        def measure() -> None:
            widths[step_of(page)] = no_horizontal_scroll(page)[0]

        email = unique_email()
        page.goto(module_server.url("product-selection"))
        wait_for_step(page, "product-selection")
        add_product(page, "starter")
        add_product(page, "onboarding")
        measure()
        press_continue(page)
        wait_for_step(page, "cart")
        measure()
        press_continue(page)
        wait_for_step(page, "login-or-create-an-account")
        measure()
        sign_up(page, email, strong_password())
        wait_for_step(page, "customer-information")
        measure()
        fill_billing(page, email)
        submit_step_form(page)
        wait_for_step(page, "payment-method")
        choose_sepa(page)
        measure()
        page.get_by_role("button", name="Continue").click()
        wait_for_step(page, "confirm-order")
        measure()
        page.get_by_role("button", name="Order and pay").click()
        wait_for_step(page, "order-done")
        measure()
        assert set(widths) == set(STEPS)
        assert {step: w for step, w in widths.items() if w > 320} == {}
    finally:
        context.close()


# -- keyboard only ------------------------------------------------------------------------


def tab_to(page: Any, predicate: str, limit: int = 80) -> None:
    """Press Tab until the focused element satisfies ``predicate`` (a JS function of it)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate(f"() => ({predicate})(document.activeElement)"):
            return
    raise AssertionError(f"Tab never reached an element where {predicate}")


def by_text(text: str) -> str:
    return f"el => el && (el.innerText || el.value || '').trim().startsWith({text!r})"


def by_name(name: str) -> str:
    return f"el => el && el.name === {name!r}"


def type_into(page: Any, name: str, text: str) -> None:
    tab_to(page, by_name(name))
    page.keyboard.press("Control+A")
    page.keyboard.type(text)


def test_whole_journey_with_keyboard_only(
    page: Any, module_server: Server, module_ws: Workspace
) -> None:
    email = unique_email("kb")
    page.goto(module_server.url("product-selection"))
    wait_for_step(page, "product-selection")
    tab_to(
        page,
        "el => el.closest && !!el.closest('[data-kl-product=\"pro\"]') && el.type === 'submit'",
    )
    with page.expect_navigation():
        page.keyboard.press("Enter")
    wait_for_step(page, "product-selection")
    tab_to(page, "el => el.closest && !!el.closest('form.continue')")
    page.keyboard.press("Space")
    wait_for_step(page, "cart")
    tab_to(page, "el => el.closest && !!el.closest('form.continue')")
    page.keyboard.press("Enter")
    wait_for_step(page, "login-or-create-an-account")
    tab_to(page, "el => el.id === 'signup-email'")
    page.keyboard.type(email)
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.id") == "signup-password"
    page.keyboard.type(strong_password())
    page.keyboard.press("Enter")  # submits the sign-up form
    wait_for_step(page, "customer-information")
    for name, value in [
        ("first_name", "Ada"),
        ("last_name", "Lovelace"),
        ("email", email),
        ("street", "Hauptstrasse 5"),
        ("postal_code", "10115"),
        ("city", "Berlin"),
    ]:
        page.focus("body")
        type_into(page, name, value)
    tab_to(page, by_text("Continue"))
    page.keyboard.press("Enter")
    wait_for_step(page, "payment-method")
    tab_to(page, by_name("method"))
    # Arrow keys move within a radio group; Space selects.
    while page.evaluate("() => document.activeElement.value") != "sepa_debit":
        page.keyboard.press("ArrowDown")
    page.keyboard.press("Space")
    type_into(page, "holder", "Ada Lovelace")
    type_into(page, "iban", "DE89370400440532013000")
    tab_to(page, by_name("mandate"))
    page.keyboard.press("Space")
    tab_to(page, by_text("Continue"))
    page.keyboard.press("Enter")
    wait_for_step(page, "confirm-order")
    tab_to(page, by_text("Order and pay"))
    page.keyboard.press("Enter")
    wait_for_step(page, "order-done")
    number = page.locator("[data-kl-order-number]").inner_text()
    rows = module_ws.query("SELECT email, payment_method FROM orders WHERE number = ?", number)
    assert [tuple(r) for r in rows] == [(email, "sepa_debit")]


def test_errors_are_listed_in_the_order_of_the_page(page: Any, module_server: Server) -> None:
    email = to_payment(page, module_server)
    fill_billing(page, email, {"last_name": "", "email": "not an email"})
    with page.expect_navigation():
        submit_step_form(page)  # no browser bubble: the form is checked by the backend
    wait_for_step(page, "customer-information")
    page.wait_for_selector("[data-kl-error-summary]:not([hidden])")
    links = page.locator("[data-kl-error-summary] a").evaluate_all(
        "links => links.map(a => a.getAttribute('href'))"
    )
    assert links == ["#field-last_name", "#field-email"]  # not alphabetically


def test_a_failed_login_keeps_its_email_in_the_login_form_only(
    page: Any, module_server: Server
) -> None:
    page.goto(module_server.url("product-selection"))
    wait_for_step(page, "product-selection")
    assert page.locator("form.continue").is_hidden()  # nothing to continue with yet
    add_product(page, "starter")
    assert page.locator("form.continue").is_visible()
    press_continue(page)
    wait_for_step(page, "cart")
    press_continue(page)
    wait_for_step(page, "login-or-create-an-account")
    email = unique_email()
    with page.expect_navigation():
        log_in(page, email, "not the password")
    wait_for_step(page, "login-or-create-an-account")
    page.wait_for_selector("[data-kl-error-summary]:not([hidden])")
    assert page.locator("#login-email").input_value() == email
    assert page.locator("#signup-email").input_value() == ""


def test_after_the_order_there_is_no_way_back_into_it(page: Any, module_server: Server) -> None:
    email = to_payment(page, module_server)
    fill_billing(page, email)  # the VAT ID is left empty
    submit_step_form(page)
    wait_for_step(page, "payment-method")
    page.get_by_role("button", name="Continue").click()  # invoice
    wait_for_step(page, "confirm-order")
    answers = page.locator("[data-kl-answers]").first
    assert "Lovelace" in answers.inner_text()
    assert "VAT ID" not in answers.inner_text()  # an answer left empty has no row
    place_order(page)
    wait_for_step(page, "order-done")
    page.wait_for_selector("[data-kl-order]:not([hidden])")
    assert page.locator(".progress a").count() == 0
    # Back on the confirmation page, there is nothing left to confirm: on to the done page.
    page.goto(module_server.url("confirm-order"))
    page.wait_for_url(re.compile(r"/order-done/$"))
