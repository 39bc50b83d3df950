"""The example journey walked through the backend with real HTTP, product to stored order."""

from __future__ import annotations

import json
from pathlib import Path

from checkout_helpers import (
    BILLING,
    EXAMPLE,
    GOOD_IBAN,
    TEST_JOURNEY,
    Backend,
    Shopper,
    base_config,
    database,
    example_with_guest,
    served_backend,
    unique_email,
    up_to_confirmation,
)
from click.testing import CliRunner
from sqlalchemy import select

from klcheckout import tables
from klcheckout.cli import cli


def test_example_journey_from_product_to_order(backend: Backend, shopper: Shopper) -> None:
    email = unique_email()
    assert shopper.state("product-selection")["cart"]["count"] == 0
    # The confirmation page of an empty cart sends the customer to choose a product.
    assert shopper.state("confirm-order")["redirect"] == f"/{EXAMPLE}/product-selection/"

    answer = shopper.add(
        "starter", 2, extra={"price": "0.01"}
    )  # a price from the client is ignored
    assert answer.status_code == 303
    assert answer.headers["Location"] == f"/{EXAMPLE}/product-selection/"
    assert shopper.add("onboarding").status_code == 303

    cart = shopper.state("cart")["cart"]
    assert [(line["product"], line["quantity"], line["line_total"]) for line in cart["lines"]] == [
        ("starter", 2, "19.80"),
        ("onboarding", 1, "249.00"),
    ]
    assert cart["totals"]["recurring"]["monthly"]["gross"] == "19.80"
    assert cart["totals"]["one_time"] == {"net": "209.24", "tax": "39.76", "gross": "249.00"}

    assert shopper.step("cart").headers["Location"] == f"/{EXAMPLE}/login-or-create-an-account/"
    signed_up = shopper.step(
        "login-or-create-an-account",
        {"action": "signup", "email": email, "password": "a long passphrase"},
    )
    assert signed_up.headers["Location"] == f"/{EXAMPLE}/customer-information/"
    state = shopper.state("customer-information")
    assert state["customer"] == {"email": email, "signed_in": True, "guest": False}
    assert state["values"]["email"] == email  # auto-filled from the account

    filled = shopper.step("customer-information", {**BILLING, "email": email})
    assert filled.headers["Location"] == f"/{EXAMPLE}/payment-method/"
    paid = shopper.step(
        "payment-method",
        {"method": "sepa_debit", "iban": GOOD_IBAN, "holder": "Ada Lovelace", "mandate": "on"},
    )
    assert paid.headers["Location"] == f"/{EXAMPLE}/confirm-order/"
    confirming = shopper.state("confirm-order")
    assert confirming["values"]["country"] == "DE"
    assert confirming["shown"] == {"country": "Germany"}  # the page shows the name
    assert "redirect" not in confirming  # every step before it is done
    payment = confirming["payment"]
    assert payment["iban_masked"] == "DE89 •••• •••• •••• •••• 00"
    assert "0532" not in json.dumps(payment)

    confirmed = shopper.step("confirm-order", {"confirm_token": "t-" + email})
    assert confirmed.status_code == 303
    assert confirmed.headers["Location"] == f"/{EXAMPLE}/order-done/"
    done = shopper.state("order-done")
    number = done["order"]["number"]
    assert number.startswith("KL-")
    assert done["cart"]["count"] == 0

    with backend.engine.connect() as connection:
        order = connection.execute(
            select(tables.orders).where(tables.orders.c.number == number)
        ).one()
        lines = connection.execute(
            select(tables.order_lines).where(tables.order_lines.c.order_id == order.id)
        ).all()
    assert order.email == email
    assert order.journey_key == EXAMPLE
    assert order.business_entity == "acme"
    assert order.payment_method == "sepa_debit"
    assert order.payment["iban"] == "DE89370400440532013000"
    assert order.answers["sold_to_account"]["last_name"] == "Lovelace"
    assert order.totals["gross"] == "268.80"
    assert order.status == "placed" and order.currency == "EUR"
    assert [(line.product, line.quantity, line.unit_price) for line in lines] == [
        ("starter", 2, "9.90"),
        ("onboarding", 1, "249.00"),
    ]

    env = {"KEYLIGHT_DATABASE_URL": backend.database_url, **_env(backend)}
    runner = CliRunner()
    listed = runner.invoke(cli, ["orders", "list"], env=env)
    assert listed.exit_code == 0, listed.output
    assert number in listed.output
    # What is due now and what recurs, never added up into one figure (268.80).
    [line] = [line for line in listed.output.splitlines() if number in line]
    assert "249.00 EUR now + 19.80 EUR a month" in line and "268.80" not in line
    shown = runner.invoke(cli, ["orders", "show", number], env=env)
    assert shown.exit_code == 0 and json.loads(shown.output)["email"] == email
    # Times carry their offset on SQLite as on PostgreSQL.
    assert json.loads(shown.output)["created_at"].endswith("+00:00")
    assert json.loads(shown.output)["created_at"][:10] in line
    exported = runner.invoke(cli, ["orders", "export", "--format", "csv"], env=env)
    assert f"{number}," in exported.output and "onboarding" in exported.output
    as_json = runner.invoke(cli, ["orders", "export", "--format", "json"], env=env)
    [exported_order] = [o for o in json.loads(as_json.output) if o["number"] == number]
    # An export is a file that travels: the IBAN is masked unless asked for in full.
    assert exported_order["payment"]["iban"].startswith("DE89 ")
    assert "DE89370400440532013000" not in as_json.output
    full = runner.invoke(cli, ["orders", "export", "--format", "json", "--full"], env=env)
    [whole] = [o for o in json.loads(full.output) if o["number"] == number]
    assert whole["payment"]["iban"] == "DE89370400440532013000"
    missing = runner.invoke(cli, ["orders", "show", "KL-0000-XXXX-XXXX"], env=env)
    assert missing.exit_code == 1 and "no order" in missing.output


def _env(backend: Backend) -> dict[str, str]:
    return {
        "KEYLIGHT_JOURNEYS": backend.config["KEYLIGHT_JOURNEYS"],
        "KEYLIGHT_INSTANCE": backend.config["KEYLIGHT_INSTANCE"],
        "KEYLIGHT_SECRET_KEYS": ",".join(backend.config["KEYLIGHT_SECRET_KEYS"]),
    }


def test_guest_checkout_returning_customer_autofill_and_external_done(backend: Backend) -> None:
    """Optional authentication: guest first, then an account; saved answers fill the form."""
    email = unique_email()
    first = backend.shopper(TEST_JOURNEY)
    first.add("pro", step="plan")
    first.add("starter", step="plan")  # unique selection: replaces pro
    assert [line["product"] for line in first.state("cart")["cart"]["lines"]] == ["starter"]
    first.step("cart")
    assert first.step("account", {"action": "guest", "email": email}).headers["Location"] == (
        f"/{TEST_JOURNEY}/billing/"
    )
    assert first.state("billing")["customer"] == {"email": email, "signed_in": False, "guest": True}
    first.step("billing", {**BILLING, "email": email})
    first.step("payment", {"method": "invoice"})
    done = first.step("confirm", {"confirm_token": "guest-" + email})
    assert done.headers["Location"] == "https://example.com/thanks"
    first.close()

    # A guest can create an account afterwards; a signed-in customer's answers auto-fill.
    second = backend.shopper(TEST_JOURNEY)
    second.add("pro", step="plan")
    second.step("cart")
    second.step("account", {"action": "signup", "email": email, "password": "another passphrase"})
    second.step("billing", {**BILLING, "email": email, "first_name": "Augusta"})
    second.close()

    third = backend.shopper(TEST_JOURNEY)
    third.add("pro", step="plan")
    third.step("cart")
    third.step("account", {"action": "login", "email": email, "password": "another passphrase"})
    values = third.state("billing")["values"]
    assert values["first_name"] == "Augusta" and values["city"] == "Berlin"
    third.close()

    stranger = backend.shopper(TEST_JOURNEY)
    stranger.add("pro", step="plan")
    stranger.step("cart")
    stranger.step("account", {"action": "guest", "email": email})
    assert "first_name" not in stranger.state("billing")["values"]  # nobody else's answers
    stranger.close()


def test_json_answers_carry_the_state_of_the_page_they_send_to(backend: Backend) -> None:
    """The page script asks once per step: each JSON answer holds what the state endpoint
    would answer for the page it sends the customer to, errors and typed values included."""
    shopper = backend.shopper(EXAMPLE)
    email = unique_email()

    def answered(path: str, data: dict, page: str) -> dict:
        answer = shopper.post(path, data, json=True)
        body = answer.json()
        assert body["redirect"] == f"/{EXAMPLE}/{page}/"
        carried = body["state"]
        assert carried["csrf_token"] == body["csrf_token"]
        assert carried["errors"] == body["errors"]
        # Asked of the state endpoint now, the page gets the same; a refusal's errors and
        # typed values live only in its answer (a plain form's are kept for the page).
        asked = shopper.state(page)
        if body["errors"]:
            assert {**carried, "errors": {}, "values": asked["values"]} == asked
        else:
            assert carried == asked
        return carried

    shopper.state("product-selection")
    state = answered(
        "cart/add", {"product": "starter", "step": "product-selection"}, "product-selection"
    )
    assert [line["product"] for line in state["cart"]["lines"]] == ["starter"]
    refused = answered(
        "cart/add",
        {"product": "starter", "quantity": "lots", "step": "product-selection"},
        "product-selection",
    )
    assert "whole number" in refused["errors"]["quantity"]
    answered("steps/cart", {}, "login-or-create-an-account")
    # A sign-up's answer is alike whether or not the email has an account: no state
    # (it would show whether the customer is signed in); the next page asks itself.
    signed_up = shopper.step(
        "login-or-create-an-account",
        {"action": "signup", "email": email, "password": "a long passphrase"},
        json=True,
    ).json()
    assert signed_up["redirect"] == f"/{EXAMPLE}/customer-information/"
    assert "state" not in signed_up
    state = shopper.state("customer-information")
    assert state["customer"] == {"email": email, "signed_in": True, "guest": False}
    # A form with a mistake: the page it goes back to shows the errors and what was typed.
    wrong = answered(
        "steps/customer-information",
        {**BILLING, "email": email, "postal_code": ""},
        "customer-information",
    )
    assert wrong["errors"]["postal_code"] and wrong["values"]["first_name"] == "Ada"
    answered("steps/customer-information", {**BILLING, "email": email}, "payment-method")
    state = answered("steps/payment-method", {"method": "invoice"}, "confirm-order")
    assert state["shown"] == {"country": "Germany"} and "redirect" not in state
    done = answered("steps/confirm-order", {"confirm_token": "json-" + email}, "order-done")
    assert done["order"]["number"].startswith("KL-") and done["cart"]["count"] == 0
    shopper.close()


def test_answers_leaving_the_journey_carry_no_state(guest: Shopper) -> None:
    """An order done page elsewhere (``external_url``) has no state to be given."""
    email = unique_email()
    up_to_confirmation(guest, email)
    body = guest.step("confirm", {"confirm_token": "ext-" + email}, json=True).json()
    assert body["redirect"] == "https://example.com/thanks" and "state" not in body


def test_an_order_done_page_whose_condition_is_false_still_follows_the_order(
    tmp_path: Path,
) -> None:
    """A condition on the order done page that is false for this customer (here, one
    that cannot be evaluated: a number compared with text, false at run time) must not
    leave someone who has just paid on the confirmation, its cart empty now."""
    journeys = example_with_guest(tmp_path / "journeys")
    guest_file = journeys / "guestshop.toml"
    text = guest_file.read_text()
    done = 'name = "Done"\ntype = "order_done"\n'
    assert done in text
    guest_file.write_text(text.replace(done, done + "when = \"cart.total > 'abc'\"\n"))
    with database("sqlite", tmp_path) as url:
        with served_backend("sqlite", base_config(tmp_path, journeys, url)) as shop:
            guest = shop.shopper(TEST_JOURNEY)
            email = unique_email()
            up_to_confirmation(guest, email)
            placed = guest.step("confirm", {"confirm_token": "when-" + email}, json=True)
            assert placed.status_code == 200, placed.text
            # The journey's order done page is the shop's own thank-you page, elsewhere.
            assert placed.json()["redirect"] == "https://example.com/thanks"
            guest.close()
            with shop.engine.connect() as connection:
                order = connection.execute(
                    select(tables.orders).where(tables.orders.c.email == email)
                ).one()
            assert order.journey_key == TEST_JOURNEY
