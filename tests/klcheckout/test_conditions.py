"""Conditions and rules at run time, with real HTTP on SQLite and PostgreSQL.

The example's segments journey (journeys/segments.toml): business customers get
the company form and invoice, private customers a short form and SEPA; a cart
rule allows one plan; a rule on the company form wants a VAT ID outside Germany.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from checkout_helpers import GOOD_IBAN, Backend, Shopper, unique_email
from click.testing import CliRunner
from sqlalchemy import select

from klcheckout import cart as carts
from klcheckout import conditions, tables
from klcheckout.cli import cli

KEY = "segments"
BUSINESS_SKIPS = ["your-details", "direct-debit"]
PRIVATE_SKIPS = ["company-details", "invoice"]
VAT_RULE = "Enter your company's VAT ID: we need it to invoice a business outside Germany."
ONE_PLAN = "Choose one plan: a subscription has one plan, Starter or Pro, not both."
COMPANY = {
    "company": "Analytical Engines Ltd",
    "contact_name": "Ada Lovelace",
    "email": "ada@example.com",
    "street": "1 Engine Road",
    "postal_code": "1010",
    "city": "Vienna",
    "country": "AT",
    "vat_id": "",
}
PRIVATE = {"first_name": "Charles", "last_name": "Babbage", "email": "charles@example.com"}
SEPA = {"method": "sepa_debit", "iban": GOOD_IBAN, "holder": "Charles Babbage", "mandate": "on"}


@pytest.fixture
def customer(backend: Backend) -> Iterator[Shopper]:
    person = backend.shopper(KEY)
    yield person
    person.close()


def enter(shopper: Shopper, query: str, step: str = "product-selection") -> dict[str, Any]:
    """The page script's first state request: the entry query string goes along."""
    response = shopper.http.get(
        f"{shopper.base}/{KEY}/state", params={"step": step, "entry": query}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    shopper.csrf = body["csrf_token"]
    return body


def location(response: Any) -> str:
    assert response.status_code == 303, (response.status_code, response.text)
    return response.headers["Location"]


def stored_entry(backend: Backend, shopper: Shopper) -> Any:
    checkout_id = _checkout_id(backend, shopper)
    with backend.engine.connect() as connection:
        return connection.execute(
            select(tables.checkouts.c.entry).where(tables.checkouts.c.id == checkout_id)
        ).scalar()


def _checkout_id(backend: Backend, shopper: Shopper) -> str:
    """The checkout id in the shopper's cart cookie (which the test can read, as anyone can)."""
    journey = backend.app.extensions["keylight"].shop.journeys[shopper.journey]
    cart, reason = carts.decode(backend.app, shopper.http.cookies.get("keylight"), journey)
    assert reason is None
    return cart.checkout_id


def order(backend: Backend, number: str) -> Any:
    with backend.engine.connect() as connection:
        return connection.execute(
            select(tables.orders).where(tables.orders.c.number == number)
        ).one()


def test_business_branch_company_form_rule_and_invoice(backend: Backend, customer: Shopper) -> None:
    state = enter(customer, "segment=business&utm_source=newsletter")
    assert state["skipped"] == BUSINESS_SKIPS
    assert "redirect" not in state
    customer.add("pro")
    assert location(customer.step("cart")) == f"/{KEY}/account/"
    guest = customer.step("account", {"action": "guest", "email": unique_email()})
    assert location(guest) == f"/{KEY}/company-details/"

    # The rule: a company outside Germany needs a VAT ID, shown next to the field.
    refused = customer.step("company-details", COMPANY)
    assert location(refused) == f"/{KEY}/company-details/"
    shown = customer.state("company-details")
    assert shown["errors"] == {"vat_id": VAT_RULE}
    assert shown["values"]["company"] == "Analytical Engines Ltd"
    as_json = customer.step("company-details", COMPANY, json=True)
    assert as_json.status_code == 422
    assert as_json.json()["errors"] == {"vat_id": VAT_RULE}
    # Built-in messages come first; the rule adds its own where the field has none.
    both = customer.step("company-details", {**COMPANY, "city": ""}, json=True)
    assert both.json()["errors"] == {"city": "City is required.", "vat_id": VAT_RULE}
    # In Germany the rule does not fire.
    german = {**COMPANY, "country": "DE", "postal_code": "10115", "city": "Berlin"}
    assert location(customer.step("company-details", german)) == f"/{KEY}/invoice/"
    filled = {**COMPANY, "vat_id": "ATU12345678"}
    assert location(customer.step("company-details", filled)) == f"/{KEY}/invoice/"

    # The private branch's pages send the customer on; their POSTs take nothing.
    assert customer.state("your-details")["redirect"] == f"/{KEY}/invoice/"
    # (The next step that applies, or the first one before it still to be done.)
    assert customer.state("direct-debit")["redirect"] == f"/{KEY}/invoice/"
    assert location(customer.step("direct-debit", SEPA)) == f"/{KEY}/invoice/"
    assert customer.state("invoice")["payment"] is None  # SEPA was not taken

    assert location(customer.step("invoice", {"method": "sepa_debit"})) == f"/{KEY}/invoice/"
    assert location(customer.step("invoice", {"method": "invoice"})) == f"/{KEY}/confirm-order/"
    assert location(customer.step("confirm-order")) == f"/{KEY}/order-done/"
    placed = order(backend, customer.state("order-done")["order"]["number"])
    assert placed.payment_method == "invoice"
    assert placed.answers["sold_to_account"]["vat_id"] == "ATU12345678"
    assert "first_name" not in placed.answers["sold_to_account"]


def test_private_branch_short_form_and_sepa(backend: Backend, customer: Shopper) -> None:
    state = customer.state("product-selection")
    assert state["skipped"] == PRIVATE_SKIPS
    customer.add("starter")
    customer.add("onboarding")
    assert location(customer.step("cart")) == f"/{KEY}/account/"
    guest = customer.step("account", {"action": "guest", "email": unique_email()})
    assert location(guest) == f"/{KEY}/your-details/"
    assert customer.state("company-details")["redirect"] == f"/{KEY}/your-details/"
    # A skipped form is not required, and its POST is not accepted.
    assert location(customer.step("company-details", COMPANY)) == f"/{KEY}/your-details/"
    assert location(customer.step("your-details", PRIVATE)) == f"/{KEY}/direct-debit/"
    assert location(customer.step("direct-debit", SEPA)) == f"/{KEY}/confirm-order/"
    assert location(customer.step("confirm-order")) == f"/{KEY}/order-done/"
    number = customer.state("order-done")["order"]["number"]
    placed = order(backend, number)
    assert placed.payment_method == "sepa_debit"
    assert placed.answers == {"sold_to_account": PRIVATE}
    # An operator's look at the order masks the account; collecting it shows it whole.
    env = {
        "KEYLIGHT_DATABASE_URL": backend.database_url,
        "KEYLIGHT_JOURNEYS": backend.config["KEYLIGHT_JOURNEYS"],
        "KEYLIGHT_INSTANCE": backend.config["KEYLIGHT_INSTANCE"],
        "KEYLIGHT_SECRET_KEYS": ",".join(backend.config["KEYLIGHT_SECRET_KEYS"]),
    }
    compact = GOOD_IBAN.replace(" ", "")
    shown = CliRunner().invoke(cli, ["orders", "show", number], env=env)
    assert shown.exit_code == 0, shown.output
    assert compact not in shown.output and compact[:4] in shown.output
    whole = CliRunner().invoke(cli, ["orders", "show", number, "--full"], env=env)
    assert json.loads(whole.output)["payment"]["iban"] == compact


def test_a_cart_rule_refuses_the_step_and_guards_confirmation(
    backend: Backend, customer: Shopper
) -> None:
    customer.add("starter")
    customer.add("pro")
    refused = customer.step("cart")
    assert location(refused) == f"/{KEY}/cart/"
    assert customer.state("cart")["errors"] == {"_form": ONE_PLAN}
    as_json = customer.step("cart", json=True)
    assert as_json.status_code == 422 and as_json.json()["errors"] == {"_form": ONE_PLAN}

    customer.post("cart/update", {"product": "pro", "quantity": 0, "step": "cart"})
    assert location(customer.step("cart")) == f"/{KEY}/account/"
    customer.step("account", {"action": "guest", "email": unique_email()})
    customer.step("your-details", PRIVATE)
    assert location(customer.step("direct-debit", SEPA)) == f"/{KEY}/confirm-order/"
    # A second plan added from the product page afterwards: no order until it is fixed.
    customer.add("pro")
    confirmed = customer.step("confirm-order")
    assert location(confirmed) == f"/{KEY}/cart/"
    assert customer.state("cart")["errors"] == {"_form": ONE_PLAN}
    guarded = customer.step("confirm-order", json=True)
    assert guarded.status_code == 409
    assert guarded.json()["errors"] == {"_form": ONE_PLAN}
    with backend.engine.connect() as connection:
        placed = connection.execute(
            select(tables.orders.c.id).where(
                tables.orders.c.checkout_id == _checkout_id(backend, customer)
            )
        ).first()
    assert placed is None


def test_entry_parameters_are_bounded_kept_with_the_checkout_and_stick(
    backend: Backend, customer: Shopper
) -> None:
    many = "&".join(f"p{i}={'v' * 300}" for i in range(30))
    state = enter(customer, "segment=business&" + "n" * 300 + "=x&" + many)
    assert state["skipped"] == BUSINESS_SKIPS
    assert "segment" not in customer.http.cookies.get("keylight", "")
    entry = stored_entry(backend, customer)
    assert len(entry) == conditions.MAX_ENTRY
    assert entry["segment"] == "business"
    assert entry["n" * 100] == "x"
    assert all(len(k) <= 100 and len(v) <= 100 for k, v in entry.items())

    # With an empty cart another entry replaces the first; with a full one it does not.
    assert enter(customer, "segment=private")["skipped"] == PRIVATE_SKIPS
    assert enter(customer, "segment=business")["skipped"] == BUSINESS_SKIPS
    customer.add("starter")
    assert enter(customer, "segment=private")["skipped"] == BUSINESS_SKIPS
    assert customer.state("cart")["skipped"] == BUSINESS_SKIPS  # no entry: the first stays
    assert stored_entry(backend, customer)["segment"] == "business"


def test_the_example_journey_stores_no_entry(backend: Backend) -> None:
    """A journey without conditions never writes its entry parameters."""
    shopper = backend.shopper()
    response = shopper.http.get(
        f"{shopper.base}/{shopper.journey}/state",
        params={"step": "cart", "entry": "utm_source=x"},
    )
    assert response.status_code == 200 and response.json()["skipped"] == []
    with backend.engine.connect() as connection:
        assert (
            connection.execute(
                select(tables.checkouts.c.id).where(
                    tables.checkouts.c.id == _checkout_id(backend, shopper)
                )
            ).first()
            is None
        )
    shopper.close()


def test_the_segment_comes_from_the_account(backend: Backend, customer: Shopper) -> None:
    email = unique_email()
    customer.add("starter")
    customer.step("cart")
    signed_up = customer.step(
        "account", {"action": "signup", "email": email, "password": "a long passphrase"}
    )
    assert location(signed_up) == f"/{KEY}/your-details/"
    env = {
        "KEYLIGHT_DATABASE_URL": backend.database_url,
        "KEYLIGHT_JOURNEYS": backend.config["KEYLIGHT_JOURNEYS"],
        "KEYLIGHT_INSTANCE": backend.config["KEYLIGHT_INSTANCE"],
        "KEYLIGHT_SECRET_KEYS": ",".join(backend.config["KEYLIGHT_SECRET_KEYS"]),
    }
    runner = CliRunner()
    put = runner.invoke(cli, ["customers", "set-segment", email.upper(), "business"], env=env)
    assert put.exit_code == 0, put.output
    assert f"{email}  segment=business" in runner.invoke(cli, ["customers", "list"], env=env).output
    unknown = runner.invoke(cli, ["customers", "set-segment", "nobody@example.com", "b"], env=env)
    assert unknown.exit_code == 1 and "no account with the email" in unknown.output
    # No entry parameter at all: the account's segment decides.
    assert customer.state("cart")["skipped"] == BUSINESS_SKIPS
    assert customer.state("your-details")["redirect"] == f"/{KEY}/company-details/"
    # The account's segment wins over the entry's.
    assert enter(customer, "segment=private", step="cart")["skipped"] == BUSINESS_SKIPS


def test_a_link_from_another_site_cannot_choose_the_branch(
    backend: Backend, customer: Shopper
) -> None:
    """The state is a GET: only the shop's own page script may store entry parameters."""
    del customer.http.headers["Origin"]
    response = customer.http.get(
        f"{customer.base}/{KEY}/state",
        params={"step": "product-selection", "entry": "segment=business"},
        headers={"Referer": "https://elsewhere.example/", "Sec-Fetch-Site": "cross-site"},
    )
    assert response.status_code == 200
    assert response.json()["skipped"] == PRIVATE_SKIPS  # no segment: the private branch
    assert stored_entry(backend, customer) is None
