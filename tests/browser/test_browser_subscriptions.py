"""Subscriptions in Chromium: the example's account page and the journeys behind it.

A customer buys Starter, then from the account page upgrades to Pro (charged for
the days left), schedules a downgrade and keeps the plan after all, starts to
cancel and takes the offered discount instead, pauses and resumes, cancels, and
after the period's end (the server's clock moved on, the cron command run) comes
back through the win-back journey. A guest signs in with the emailed link.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_helpers import (
    Server,
    Workspace,
    buy_starter_and_sign_up,
    fill_billing,
    running,
    shot,
    strong_password,
    submit_step_form,
    unique_email,
    wait_for_state,
    wait_for_step,
)

pytestmark = pytest.mark.browser

DAY = 24 * 3600


@pytest.fixture(scope="module")
def clock(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The file that moves the server's clock on (``KEYLIGHT_CLOCK_FILE``): seconds ahead."""
    path = tmp_path_factory.mktemp("clock") / "offset"
    path.write_text("0")
    return path


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory, clock: Path) -> Iterator[Server]:
    ws = Workspace(tmp_path_factory.mktemp("subscriptions"))
    with running(ws, env={"KEYLIGHT_CLOCK_FILE": str(clock)}) as server:
        yield server


def on_account(page: Any) -> None:
    """The account page with its state applied: until the page script has it, the page
    shows its sign-in forms and no customer, whoever is signed in."""
    page.wait_for_url(re.compile(r"/account/(\?.*)?$"))
    wait_for_state(page)
    page.wait_for_selector("[data-kl-subscription-clone], [data-kl-signed-out]:not([hidden])")


def card(page: Any, name: str) -> Any:
    return page.locator("li.subscription-card[data-kl-subscription-clone]", has_text=name).first


def fact(card_: Any, key: str) -> str:
    return card_.locator(f'[data-kl-sub="{key}"]').inner_text()


def open_from_account(page: Any, name: str, action: str, journey: str, step: str) -> None:
    card(page, name).get_by_role("link", name=action).click()
    wait_for_step(page, step, journey)


def confirm(page: Any, button: str, journey: str, done: str) -> str:
    """Press the confirmation's button; the done page's sentence about what was applied."""
    page.get_by_role("button", name=button).click()
    wait_for_step(page, done, journey)
    # A done page has no form to wait for: wait for the sentence the state fills in.
    applied = page.locator("[data-kl-applied]:not([hidden]) [data-kl-applied-text]")
    return applied.inner_text()


def back_to_account(page: Any) -> None:
    page.get_by_role("link", name="Back to your account").click()
    on_account(page)


def run_due(shop: Server, clock: Path) -> str:
    """What cron runs: ``klcheckout subscriptions due --apply``, on the server's database,
    with the same moved clock."""
    ws = shop.ws
    env = {
        "PATH": "/usr/bin:/bin",
        "KEYLIGHT_DATABASE_URL": f"sqlite:///{ws.database}",
        "KEYLIGHT_JOURNEYS": str(ws.journeys),
        "KEYLIGHT_INSTANCE": str(ws.instance),
        "KEYLIGHT_CLOCK_FILE": str(clock),
    }
    done = subprocess.run(
        [str(Path(sys.executable).with_name("klcheckout")), "subscriptions", "due", "--apply"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_a_subscriber_changes_cancels_pauses_and_comes_back(
    shop: Server, clock: Path, page: Any
) -> None:
    password = strong_password()
    email = buy_starter_and_sign_up(page, shop.url("product-selection"), password)
    wait_for_step(page, "customer-information")
    fill_billing(page, email)
    submit_step_form(page)
    wait_for_step(page, "payment-method")
    submit_step_form(page)  # invoice, the first method
    wait_for_step(page, "confirm-order")
    page.get_by_role("button", name="Order and pay").click()
    wait_for_step(page, "order-done")

    page.goto(shop.base + "account/")
    on_account(page)
    starter = card(page, "Starter")
    assert fact(starter, "status_label") == "Active"
    assert fact(starter, "charge") == "€9.90 / month"
    links = starter.locator("[data-kl-actions] a").all_inner_texts()
    assert links == ["Change plan", "Pause", "Cancel"]
    assert page.locator("[data-kl-orders] li").count() == 1
    shot(page, "subscriptions-account")

    # Upgrade to Pro now: charged the prorated difference, as a one-time order line.
    open_from_account(page, "Starter", "Change plan", "change-plan", "your-new-plan")
    current = page.get_by_role("radio", name=re.compile("^Starter"))
    assert current.is_disabled()
    pro = page.locator("label", has_text="Pro")
    assert "Upgrade" in pro.inner_text() and "now for the" in pro.inner_text()
    page.get_by_role("radio", name=re.compile("^Pro")).check()
    submit_step_form(page)
    wait_for_step(page, "confirm-the-change", "change-plan")
    change = page.locator("[data-kl-change]")
    assert "Starter, €9.90 / month" in change.inner_text()
    assert "Pro, €29.00 / month" in change.inner_text()
    assert page.locator('[data-kl-change-field="now_label"]').inner_text() == "Charged now"
    shot(page, "subscriptions-confirm-upgrade")
    applied = confirm(page, "Confirm the change", "change-plan", "done")
    assert applied.startswith("Your plan is now Pro. The order number of the charge is KL-")
    back_to_account(page)
    assert fact(card(page, "Pro"), "charge") == "€29.00 / month"

    # Schedule a downgrade, see it everywhere, and keep the plan after all.
    open_from_account(page, "Pro", "Change plan", "change-plan", "your-new-plan")
    page.get_by_role("radio", name=re.compile("^Starter")).check()
    submit_step_form(page)
    wait_for_step(page, "confirm-the-change", "change-plan")
    assert "Takes effect" in page.locator("[data-kl-change]").inner_text()
    applied = confirm(page, "Confirm the change", "change-plan", "done")
    assert applied.startswith("Your plan changes to Starter on ")
    back_to_account(page)
    pro_card = card(page, "Pro")
    assert fact(pro_card, "scheduled_change_text").startswith("Starter from ")
    pro_card.get_by_role("button", name="Keep my current plan").click()
    on_account(page)
    assert "You keep your current plan." in page.locator("[data-kl-messages]").inner_text()
    assert card(page, "Pro").locator('[data-kl-sub-row="scheduled_change_text"]').is_hidden()

    # Cancel, but take the offered discount instead.
    open_from_account(page, "Pro", "Cancel", "cancel", "why")
    page.get_by_role("radio", name="It is too expensive").check()
    submit_step_form(page)
    wait_for_step(page, "why", "cancel")
    offer = page.locator("[data-kl-offer]")
    assert offer.is_visible()
    assert "20 % off for 3 months" in offer.inner_text()
    shot(page, "subscriptions-offer")
    offer.get_by_role("button", name="Accept the offer").click()
    wait_for_step(page, "done", "cancel")
    taken = page.locator("[data-kl-applied]:not([hidden]) [data-kl-applied-text]").inner_text()
    assert taken == "Pro now comes with 20 % off for 3 months."
    back_to_account(page)
    assert fact(card(page, "Pro"), "charge") == "€23.20 / month"
    assert fact(card(page, "Pro"), "discount_text").startswith("20 % off for 3 months")

    # Cancel, decline the offered pause, and undo the cancellation from the account page.
    open_from_account(page, "Pro", "Cancel", "cancel", "why")
    page.get_by_role("radio", name="I am not using it at the moment").check()
    submit_step_form(page)
    wait_for_step(page, "why", "cancel")
    page.get_by_role("button", name="No thanks, go on cancelling").click()
    wait_for_step(page, "confirm", "cancel")
    applied = confirm(page, "Cancel my subscription", "cancel", "done")
    assert "You can undo this until then." in applied
    back_to_account(page)
    assert fact(card(page, "Pro"), "status_label") == "Ends at the end of the period"
    card(page, "Pro").get_by_role("button", name="Undo the cancellation").click()
    on_account(page)
    assert fact(card(page, "Pro"), "status_label") == "Active"

    # Pause for a month and resume early.
    open_from_account(page, "Pro", "Pause", "pause", "take-a-break")
    page.get_by_role("radio", name=re.compile("^1 month")).check()
    submit_step_form(page)
    wait_for_step(page, "confirm", "pause")
    applied = confirm(page, "Pause my subscription", "pause", "done")
    assert applied.startswith("Pro is paused until ")
    back_to_account(page)
    assert fact(card(page, "Pro"), "status_label") == "Paused"
    card(page, "Pro").get_by_role("button", name="Resume now").click()
    on_account(page)
    assert fact(card(page, "Pro"), "status_label") == "Active"

    # Cancel for good, with a comment; the period ends (the clock moves on, cron runs).
    open_from_account(page, "Pro", "Cancel", "cancel", "why")
    page.get_by_role("radio", name="Something else").check()
    page.get_by_label("Tell us more").fill("Moving to another tool")
    submit_step_form(page)
    wait_for_step(page, "confirm", "cancel")
    confirm(page, "Cancel my subscription", "cancel", "done")
    clock.write_text(str(40 * DAY))
    assert "cancelled" in run_due(shop, clock)
    page.goto(shop.base + "account/")
    on_account(page)
    # Forty days on, the login has ended (12 hours at most): sign in on the account page.
    login = page.locator('form[data-kl-form="login"]')
    login.get_by_label("Email").fill(email)
    login.get_by_label("Password").fill(password)
    login.get_by_role("button", name="Sign in").click()
    on_account(page)
    assert "You are signed in." in page.locator("[data-kl-messages]").inner_text()
    old = card(page, "Pro")
    assert fact(old, "status_label") == "Cancelled"
    assert old.locator("[data-kl-actions] a").all_inner_texts() == ["Come back"]

    # Win-back: the plan again, with the journey's 30 % off.
    open_from_account(page, "Pro", "Come back", "come-back", "plan")
    starter_again = page.locator("label", has_text="Starter")
    assert "€6.93 / month" in starter_again.inner_text()
    page.get_by_role("radio", name=re.compile("^Starter")).check()
    submit_step_form(page)
    wait_for_step(page, "payment-method", "come-back")
    submit_step_form(page)
    wait_for_step(page, "confirm", "come-back")
    assert page.locator('[data-kl-change-field="now_text"]').inner_text() == "€6.93"
    page.get_by_role("button", name="Order and pay").click()
    wait_for_step(page, "welcome-back", "come-back")
    assert page.locator("[data-kl-order-number]").inner_text().startswith("KL-")
    page.goto(shop.base + "account/")
    on_account(page)
    new = card(page, "Starter")
    assert fact(new, "status_label") == "Active"
    assert fact(new, "charge") == "€6.93 / month"
    assert page.kl_errors == []


def test_a_guest_signs_in_with_the_emailed_link(shop: Server, page: Any) -> None:
    email = unique_email("guest")
    # A guest who bought a subscription (the segments journey allows guests).
    page.goto(shop.url("product-selection", "segments"))
    wait_for_step(page, "product-selection", "segments")
    page.locator('[data-kl-product="starter"] button[type=submit]').click()
    wait_for_step(page, "product-selection", "segments")
    page.locator("form.continue button[type=submit]").click()
    wait_for_step(page, "cart", "segments")
    page.locator("form.continue button[type=submit]").click()
    wait_for_step(page, "account", "segments")
    guest = page.locator('form[data-kl-form="guest"]')
    guest.get_by_label("Email").fill(email)
    guest.get_by_role("button").click()
    wait_for_step(page, "your-details", "segments")
    for name, value in {"first_name": "Ada", "last_name": "Lovelace"}.items():
        page.locator(f'form.step-form [name="{name}"]').fill(value)
    submit_step_form(page)
    wait_for_step(page, "direct-debit", "segments")
    page.get_by_label("Account holder").fill("Ada Lovelace")
    page.get_by_label("IBAN", exact=True).fill("DE89 3704 0044 0532 0130 00")
    page.get_by_label("I agree to the SEPA Direct Debit mandate").check()
    submit_step_form(page)
    wait_for_step(page, "confirm-order", "segments")
    page.get_by_role("button", name="Order and pay").click()
    wait_for_step(page, "order-done", "segments")

    page.goto(shop.base + "account/")
    on_account(page)
    form = page.locator('form[data-kl-form="link"]')
    form.get_by_label("Email you ordered with").fill(email)
    form.get_by_role("button", name="Email me a sign-in link").click()
    on_account(page)
    assert "a sign-in link is on its way" in page.locator("[data-kl-messages]").inner_text()
    # Without a mail server, development writes the shop's emails to the log.
    link = shop.wait_for_output(re.compile(r"https?://\S+/account/link/[\w-]+")).group(0)
    page.goto(link)
    page.get_by_role("button", name="Sign in with the link").click()
    on_account(page)
    assert page.locator("[data-kl-customer]").inner_text() == email
    assert fact(card(page, "Starter"), "status_label") == "Active"
    assert page.kl_errors == []


def test_the_account_page_works_without_javascript(shop: Server, browser: Any) -> None:
    context = browser.new_context(java_script_enabled=False)
    context.set_default_timeout(10_000)
    try:
        page = context.new_page()
        page.goto(shop.base + "account/")
        page.wait_for_url(re.compile(r"/api/account/page$"))
        login = page.locator('form[data-kl-form="login"]')
        login.get_by_label("Email").fill("nobody@example.com")
        login.get_by_label("Password").fill("not the password")
        login.get_by_role("button", name="Sign in").click()
        page.wait_for_url(re.compile(r"/api/account/page\?notice=wrong$"))
        assert "The email or password is wrong." in page.locator("main").inner_text()
    finally:
        context.close()


def test_a_signed_out_visitor_is_led_to_the_account_page(shop: Server, page: Any) -> None:
    # An old link to a subscription journey, in a browser signed in nowhere (or no more).
    page.goto(shop.url("your-new-plan", "change-plan") + "?subscription=sub_someone0000")
    messages = page.locator("[data-kl-messages]")
    messages.get_by_role("link", name="Go to your account").wait_for()
    assert "could not find this subscription among yours" in messages.inner_text()
    assert page.locator("main form:visible").count() == 0
    messages.get_by_role("link", name="Go to your account").click()
    on_account(page)
    assert page.locator('form[data-kl-form="login"]').is_visible()


def test_a_confirmation_that_asks_to_accept_the_terms(ws: Workspace, page: Any) -> None:
    ws.edit('confirmation_type = "direct"', 'confirmation_type = "direct"\naccept_terms = true')
    with running(ws) as server:
        email = buy_starter_and_sign_up(page, server.url("product-selection"))
        wait_for_step(page, "customer-information")
        fill_billing(page, email)
        submit_step_form(page)
        wait_for_step(page, "payment-method")
        submit_step_form(page)
        wait_for_step(page, "confirm-order")
        legal = page.locator("ul.legal-links")
        assert legal.get_by_role("link").all_inner_texts() == [
            "Terms and conditions",
            "Right of withdrawal",
            "Privacy notice",
        ]
        tick = page.get_by_role("checkbox", name="I accept the terms and conditions")
        page.get_by_role("button", name="Order and pay").click()
        # The browser holds the form back until the box is ticked; nothing is placed.
        assert tick.evaluate("box => box.validity.valueMissing") is True
        assert page.url.endswith("/confirm-order/")
        tick.check()
        page.get_by_role("button", name="Order and pay").click()
        wait_for_step(page, "order-done")
        assert page.locator("[data-kl-order-number]").inner_text().startswith("KL-")
    assert page.kl_errors == []
