"""Ordering on a customer's behalf, over real HTTP on SQLite and PostgreSQL: staff find
or create the customer at a customer_lookup step, the forms fill in from that customer's
profile, the order is the customer's and records who placed it (and for which partner),
and its confirmation reaches the customer through a real SMTP server."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from checkout_helpers import (
    BILLING,
    REPO,
    TEST_JOURNEY,
    Backend,
    Mailbox,
    Shopper,
    base_config,
    database,
    example_with_guest,
    served_backend,
    smtp_settings,
    unique_email,
)
from sqlalchemy import select
from test_staff import Member, add_member, run

import kljourney
from klcheckout.hooks import outbox
from klcheckout.tables import customers, orders
from kljourney.errors import ConfigError

#: Customers and sales walk it: the lookup is staff's, the rest anyone's.
MIXED_JOURNEY = """
name = "Shop or be served"
key = "mixed"
business_entity = "acme"
audience = ["customers", "sales"]

[[steps]]
name = "Account"
type = "optional_authentication"

[[steps]]
name = "Customer"
type = "customer_lookup"

[[steps]]
name = "Plan"
type = "product_selection"
product_selection = "plans"

[[steps]]
name = "Done"
type = "order_done"
"""


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def shop(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, mailbox: Mailbox
) -> Iterator[Backend]:
    tmp = tmp_path_factory.mktemp(f"on-behalf-{request.param}")
    journeys = example_with_guest(tmp / "journeys")
    # The partner chooses the payment here; handing that step to the customer, as the
    # example does, is test_handovers'.
    example = (journeys / "assisted-order.toml").read_text()
    (journeys / "assisted-order.toml").write_text(example.replace('actor = "customer"\n', ""))
    (journeys / "mixed.toml").write_text(MIXED_JOURNEY)
    with database(request.param, tmp) as database_url:
        config = {
            **base_config(tmp, journeys, database_url),
            **smtp_settings(mailbox),
        }
        with served_backend(request.param, config) as up:
            yield up


def partner(shop: Backend, organisation: str = "Initech") -> Member:
    member = Member(shop, add_member(shop, "partner", partner=organisation))
    member.enrol()
    return member


def known_customer(shop: Backend) -> str:
    """A customer who signed up and gave billing details (their profile) in the shop."""
    email = unique_email()
    person = Shopper(shop.url, TEST_JOURNEY)
    person.add("starter", step="plan")
    person.step("cart")
    person.step("account", {"action": "signup", "email": email, "password": "a good passphrase"})
    saved = person.step("billing", {**BILLING, "email": email, "first_name": "Grace"})
    assert saved.status_code == 303, saved.text[:2000]
    return email


def look_up(walker: Shopper, email: str) -> requests.Response:
    return walker.step("customer", {"email": email}, json=True)


def to_confirmation(walker: Shopper) -> None:
    """From the plan to the confirmation, the billing form as it was filled in; the
    partner's reference where the member is a partner (the step is theirs alone)."""
    assert walker.add("starter", step="product-selection", json=True).status_code == 200
    assert walker.step("cart", {}, json=True).status_code == 200
    if "partner-reference" not in walker.state("billing")["skipped"]:
        reference = walker.step("partner-reference", {"reference": "PO-42"}, json=True)
        assert reference.status_code == 200
    billing = walker.state("billing")["values"]
    assert walker.step("billing", billing, json=True).status_code == 200
    assert walker.step("payment-method", {"method": "invoice"}, json=True).status_code == 200


def test_lookup_finds_a_customer_and_the_forms_fill_in_from_their_profile(
    shop: Backend, mailbox: Mailbox
) -> None:
    email = known_customer(shop)
    walker = partner(shop).journey("assisted-order")
    found = look_up(walker, email.upper())  # an address is found however it is typed
    assert found.status_code == 200, found.text
    state = walker.state("billing")
    assert state["customer"] == {
        "email": email,
        "signed_in": False,
        "guest": False,
        "on_behalf": True,
    }
    assert state["values"]["first_name"] == "Grace"
    assert state["values"]["email"] == email
    # The lookup page shows who was found, to a browser without JavaScript too.
    page = walker.http.get(f"{shop.url}/assisted-order/pages/customer/")
    assert page.status_code == 200
    assert "You are ordering for" in page.text and email in page.text
    # Nobody was invited: the customer has an account already.
    outbox.run_once(shop.app)
    assert [m["Subject"] for m in mailbox.to(email)] == []


def test_lookup_creates_a_customer_who_is_invited_to_choose_a_password(
    shop: Backend, mailbox: Mailbox
) -> None:
    email = unique_email()
    member = partner(shop)
    assert look_up(member.journey("assisted-order"), email).status_code == 200
    with shop.engine.connect() as connection:
        row = connection.execute(select(customers).where(customers.c.email == email)).one()
    assert row.password_hash == "!invited"
    outbox.run_once(shop.app)
    [invitation] = mailbox.to(email)
    assert invitation["Subject"] == "Your account at Acme Shop"
    text = invitation.get_body(("plain",)).get_content()
    assert member.email in text and "for 7 days" in text
    link = re.search(r"https?://\S+/account/invitation/\S+", text).group(0)
    # The customer opens it, chooses a password, and is signed in with it.
    customer = requests.Session()
    customer.headers["Origin"] = shop.url
    page = customer.get(link)
    assert page.status_code == 200 and "Choose your password" in page.text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    action = re.search(r'<form class="step-form" method="post" action="([^"]+)"', page.text)
    short = customer.post(
        shop.url + action.group(1).removeprefix("/api"),
        data={"csrf_token": token, "password": "short"},
        allow_redirects=False,
    )
    assert short.status_code == 422 and "Choose your password" in short.text
    done = customer.post(
        shop.url + action.group(1).removeprefix("/api"),
        data={"csrf_token": token, "password": "a good passphrase"},
        allow_redirects=False,
    )
    assert done.status_code == 303 and "notice=password-set" in done.headers["Location"]
    assert customer.get(f"{shop.url}/account").json()["customer"]["email"] == email
    # The link works once: opened again, its page says so at once, offering no form.
    opened = customer.get(link, allow_redirects=False)
    assert opened.status_code == 303
    assert "notice=invitation-invalid" in opened.headers["Location"]
    token = customer.get(f"{shop.url}/account").json()["csrf_token"]
    again = customer.post(
        shop.url + action.group(1).removeprefix("/api"),
        data={"csrf_token": token, "password": "another passphrase"},
        allow_redirects=False,
    )
    assert "notice=invitation-invalid" in again.headers["Location"]
    # And the password chosen signs in.
    login = Shopper(shop.url, TEST_JOURNEY)
    login.add("starter", step="plan")
    login.step("cart")
    login.step("account", {"action": "login", "email": email, "password": "a good passphrase"})
    assert login.state()["customer"]["signed_in"]


@pytest.mark.parametrize("role", ["partner", "sales"])
def test_the_order_is_the_customers_and_records_who_placed_it(
    shop: Backend, mailbox: Mailbox, role: str
) -> None:
    """The example's journey as shipped (but the payment handed over): a partner, and a
    member of sales, who never sees the partner's reference step."""
    email = known_customer(shop)
    if role == "partner":
        member = partner(shop, "Initech")
    else:
        member = Member(shop, add_member(shop, "sales"))
        member.enrol()
    organisation = "Initech" if role == "partner" else None
    walker = member.journey("assisted-order")
    assert look_up(walker, email).status_code == 200
    to_confirmation(walker)
    # The confirmation without JavaScript sums up the steps this member walked.
    page = walker.http.get(f"{shop.url}/assisted-order/pages/confirm-order/").text
    skipped = 'data-kl-step-summary="partner-reference" hidden' in page
    assert skipped == (role == "sales") and 'data-kl-step-summary="billing">' in page
    placed = walker.step("confirm-order", {"confirm_token": "on-behalf-" + email}, json=True)
    assert placed.status_code == 200, placed.text
    number = walker.state("order-done")["order"]["number"]
    with shop.engine.connect() as connection:
        order = connection.execute(select(orders).where(orders.c.number == number)).one()
        customer = connection.execute(select(customers).where(customers.c.email == email)).one()
    assert order.customer_id == customer.id and order.email == email
    assert order.placed_by_staff_id is not None and order.partner == organisation
    if role == "partner":
        assert order.answers["order_notes"] == {"reference": "PO-42"}
    else:
        assert "order_notes" not in order.answers
        assert walker.state("billing")["skipped"] == ["partner-reference"]
    # The confirmation goes to the customer, not to the partner.
    outbox.run_once(shop.app)
    [mail] = mailbox.to(email)
    assert mail["Subject"] == f"Your order {number}"
    placed_for = f"Placed for you by {member.email}" + (" of Initech." if organisation else ".")
    assert placed_for in mail.get_body(("plain",)).get_content()
    assert placed_for in mail.get_body(("html",)).get_content()
    assert mailbox.to(member.email) == []
    # Operators see who placed it, and for whom.
    shown = run(shop, "orders", "show", number, password=None)
    assert shown.exit_code == 0, shown.output
    assert f'"placed_by": "{member.email}"' in shown.output
    assert f'"partner": {json.dumps(organisation)}' in shown.output
    [created] = json.loads(shown.output)["history"]
    assert created["action"] == "created" and created["subject"] == "order"
    assert (created["actor"], created["who"]) == ("staff", member.email)
    assert created["detail"] == {"staff": member.email, "partner": organisation}
    listed = run(shop, "orders", "list", "--journey", "assisted-order", password=None)
    assert f"{number}" in listed.output
    placed_by = f"placed by {member.email}" + (" for Initech" if organisation else "")
    assert placed_by in listed.output
    exported = run(shop, "orders", "export", "--format", "csv", password=None)
    [row] = [r for r in csv.DictReader(io.StringIO(exported.output)) if r["number"] == number]
    assert (row["placed_by"], row["partner"]) == (member.email, organisation or "")


def test_staff_cannot_pass_the_lookup_without_a_customer(shop: Backend) -> None:
    walker = partner(shop).journey("assisted-order")
    assert walker.add("starter", step="product-selection", json=True).status_code == 200
    cart = walker.step("cart", {}, json=True)
    assert cart.status_code == 409
    assert "Find or create the customer the order is for." in cart.json()["errors"]["_form"]
    wrong = look_up(walker, "not an email")
    assert wrong.status_code == 422
    assert "Enter the customer's email address" in wrong.json()["errors"]["email"]


def test_a_customer_cannot_use_a_lookup_step(shop: Backend) -> None:
    customer = Shopper(shop.url, "mixed")
    refused = customer.step("customer", {"email": unique_email()}, json=True)
    assert refused.status_code == 403
    assert "A member of the shop's staff completes this step" in refused.json()["errors"]["_form"]
    # Nor a customer signed in: a lookup finds or makes nobody for them.
    email = known_customer(shop)
    with shop.engine.connect() as connection:
        before = connection.execute(select(customers.c.id)).all()
    signed_in = Shopper(shop.url, "mixed")
    signed_in.step("account", {"action": "login", "email": email, "password": "a good passphrase"})
    assert signed_in.state()["customer"]["signed_in"]
    assert signed_in.step("customer", {"email": unique_email()}, json=True).status_code == 403
    with shop.engine.connect() as connection:
        assert connection.execute(select(customers.c.id)).all() == before


def test_a_lookup_in_a_journey_only_customers_walk_is_refused(tmp_path: Path) -> None:
    journeys = tmp_path / "journeys"
    shutil.copytree(REPO / "journeys", journeys)
    text = (journeys / "assisted-order.toml").read_text()
    (journeys / "assisted-order.toml").write_text(
        text.replace('audience = ["sales", "partners"]\n', "")
    )
    with pytest.raises(ConfigError) as error:
        kljourney.load(journeys)
    [message] = [str(p) for p in error.value.errors]
    assert "a customer_lookup step lets staff order on a customer's behalf" in message
    assert "assisted-order.toml" in message


def test_a_lookup_is_staffs_whatever_the_file_says(tmp_path: Path) -> None:
    journeys = tmp_path / "journeys"
    shutil.copytree(REPO / "journeys", journeys)
    text = (journeys / "assisted-order.toml").read_text()
    (journeys / "assisted-order.toml").write_text(
        text.replace('type = "customer_lookup"\n', 'type = "customer_lookup"\nactor = "any"\n')
    )
    with pytest.raises(ConfigError) as error:
        kljourney.load(journeys)
    assert "a customer lookup is completed by staff" in error.value.format_message()
