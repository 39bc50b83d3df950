"""A customer walks the example journey in Chromium, as in the issue's happy path."""

from __future__ import annotations

import json
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from browser_helpers import (
    KEY,
    STEPS,
    Server,
    Workspace,
    add_product,
    choose_sepa,
    cookie_text,
    fill_billing,
    log_in,
    no_horizontal_scroll,
    place_order,
    press_continue,
    shot,
    sign_up,
    step_of,
    strong_password,
    submit_step_form,
    unique_email,
    wait_for_step,
)

pytestmark = pytest.mark.browser
#: axe-core, as the test dependency ships it.
AXE = Axe()

#: The steps shown in the progress bar, in order (the login step is not in it).
BAR = [
    "Product selection",
    "Cart",
    "Customer Information",
    "Payment method",
    "Confirm Order",
    "Order done",
]
STEP_NAMES = dict(
    zip(
        STEPS,
        [
            "Product selection",
            "Cart",
            "Login or create an account",
            "Customer Information",
            "Payment method",
            "Confirm Order",
            "Order done",
        ],
        strict=True,
    )
)


def check_progress(page: Any) -> None:
    """The bar lists the bar steps; the current one (if in it) is aria-current, earlier done."""
    items = page.locator("nav.progress li")
    texts = [t.replace("(completed)", "").strip() for t in items.all_inner_texts()]
    names = [t.split(maxsplit=1)[1].rstrip(" ✓").strip() for t in texts]
    assert names == BAR
    step = step_of(page)
    name = STEP_NAMES[step]
    current = page.locator('nav.progress [aria-current="step"]')
    if name in BAR:
        assert current.count() == 1
        assert name in current.inner_text()
        here = BAR.index(name)
    else:  # the login step: bar steps before it done, none current
        assert current.count() == 0
        here = STEPS.index(step) - 1  # Product selection and Cart come before it
    classes = [items.nth(i).get_attribute("class") or "" for i in range(len(BAR))]
    assert all("is-done" in c for c in classes[:here]), classes
    assert all("is-done" not in c for c in classes[here + 1 :]), classes
    # On a screen as wide as a laptop's (the context's 1,024 px): one line, and the
    # current step's name whole (another may end in "…").
    tops = {round(box["y"]) for box in (items.nth(i).bounding_box() for i in range(len(BAR)))}
    assert len(tops) == 1, f"{step}: the bar takes {len(tops)} lines"
    if name in BAR:
        assert current.evaluate("el => el.scrollWidth <= el.clientWidth")
    assert page.locator("[data-kl-progress-compact]").is_hidden()


def check_accessible(page: Any) -> None:
    """axe-core finds nothing on the page, and nothing scrolls sideways, at the context's
    width, at a desktop's and at a phone's."""
    size = page.viewport_size
    try:
        for width, height in ((size["width"], size["height"]), (1280, 900), (320, 640)):
            page.set_viewport_size({"width": width, "height": height})
            scroll_width, _ = no_horizontal_scroll(page)
            assert scroll_width <= width, f"{step_of(page)}: scrollWidth {scroll_width}"
            found = AXE.run(page).response["violations"]
            assert found == [], [
                (v["id"], v["help"], [n["target"] for n in v["nodes"]][:3]) for v in found
            ]
    finally:
        page.set_viewport_size(size)


def check_shopping(page: Any) -> None:
    """The product selection: its pictures loaded, no wider than their cards and as tall
    as their width and height said (nothing jumps); the cart beside the products on a
    wide screen, below them on a phone."""
    pictures = page.locator("img.product-image")
    assert pictures.count() == 4
    for index in range(pictures.count()):
        picture = pictures.nth(index)
        loaded = picture.evaluate("i => i.complete && i.naturalWidth > 0")
        assert loaded, picture.get_attribute("src")
        box, card = picture.bounding_box(), picture.locator("xpath=..").bounding_box()
        assert box["width"] <= card["width"]
        ratio = int(picture.get_attribute("width")) / int(picture.get_attribute("height"))
        assert abs(box["width"] / box["height"] - ratio) < 0.02
    products = page.locator("section.selection").bounding_box()
    cart = page.locator(".shopping-cart").bounding_box()
    assert cart["x"] >= products["x"] + products["width"], "the cart beside the products"
    size = page.viewport_size
    page.set_viewport_size({"width": 320, "height": 640})
    try:
        products = page.locator("section.selection").bounding_box()
        cart = page.locator(".shopping-cart").bounding_box()
        assert cart["y"] >= products["y"] + products["height"], "below them on a phone"
    finally:
        page.set_viewport_size(size)


def check_summary(page: Any) -> None:
    """Where a step shows the order: beside it on a wide screen, folded above it on a phone."""
    if page.locator(".shopping").count():
        check_shopping(page)
    summary = page.locator("details[data-kl-summary]")
    if summary.count() == 0:
        return
    main = page.locator("main").bounding_box()
    aside = page.locator("aside.summary-column").bounding_box()
    assert aside["x"] >= main["x"] + main["width"], "beside the step at 1,024 px"
    assert summary.evaluate("d => d.open") and "Starter" in summary.inner_text()
    size = page.viewport_size
    page.set_viewport_size({"width": 320, "height": 640})
    try:
        main = page.locator("main").bounding_box()
        aside = page.locator("aside.summary-column").bounding_box()
        assert aside["y"] + aside["height"] <= main["y"] + 1, "above the step on a phone"
        # The page script folds it on the media query's change event, which comes a
        # little after the resize.
        page.wait_for_function("() => !document.querySelector('details[data-kl-summary]').open")
        summary.locator("summary").click()
        assert summary.evaluate("d => d.open") and "Starter" in summary.inner_text()
        summary.locator("summary").click()
    finally:
        page.set_viewport_size(size)


def check_narrow(page: Any) -> None:
    """At 320 px the page fits: nothing scrolls sideways; the bar is one line of text."""
    size = page.viewport_size
    page.set_viewport_size({"width": 320, "height": 640})
    try:
        scroll_width, _ = no_horizontal_scroll(page)
        assert scroll_width <= 320, f"{step_of(page)}: scrollWidth {scroll_width} at 320 px"
        assert page.locator("nav.progress ol").is_hidden()
        compact = page.locator("[data-kl-progress-compact]")
        name = STEP_NAMES[step_of(page)]
        if name in BAR:
            expected = f"Step {BAR.index(name) + 1} of {len(BAR)} — {name}"
            assert compact.inner_text() == expected
        else:
            assert compact.count() == 0
    finally:
        page.set_viewport_size(size)


def on_step(page: Any, step: str, shots: bool = False) -> None:
    wait_for_step(page, step)
    check_progress(page)
    check_summary(page)
    check_narrow(page)
    check_accessible(page)
    if shots:
        shot(page, f"{STEPS.index(step) + 1}-{step}")


def test_happy_path_sepa_order_lands_in_the_database(
    page: Any, module_server: Server, module_ws: Workspace
) -> None:
    email, password = unique_email(), strong_password()
    page.goto(module_server.url("product-selection"))
    on_step(page, "product-selection")
    add_product(page, "starter")
    assert page.locator('[data-kl-product="starter"] [data-kl-in-cart]').is_visible()
    assert page.locator('[data-kl-product="pro"] [data-kl-in-cart]').is_hidden()
    add_product(page, "onboarding")
    on_step(page, "product-selection", shots=True)
    press_continue(page)

    on_step(page, "cart", shots=True)
    lines = page.locator("[data-kl-cart] li.cart-line")
    assert lines.count() == 2
    assert "Starter" in lines.nth(0).inner_text() and "€9.90 / month" in lines.nth(0).inner_text()
    assert "Onboarding workshop" in lines.nth(1).inner_text()
    totals = page.locator("[data-kl-totals]")
    assert totals.locator('[data-kl-total="one_time_gross"]').inner_text() == "€249.00"
    assert totals.locator('[data-kl-total="monthly_gross"]').inner_text() == "€9.90 / month"
    assert totals.locator('[data-kl-total="yearly_gross"]').is_hidden()
    # 19 % included in 249.00 now, and in 9.90 each month: each period's own tax.
    assert totals.locator('[data-kl-total="one_time_tax"]').inner_text() == "€39.76 (19 %)"
    assert totals.locator('[data-kl-total="monthly_tax"]').inner_text() == "€1.58 (19 %)"
    assert totals.locator('[data-kl-total="yearly_tax"]').is_hidden()
    press_continue(page)

    on_step(page, "login-or-create-an-account", shots=True)
    sign_up(page, email, password)

    on_step(page, "customer-information", shots=True)
    fill_billing(page, email)
    submit_step_form(page)

    on_step(page, "payment-method", shots=True)
    choose_sepa(page)
    page.get_by_role("button", name="Continue").click()

    on_step(page, "confirm-order", shots=True)
    assert "Ada" in page.locator('[data-kl-value="first_name"]').inner_text()
    assert page.locator('[data-kl-value="city"]').inner_text() == "Berlin"
    assert page.locator('[data-kl-value="country"]').inner_text() == "Germany"
    payment = page.locator("[data-kl-payment]").inner_text()
    assert "SEPA Direct Debit" in payment and "3000" not in payment.replace(" ", "")
    assert page.locator("[data-kl-customer]").first.inner_text() == email
    # The example's [brand]: the order button and the current step in its colour.
    order_button = page.get_by_role("button", name="Order and pay")
    assert order_button.evaluate("b => getComputedStyle(b).backgroundColor") == "rgb(11, 95, 74)"
    number = page.locator('nav.progress [aria-current="step"] .progress-number')
    assert number.evaluate("n => getComputedStyle(n).backgroundColor") == "rgb(11, 95, 74)"
    place_order(page)

    on_step(page, "order-done", shots=True)
    assert page.locator("h1").inner_text() == "Thank you for your purchase"
    assert "We have received your order" in page.locator("main").inner_text()
    number = page.locator("[data-kl-order-number]").inner_text()
    assert number.startswith("KL-")
    assert page.locator("[data-kl-order]").is_visible()

    orders = module_ws.query("SELECT * FROM orders WHERE number = ?", number)
    assert len(orders) == 1
    order = orders[0]
    assert order["email"] == email
    assert order["journey_key"] == KEY
    assert order["payment_method"] == "sepa_debit"
    assert order["currency"] == "EUR"
    answers = json.loads(order["answers"])
    assert answers["sold_to_account"]["last_name"] == "Lovelace"
    assert answers["sold_to_account"]["city"] == "Berlin"
    assert json.loads(order["payment"])["iban"] == "DE89370400440532013000"
    # ... but the IBAN and the answers never travel in the cookie in clear text.
    cookies = cookie_text(page.context)
    assert "DE89" not in cookies and "Lovelace" not in cookies
    lines = module_ws.query(
        "SELECT product, quantity, line_total FROM order_lines"
        " WHERE order_id = ? ORDER BY position",
        order["id"],
    )
    assert [(r["product"], r["quantity"], r["line_total"]) for r in lines] == [
        ("starter", 1, "9.90"),
        ("onboarding", 1, "249.00"),
    ]


def test_returning_customer_finds_the_billing_form_filled(
    browser: Any, page: Any, module_server: Server, module_ws: Workspace
) -> None:
    email, password = unique_email("grace"), strong_password()
    # First purchase.
    page.goto(module_server.url("product-selection"))
    wait_for_step(page, "product-selection")
    add_product(page, "pro")
    press_continue(page)
    wait_for_step(page, "cart")
    press_continue(page)
    wait_for_step(page, "login-or-create-an-account")
    sign_up(page, email, password)
    wait_for_step(page, "customer-information")
    fill_billing(page, email, {"first_name": "Grace", "last_name": "Hopper", "city": "Arlington"})
    submit_step_form(page)
    wait_for_step(page, "payment-method")
    page.get_by_role("radio", name="Invoice").check()
    page.get_by_role("button", name="Continue").click()
    wait_for_step(page, "confirm-order")
    place_order(page)
    wait_for_step(page, "order-done")

    # Second purchase, in a fresh browser profile: logged in again.
    second = browser.new_context()
    try:
        again = second.new_page()
        again.goto(module_server.url("product-selection"))
        wait_for_step(again, "product-selection")
        add_product(again, "starter")
        press_continue(again)
        wait_for_step(again, "cart")
        press_continue(again)
        wait_for_step(again, "login-or-create-an-account")
        log_in(again, email, password)
        wait_for_step(again, "customer-information")
        form = again.locator("form.step-form")
        assert form.locator('[name="first_name"]').input_value() == "Grace"
        assert form.locator('[name="last_name"]').input_value() == "Hopper"
        assert form.locator('[name="city"]').input_value() == "Arlington"
        assert form.locator('[name="email"]').input_value() == email
        assert form.locator('[name="country"]').input_value() == "DE"
        submit_step_form(again)
        wait_for_step(again, "payment-method")
    finally:
        second.close()
    rows = module_ws.query("SELECT count(*) AS n FROM orders WHERE email = ?", email)
    assert rows[0]["n"] == 1
