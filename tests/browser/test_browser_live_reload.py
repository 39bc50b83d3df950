"""Editing the journey files while a page is open: it reloads by itself and shows the change.

Each test edits files, so each starts its own ``klbuild serve``.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from browser_helpers import (
    JOURNEY_FILE,
    Server,
    Workspace,
    add_product,
    buy_starter_and_sign_up,
    press_continue,
    sign_up,
    strong_password,
    unique_email,
    wait_for_state,
    wait_for_step,
)

pytestmark = pytest.mark.browser


#: Counts the ``hello`` events the live-reload script's EventSource receives.
WATCH_HELLO = """
(() => {
  const Original = window.EventSource;
  function Watched(url, options) {
    const source = new Original(url, options);
    source.addEventListener("hello", () => { window.__klHello = (window.__klHello || 0) + 1; });
    return source;
  }
  Watched.prototype = Original.prototype;
  window.EventSource = Watched;
})();
"""


@pytest.fixture
def page(page: Any) -> Any:
    page.add_init_script(WATCH_HELLO)
    return page


def mark(page: Any) -> None:
    """Leave a mark in the page's window: a reload (and only a reload) wipes it."""
    # The page is connected to the event stream before anything is saved.
    page.wait_for_function("() => window.__klHello >= 1")
    page.evaluate("() => { window.__klMark = true; }")


def wait_for_reload(page: Any) -> None:
    page.wait_for_function("() => window.__klMark === undefined", timeout=10_000)
    wait_for_state(page)


def bar(page: Any) -> list[str]:
    texts = page.locator("nav.progress li").all_inner_texts()
    return [t.replace("(completed)", "").split(maxsplit=1)[1].rstrip(" ✓").strip() for t in texts]


def test_renamed_and_deactivated_steps_show_after_a_save(
    page: Any, ws: Workspace, server: Server
) -> None:
    page.goto(server.url("product-selection"))
    wait_for_step(page, "product-selection")
    add_product(page, "starter")
    assert "Cart" in bar(page)
    mark(page)
    text = ws.read()
    text = text.replace('name = "Customer Information"', 'name = "Your details"', 1)
    text = text.replace(
        'name = "Cart"\ntype = "order"\nprogress_bar = true\nactive = true',
        'name = "Cart"\ntype = "order"\nprogress_bar = true\nactive = false',
        1,
    )
    ws.write(JOURNEY_FILE, text, atomic=True)  # as editors save
    wait_for_reload(page)
    assert bar(page) == [
        "Product selection",
        "Your details",
        "Payment method",
        "Confirm Order",
        "Order done",
    ]
    # The cart survived; the backend skips the deactivated step.
    assert page.locator('[data-kl-product="starter"] [data-kl-in-cart]').is_visible()
    press_continue(page)
    wait_for_step(page, "login-or-create-an-account")
    sign_up(page, unique_email(), strong_password())
    wait_for_step(page, "your-details")
    assert page.locator("h1").inner_text() == "Your details"


def test_the_open_page_follows_its_step_when_it_is_renamed(
    page: Any, ws: Workspace, server: Server
) -> None:
    page.goto(server.url("product-selection"))
    wait_for_step(page, "product-selection")
    add_product(page, "starter")
    page.goto(server.url("cart"))
    wait_for_step(page, "cart")
    mark(page)
    ws.write(JOURNEY_FILE, ws.read().replace('name = "Cart"', 'name = "Basket"', 1), atomic=True)
    wait_for_reload(page)
    wait_for_step(page, "basket")
    assert page.url == server.url("basket")
    assert page.locator("h1").inner_text() == "Basket"
    assert "Basket" in bar(page)


def check_output(ws: Workspace) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-m", "klbuild", "check", str(ws.journeys)],
        cwd=ws.root,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1, result
    return result.stderr.strip().splitlines()


def test_config_error_shows_the_overlay_and_a_fix_reloads(
    page: Any, ws: Workspace, server: Server
) -> None:
    page.goto(server.url("cart"))
    wait_for_step(page, "cart")
    mark(page)
    text = ws.read()
    broken = text.replace('form = "billing"', 'form = "bliling"').replace(
        'confirmation_type = "direct"', 'confirmation_type = "directly"'
    )
    ws.write(JOURNEY_FILE, broken)
    overlay = page.locator("#klbuild-overlay")
    overlay.locator("li").first.wait_for()
    expected = check_output(ws)
    problems = [line for line in expected if ": error:" in line or ": warning:" in line]
    assert len(problems) >= 2
    assert overlay.locator("li").all_inner_texts() == problems
    title = overlay.locator("h2").inner_text()
    assert expected[-1].startswith(title.split(": ", 1)[1])  # "2 errors; fix them..."
    # The heading of the alert dialog takes the focus.
    assert page.evaluate("() => document.activeElement.id") == "klbuild-overlay-title"
    assert page.evaluate("() => window.__klMark") is True  # shown over the page, not reloaded

    ws.write(JOURNEY_FILE, text)
    wait_for_reload(page)
    assert page.locator("#klbuild-overlay").count() == 0
    assert page.locator("h1").inner_text() == "Cart"


def test_a_page_opened_while_the_files_are_broken_shows_the_overlay(
    page: Any, ws: Workspace, server: Server
) -> None:
    ws.edit('form = "billing"', 'form = "bliling"')
    page.goto(server.url("product-selection"))
    page.locator("#klbuild-overlay li").first.wait_for()
    assert "bliling" in page.locator("#klbuild-overlay").inner_text()
    mark(page)
    ws.edit('form = "bliling"', 'form = "billing"')
    wait_for_reload(page)
    assert page.locator("#klbuild-overlay").count() == 0


def test_cart_and_login_survive_a_reload(page: Any, ws: Workspace, server: Server) -> None:
    email = unique_email()
    page.goto(server.url("product-selection"))
    wait_for_step(page, "product-selection")
    add_product(page, "pro")
    press_continue(page)
    wait_for_step(page, "cart")
    press_continue(page)
    wait_for_step(page, "login-or-create-an-account")
    sign_up(page, email, strong_password())
    wait_for_step(page, "customer-information")
    mark(page)
    ws.edit('name = "Confirm Order"', 'name = "Review your order"')
    wait_for_reload(page)
    assert "Review your order" in bar(page)
    assert page.locator('form.step-form [name="email"]').input_value() == email
    assert page.locator("[data-kl-messages]").is_hidden()
    page.goto(server.url("cart"))
    wait_for_step(page, "cart")
    assert page.locator("li.cart-line").count() == 1
    assert "Pro" in page.locator("li.cart-line").inner_text()
    page.goto(server.url("login-or-create-an-account"))
    wait_for_step(page, "login-or-create-an-account")
    assert page.locator("[data-kl-signed-in]").is_visible()
    assert page.locator("[data-kl-signed-in] [data-kl-customer]").inner_text() == email


def test_moving_a_step_block_reorders_the_journey(page: Any, ws: Workspace, server: Server) -> None:
    page.goto(server.url("cart"))
    wait_for_step(page, "cart")
    mark(page)
    text = ws.read()
    blocks = text.split("[[steps]]")
    form = next(i for i, b in enumerate(blocks) if 'type = "form"' in b)
    payment = next(i for i, b in enumerate(blocks) if 'type = "payment_method"' in b)
    blocks[form], blocks[payment] = blocks[payment], blocks[form]
    ws.write(JOURNEY_FILE, "[[steps]]".join(blocks), atomic=True)
    wait_for_reload(page)
    assert bar(page) == [
        "Product selection",
        "Cart",
        "Payment method",
        "Customer Information",
        "Confirm Order",
        "Order done",
    ]
    buy_starter_and_sign_up(page, server.url("product-selection"))
    wait_for_step(page, "payment-method")  # the backend follows the new order
    page.get_by_role("radio", name="Invoice").check()
    page.get_by_role("button", name="Continue").click()
    wait_for_step(page, "customer-information")
    for name, value in {
        "first_name": "Ada",
        "last_name": "Lovelace",
        "street": "Hauptstrasse 5",
        "postal_code": "10115",
        "city": "Berlin",
    }.items():
        page.locator(f'form.step-form [name="{name}"]').fill(value)
    page.locator("form.step-form button[type=submit]").click()
    wait_for_step(page, "confirm-order")
    back = page.locator("p.back a")
    assert back.get_attribute("href").endswith("/customer-information/")
