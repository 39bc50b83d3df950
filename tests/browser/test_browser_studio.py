"""The guide's click path in the studio: from a shop with no journey to a placed order.

A marketer who never opens a text editor makes the product, the product
selection, the billing form and the seven-step journey, puts two steps in their
place (one by drag and drop, one with the keyboard), brands the shop, launches
the journey and orders.
The files written must read as a careful person would have written them. And a
change saved in the studio shows in a preview page left open beside it, without a click.
"""

from __future__ import annotations

import re
import tomllib
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from browser_helpers import (
    JOURNEY_FILE,
    Server,
    Workspace,
    add_product,
    no_horizontal_scroll,
    press_continue,
    running,
    shot,
    sign_up,
    strong_password,
    unique_email,
    wait_for_state,
    wait_for_step,
)
from playwright.sync_api import expect

import kljourney

pytestmark = pytest.mark.browser

AXE = Axe()

STUDIO = "__klbuild/studio/"

#: The journey file the studio writes, with the key it made up replaced by KEY.
EXPECTED_JOURNEY = """\
name = "Self-Service Shop & Checkout"
key = "KEY"
business_entity = "acme"

[[steps]]
name = "Product selection"
type = "product_selection"
active = true
progress_bar = true
product_selection = "plans"
unique_selection = false

[[steps]]
name = "Cart"
type = "order"
active = true
progress_bar = true

[[steps]]
name = "Login or create an account"
type = "authentication"
active = true
progress_bar = false

[[steps]]
name = "Customer Information"
type = "form"
active = true
progress_bar = true
form_target = "sold_to_account"
form = "billing"

[[steps]]
name = "Payment method"
type = "payment_method"
active = true
progress_bar = true

[[steps]]
name = "Confirm Order"
type = "confirmation"
active = true
progress_bar = true
confirmation_type = "direct"

[[steps]]
name = "Order done"
type = "order_done"
active = true
progress_bar = true
message_title = "Thank you for your purchase"
message_body = "We have received your order."
"""


def empty_shop(ws: Workspace) -> None:
    """The shop's own file only (site, seller, payment methods): no product, form or journey."""
    for path in ws.journeys.iterdir():
        if path.name != "keylight.toml" and path.is_file():
            path.unlink()
    text = ws.read("keylight.toml")
    text = re.sub(r"\n# How the pages look.*", "\n", text, flags=re.S)
    ws.write("keylight.toml", text)


def saved(page: Any) -> None:
    """Wait for the page the studio shows after a change it accepted."""
    page.wait_for_selector("[data-studio-notice]")
    assert page.locator("[data-studio-errors]").count() == 0


def add_step(page: Any, name: str, kind: str, progress_bar: bool = True, **typed: Any) -> None:
    form = page.locator("form[data-studio-step-form]")
    form.get_by_label("Name", exact=True).fill(name)
    form.get_by_label("Type", exact=True).select_option(kind)
    if progress_bar:
        form.get_by_label("Progress Bar").check()
    fieldset = form.locator(f'fieldset[data-studio-type="{kind}"]')
    for label, value in typed.items():
        control = fieldset.get_by_label(label.replace("_", " "), exact=True)
        if value is True:
            control.check()
        elif control.evaluate("e => e.tagName") == "SELECT":
            control.select_option(value)
        else:
            control.fill(value)
    form.get_by_role("button", name="Create").click()
    saved(page)


def step_names(page: Any) -> list[str]:
    return page.locator("[data-studio-steps] .step-name > a").all_inner_texts()


def test_a_marketer_builds_launches_and_orders(ws: Workspace, context: Any, page: Any) -> None:
    empty_shop(ws)
    with running(ws) as server:
        page.goto(server.base + STUDIO)
        assert "No journey yet" in page.locator("main").inner_text()

        # The product and the selection that offers it.
        page.get_by_role("link", name="Products").click()
        new = page.locator("form[action$='/products/new']")
        new.get_by_label("Id").fill("starter")
        new.get_by_label("Name").fill("Starter")
        new.get_by_label("Price").fill("9.90")
        new.get_by_label("Billing").select_option("monthly")
        new.get_by_label("Tax rate (%)").fill("19")
        new.get_by_role("button", name="Create").click()
        saved(page)
        new = page.locator("form[action$='/selections/new']")
        new.get_by_label("Id").fill("plans")
        new.get_by_label("Name").fill("Choose your plan")
        new.get_by_label("Starter").check()
        new.get_by_role("button", name="Create").click()
        saved(page)

        # The billing form, with the fields the order needs.
        page.get_by_role("link", name="Forms").click()
        new = page.locator("form[action$='/forms/new']")
        new.get_by_label("Id").fill("billing")
        new.get_by_label("Name").fill("Billing details")
        new.get_by_role("button", name="Create").click()
        saved(page)
        for name, label, kind, autocomplete in (
            ("email", "Email", "email", "email"),
            ("full_name", "Full name", "text", "name"),
        ):
            page.get_by_text("Add a field").click()
            new = page.locator("form[action$='/fields/new']")
            new.get_by_label("Field name").fill(name)
            new.get_by_label("Label").fill(label)
            new.get_by_label("Type").select_option(kind)
            new.get_by_label("Required").check()
            new.get_by_label("Autocomplete").fill(autocomplete)
            new.get_by_role("button", name="Add field").click()
            saved(page)

        # The journey: a name, no key, no order channel, the seller from the list.
        page.get_by_role("link", name="Journeys").click()
        create = page.locator("form[action$='/journeys']")
        create.get_by_label("Name").fill("Self-Service Shop & Checkout")
        create.get_by_label("Business entity").select_option("acme")
        create.get_by_role("button", name="Create").click()
        saved(page)
        assert page.locator("h1").inner_text() == "Self-Service Shop & Checkout"

        # Seven steps, two of them added out of place.
        add_step(page, "Cart", "order")
        add_step(
            page,
            "Product selection",
            "product_selection",
            **{"Product selection": "plans"},
        )
        add_step(page, "Login or create an account", "authentication", progress_bar=False)
        add_step(page, "Payment method", "payment_method")
        add_step(
            page,
            "Customer Information",
            "form",
            **{"Form target": "sold_to_account", "Form": "billing"},
        )
        add_step(page, "Confirm Order", "confirmation")
        add_step(
            page,
            "Order done",
            "order_done",
            **{
                "Message title": "Thank you for your purchase",
                "Message body": "We have received your order.",
            },
        )
        assert step_names(page)[:2] == ["Cart", "Product selection"]

        # Drag and drop: Product selection above Cart.
        items = page.locator("[data-studio-steps] > li")
        with page.expect_navigation():
            items.nth(1).locator(".handle").drag_to(items.nth(0), target_position={"x": 20, "y": 4})
        saved(page)
        assert step_names(page)[:3] == [
            "Product selection",
            "Cart",
            "Login or create an account",
        ]

        # The keyboard: Payment method one down, with Tab and Enter only.
        move = page.get_by_role("button", name="Move Payment method down")
        move.focus()
        with page.expect_navigation():
            page.keyboard.press("Enter")
        saved(page)
        assert step_names(page)[3:5] == ["Customer Information", "Payment method"]
        # The focus is back on the moved step's button, for the next press.
        focused = page.evaluate("() => document.activeElement.getAttribute('aria-label')")
        assert focused == "Move Payment method down"
        shot(page, "studio-journey")
        # The studio itself: axe-core finds nothing on any of its pages.
        studio_pages = [page.url, page.url.split("?")[0] + "steps/3/"]
        studio_pages += [
            server.base + STUDIO + path for path in ("", "catalog/", "forms/", "brand/")
        ]
        for url in studio_pages:
            page.goto(url)
            found = AXE.run(page).response["violations"]
            assert found == [], [(v["id"], [n["target"] for n in v["nodes"]][:3]) for v in found]
        page.goto(page.url.split("steps/")[0])

        # The files read as a careful person's, and klbuild check finds no mistake.
        files = [p.name for p in ws.journeys.glob("*.toml")]
        journey_file = next(name for name in files if name.startswith("self-service"))
        text = ws.read(journey_file)
        key = tomllib.loads(text)["key"]
        assert re.fullmatch(r"[a-z][a-z0-9]{9}", key)
        assert text == EXPECTED_JOURNEY.replace('"KEY"', f'"{key}"')
        shop = kljourney.load(ws.journeys)
        assert [w.message for w in shop.warnings] == []

        # The brand: a colour that white text can be read on, and a logo from the disk.
        page.get_by_role("link", name="Brand").click()
        page.get_by_label("Brand colour").fill("#7fd1ae")
        page.get_by_role("button", name="Save").click()
        page.locator("[data-studio-errors]").wait_for()
        assert "4.5:1" in page.locator("[data-studio-errors]").inner_text()
        page.get_by_label("Brand colour").fill("#0b5f4a")
        logo = b'<svg xmlns="http://www.w3.org/2000/svg" width="120" height="32"></svg>'
        page.locator("#upload-logo").set_input_files(
            {"name": "acme.svg", "mimeType": "image/svg+xml", "buffer": logo}
        )
        page.get_by_role("button", name="Save").click()
        saved(page)
        assert tomllib.loads(ws.read("keylight.toml"))["brand"]["color"] == "#0b5f4a"
        page.get_by_role("link", name="Journeys").click()
        page.get_by_role("link", name="Self-Service Shop & Checkout", exact=True).click()

        # Launch: the first step in a new window, as customers see it.
        with context.expect_page() as opened:
            page.get_by_role("link", name="Launch").click()
        customer = opened.value
        customer.wait_for_load_state()
        assert customer.url == f"{server.base}{key}/product-selection/"
        wait_for_state(customer)
        assert customer.locator("header img[alt='Acme Shop']").is_visible()
        current = customer.locator(".progress-step.is-current .progress-number")
        assert current.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(11, 95, 74)"
        add_product(customer, "starter")
        press_continue(customer)
        customer.wait_for_url(re.compile(r"/cart/$"))
        wait_for_state(customer)
        press_continue(customer)
        customer.wait_for_url(re.compile(r"/login-or-create-an-account/$"))
        wait_for_state(customer)
        email = unique_email("studio")
        sign_up(customer, email, strong_password())
        customer.wait_for_url(re.compile(r"/customer-information/$"))
        wait_for_state(customer)
        customer.get_by_label("Full name").fill("Ada Lovelace")
        assert customer.get_by_label("Email").input_value() == email
        customer.locator("form.step-form button[type=submit]").click()
        customer.wait_for_url(re.compile(r"/payment-method/$"))
        wait_for_state(customer)
        customer.get_by_role("radio", name="Invoice").check()
        customer.get_by_role("button", name="Continue").click()
        customer.wait_for_url(re.compile(r"/confirm-order/$"))
        wait_for_state(customer)
        customer.get_by_role("button", name="Order and pay").click()
        customer.wait_for_url(re.compile(r"/order-done/"))
        wait_for_state(customer)
        assert customer.locator("h1").inner_text() == "Thank you for your purchase"
        orders = ws.query("SELECT email, journey_key FROM orders")
        assert [(row["email"], row["journey_key"]) for row in orders] == [(email, key)]

        # Refused: a condition that does not parse. The reason is read first (focus), what
        # was typed stays, and the file is as it was.
        before = ws.read(journey_file)
        page.get_by_role("link", name="Cart", exact=True).click()
        page.get_by_label("Condition").fill("cart.total >")
        page.get_by_role("button", name="Save").click()
        errors = page.locator("[data-studio-errors]")
        errors.wait_for()
        assert "step 2 'Cart', field 'when'" in errors.inner_text()
        assert page.evaluate("() => document.activeElement.hasAttribute('data-studio-errors')")
        assert page.get_by_label("Condition").input_value() == "cart.total >"
        assert ws.read(journey_file) == before

        # Refused: the file was changed on disk (a colleague's editor) since the page was made.
        page.goto(server.base + STUDIO + f"journeys/{journey_file}/")
        ws.write(journey_file, before + "# checked by Grace\n")
        page.get_by_role("button", name="Move Cart down").click()
        errors.wait_for()
        assert "changed on disk since the studio showed it" in errors.inner_text()
        assert ws.read(journey_file) == before + "# checked by Grace\n"
        # The page now holds the file as it is: the same click works, and keeps the comment.
        page.get_by_role("button", name="Move Cart down").click()
        saved(page)
        assert step_names(page)[1:3] == ["Login or create an account", "Cart"]
        assert ws.read(journey_file).endswith("# checked by Grace\n")
        # No script error; the console's only complaints are the two refusals' statuses.
        assert [
            e for e in page.kl_errors if "(CONFLICT)" not in e and "(UNPROCESSABLE" not in e
        ] == []


def test_an_open_preview_shows_a_change_saved_in_the_studio(
    context: Any, page: Any, server: Server
) -> None:
    """The cart's page open beside the studio: a new page title saved in the studio is
    there without a click. The page is marked before the save and only a reload wipes
    the mark; nothing but the rebuilt page has the new heading, so without live reload
    the wait for it times out."""
    page.goto(server.url("cart"))
    wait_for_step(page, "cart")
    heading = page.locator("h1")
    assert heading.inner_text() == "Cart"
    page.evaluate("() => { window.__klMark = true; }")

    studio = context.new_page()
    studio.goto(f"{server.base}{STUDIO}journeys/{JOURNEY_FILE}/steps/1/")
    form = studio.locator("form[data-studio-step-form]")
    assert form.get_by_label("Name", exact=True).input_value() == "Cart"
    form.get_by_label("Page title").fill("Your basket")
    form.get_by_role("button", name="Save").click()
    saved(studio)

    expect(heading).to_have_text("Your basket", timeout=10_000)
    assert page.evaluate("() => window.__klMark") is None  # reloaded, not patched
    assert page.url == server.url("cart")
    # The name stays in the progress bar.
    assert page.locator("nav.progress [aria-current=step]").get_attribute("data-kl-name") == "Cart"
    wait_for_state(page)
    assert page.kl_errors == []


#: The studio's pages a person works on, from the dev server's base address.
STUDIO_PAGES = [
    "",
    f"journeys/{JOURNEY_FILE}/",
    f"journeys/{JOURNEY_FILE}/steps/1/",
    "journeys/cancel.toml/steps/0/",
    "catalog/",
    "forms/",
    "brand/",
    "journeys/catalog.toml/",
]


def test_every_studio_page_fits_a_phone_and_a_desktop(page: Any, server: Server) -> None:
    """No page scrolls sideways at 320 or 1280 px, every item's form open: a wide table
    scrolls in its own box, the charts shrink. And axe-core finds nothing at either."""
    for width in (320, 1280):
        page.set_viewport_size({"width": width, "height": 800})
        for path in STUDIO_PAGES:
            page.goto(server.base + STUDIO + path)
            page.evaluate(
                "() => document.querySelectorAll('details').forEach(d => { d.open = true })"
            )
            scroll_width, _client_width = no_horizontal_scroll(page)
            wide = page.evaluate(
                """w => Array.from(document.querySelectorAll('main *, header *'))
                    .filter(e => !e.closest('.scroll') && e.getBoundingClientRect().right > w)
                    .slice(0, 5).map(e => e.outerHTML.slice(0, 80))""",
                width,
            )
            assert scroll_width <= width, (width, path, wide)
            found = AXE.run(page).response["violations"]
            assert found == [], (
                width,
                path,
                [(v["id"], [n["target"] for n in v["nodes"]][:3]) for v in found],
            )
        page.goto(f"{server.base}{STUDIO}journeys/{JOURNEY_FILE}/")
        # The funnel's chart and its table are there, within the page.
        for box in (".funnel svg", "#performance .scroll"):
            right = page.locator(box).first.evaluate("e => e.getBoundingClientRect().right")
            assert right <= width, (width, box)
        shot(page, f"studio-journey-{width}")
    # No script error; the only complaint is the not-found page's status.
    assert [e for e in page.kl_errors if "(NOT FOUND)" not in e] == []


def test_after_a_delete_with_the_keyboard_the_focus_stays_in_the_list(
    page: Any, server: Server
) -> None:
    """Delete pressed on a step: the focus goes to the step now in its place, not to
    the top of the page, so the next Tab carries on where the person was."""
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto(f"{server.base}{STUDIO}journeys/{JOURNEY_FILE}/")

    def delete(name: str) -> str:
        page.get_by_role("button", name=f"Delete {name}", exact=True).focus()
        with page.expect_navigation():
            page.keyboard.press("Enter")
        saved(page)
        return page.evaluate(
            "() => document.activeElement.closest('[data-studio-steps] li') ? "
            "document.activeElement.textContent : document.activeElement.tagName"
        )

    assert delete("Cart") == "Login or create an account"
    assert step_names(page)[:2] == ["Product selection", "Login or create an account"]
    assert delete("Order done") == "Confirm Order"  # the last one: the new last
    page.keyboard.press("Tab")
    focused = page.evaluate("() => document.activeElement.getAttribute('aria-label')")
    assert focused == "Move Confirm Order up"  # the next control of the same step
    assert page.kl_errors == []
