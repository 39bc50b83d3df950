"""Every word the backend writes goes through gettext: the pages it renders without
JavaScript, its refusals, its error pages and its emails, in the pseudo-language
(``tests/pseudo.py``) over real HTTP.

One shop (the example's journeys and the guest test journey, in ``en-GB``, with an
email hook on the self-service journey) and one server for the module; each test
walks part of the shop and checks what a customer would read.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from checkout_helpers import (
    BILLING,
    TEST_JOURNEY,
    Backend,
    base_config,
    served_backend,
    unique_email,
    up_to_confirmation,
)
from pseudo import babel_words, leftovers, page_texts, pseudo_theme, shop_words
from sqlalchemy import select
from test_subscription_journeys import Subscriber, link_of

from klcheckout.hooks import mail
from klcheckout.tables import events
from kljourney import i18n

#: The fields of the backend's JSON that a customer reads.
READ = {"error", "errors", "messages", "text", "label", "button", "title", "when", "charge"}


@pytest.fixture(scope="module")
def pseudo(tmp_path_factory: pytest.TempPathFactory, journeys_dir: Path) -> Iterator[Backend]:
    tmp = tmp_path_factory.mktemp("pseudo")
    journeys = tmp / "journeys"
    shutil.copytree(journeys_dir, journeys)  # the brand's images too
    for source in journeys_dir.glob("*.toml"):
        text = source.read_text(encoding="utf-8")
        if source.name == "keylight.toml":
            text = text.replace('locale = "en-US"', 'locale = "en-GB"')
        if source.name == "self-service.toml":
            text += '\n[[hooks]]\ntype = "email"\nsubject = "Order {order_number}"\n'
        (journeys / source.name).write_text(text, encoding="utf-8")
    theme = pseudo_theme(tmp / "theme")
    config = {
        **base_config(tmp, journeys, f"sqlite:///{tmp / 'keylight.sqlite3'}"),
        "KEYLIGHT_TEMPLATES": str(theme),
    }
    with served_backend("sqlite", config) as up:
        yield up


@pytest.fixture(scope="module")
def known(pseudo: Backend) -> set[str]:
    return shop_words(pseudo.app.extensions["keylight"].shop) | babel_words()


def read(body: Any, wanted: bool = False) -> Iterator[str]:
    """The strings of a JSON answer a customer reads (not ids, URLs or states)."""
    if isinstance(body, dict):
        for name, value in body.items():
            yield from read(value, wanted or name in READ or name.endswith(("_text", "_label")))
    elif isinstance(body, list):
        for item in body:
            yield from read(item, wanted)
    elif isinstance(body, str) and wanted:
        yield body


def check_json(response: Any, known: set[str]) -> list[str]:
    texts = list(read(response.json()))
    assert texts, response.text
    return list(leftovers(texts, known))


def check_page(html: str, known: set[str]) -> list[str]:
    texts = page_texts(html)
    assert any("⟦" in text for text in texts), html[:300]
    return list(leftovers(texts, known))


def test_refusals_are_in_the_customers_language(pseudo: Backend, known: set[str]) -> None:
    shopper = pseudo.shopper()
    answers = [
        shopper.step("cart", json=True),  # an empty cart
        shopper.add("no-such-product", json=True),
        shopper.add("starter", quantity="lots", json=True),
        shopper.step(
            "login-or-create-an-account",
            {"action": "login", "email": "nobody@example.com", "password": "wrong"},
            json=True,
        ),
        shopper.step(
            "login-or-create-an-account",
            {"action": "signup", "email": "not an address", "password": "short"},
            json=True,
        ),
        shopper.step("customer-information", {}, json=True),
        shopper.step(
            "payment-method",
            {"method": "sepa_debit", "holder": "", "iban": "DE00 1234"},
            json=True,
        ),
        shopper.step("confirm-order", {"confirm_token": "x"}, json=True),
        shopper.post("cart/add", {"product": "starter"}, json=True, csrf=False),
        shopper.http.get(f"{pseudo.url}/no-such-journey/state"),
        shopper.http.get(
            f"{pseudo.url}/no-such-journey/state", headers={"Accept": "application/json"}
        ),
    ]
    for answer in answers:
        if answer.headers["Content-Type"].startswith("application/json"):
            assert check_json(answer, known) == [], answer.text
        else:
            assert check_page(answer.text, known) == []


def test_the_backends_pages_are_in_the_customers_language(pseudo: Backend, known: set[str]) -> None:
    """Each step's page as the backend renders it without JavaScript, reached as a
    customer reaches it: every earlier step done."""
    shopper = pseudo.shopper()
    email = unique_email()
    known = known | set(BILLING.values())  # the customer's own answers, shown back
    walk = [
        ("product-selection", None),
        ("cart", {}),
        (
            "login-or-create-an-account",
            {"action": "signup", "email": email, "password": "a long passphrase"},
        ),
        ("customer-information", {**BILLING, "email": email}),
        ("payment-method", {"method": "invoice"}),
        ("confirm-order", None),
    ]
    shopper.add("starter")
    for step, answers in walk:
        page = shopper.http.get(f"{pseudo.url}/{shopper.journey}/pages/{step}/")
        assert page.status_code == 200, (step, page.text)
        assert check_page(page.text, known) == [], step
        if step == "customer-information":
            # Sent empty, without script: the page again, with its errors.
            sent = shopper.http.post(
                f"{pseudo.url}/{shopper.journey}/steps/{step}?page=backend",
                data={"csrf_token": shopper.state()["csrf_token"]},
                allow_redirects=False,
            )
            location = sent.headers["Location"].removeprefix("/api")
            sent = shopper.http.get(pseudo.url + location)
            assert sent.status_code == 200 and 'class="error-summary"' in sent.text
            assert check_page(sent.text, known) == []
        if answers is not None:
            assert shopper.step(step, answers).status_code == 303, step
    shopper.step("confirm-order", {"confirm_token": "pseudo-" + email})
    done = shopper.http.get(f"{pseudo.url}/{shopper.journey}/pages/order-done/")
    assert check_page(done.text, known) == []


def test_the_account_the_subscription_journeys_and_every_email(
    pseudo: Backend, known: set[str]
) -> None:
    subscriber = Subscriber(pseudo)
    account = subscriber.shopper.http.get(f"{pseudo.url}/account/page")
    assert check_page(account.text, known) == []
    assert list(leftovers(read(subscriber.account()), known)) == []

    subscriber.enter("change-plan", "your-new-plan")
    assert list(leftovers(read(subscriber.state("your-new-plan")), known)) == []
    subscriber.step("your-new-plan", {"product": "starter"})  # refused: the plan they have
    assert list(leftovers(read(subscriber.state("your-new-plan")), known)) == []
    subscriber.step("your-new-plan", {"product": "pro"})
    confirm = subscriber.state("confirm-the-change")
    assert list(leftovers(read(confirm), known)) == []
    page = subscriber.shopper.http.get(f"{pseudo.url}/change-plan/pages/confirm-the-change/")
    assert check_page(page.text, known) == []
    subscriber.step("confirm-the-change", {"confirm_token": "pseudo-change"})

    subscriber.enter("cancel", "why")
    subscriber.step("why", {"reason": "not-using"})
    assert list(leftovers(read(subscriber.state("why")), known)) == []
    page = subscriber.shopper.http.get(f"{pseudo.url}/cancel/pages/why/")
    assert check_page(page.text, known) == []

    subscriber.enter("pause", "take-a-break")
    subscriber.step("take-a-break", {"periods": "7"})  # refused: not one of the durations
    assert list(leftovers(read(subscriber.state("take-a-break")), known)) == []
    page = subscriber.shopper.http.get(f"{pseudo.url}/pause/pages/take-a-break/")
    assert check_page(page.text, known) == []

    # A guest asks for a sign-in link: its page and its email.
    guest = pseudo.shopper(TEST_JOURNEY)
    email = unique_email()
    up_to_confirmation(guest, email)
    guest.step("confirm", {"confirm_token": "guest-" + email})
    visitor = pseudo.shopper()
    token = visitor.http.get(f"{pseudo.url}/account").json()["csrf_token"]
    asked = visitor.http.post(
        f"{pseudo.url}/account/link",
        data={"email": email, "csrf_token": token},
        headers={"Accept": "application/json", "Origin": pseudo.url},
    )
    assert check_json(asked, known) == []
    link_page = visitor.http.get(link_of(pseudo, email))
    assert check_page(link_page.text, known) == []

    rendered = emails(pseudo)
    kinds = {name for name, _ in rendered}
    assert {"order_placed", "subscription_changed", "sign_in_link"} <= kinds
    for name, message in rendered:
        subject = str(message["Subject"])
        if name != "order_placed":  # the hook's subject is the shop's own words
            assert list(leftovers([subject], known)) == [], subject
        text = message.get_body(("plain",)).get_content()
        html = message.get_body(("html",)).get_content()
        assert list(leftovers(text.splitlines(), known)) == [], (name, text)
        assert check_page(html, known) == [], name


def emails(backend: Backend) -> list[tuple[str, Any]]:
    """Every email in the outbox, rendered as the worker sends it."""
    with backend.engine.connect() as connection:
        rows = connection.execute(select(events.c.hook, events.c.payload)).all()
    theme = backend.config["KEYLIGHT_TEMPLATES"]
    folders = backend.app.extensions["keylight"].folders
    rendered = []
    for hook, payload in rows:
        if hook["type"] != "email":
            continue
        with i18n.speaking(payload["locale"] or "en-GB", folders):
            message = mail.render(hook, payload, "shop@example.com", theme)
        rendered.append((hook.get("template", "order_placed"), message))
    return rendered


def test_the_check_finds_a_string_that_escaped_gettext() -> None:
    texts = ["⟦Çöñţîñûé⟧", "Starter", "⟦Þåý⟧ €9.90 Please try again", "ada@example.com"]
    assert list(leftovers(texts, {"Starter"})) == [
        "['Please', 'try', 'again'] in '⟦Þåý⟧ €9.90 Please try again'"
    ]
