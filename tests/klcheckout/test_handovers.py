"""A step handed from staff to the customer, over real HTTP on SQLite and PostgreSQL: the
example's partner journey, whose payment step only the customer completes. The partner
sends it; the customer gets the link by email (a real SMTP server), gives the SEPA
mandate and nothing else; the partner is told and places the order. Links that are used,
withdrawn, replaced, expired or opened by someone else are refused with a clear page."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from checkout_helpers import (
    GOOD_IBAN,
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
from test_on_behalf import known_customer, look_up, partner
from test_staff import Member, add_member, run

from klcheckout import clock, worker
from klcheckout.hooks import outbox
from klcheckout.tables import checkouts, customers, events, handovers, history

JOURNEY = "assisted-order"
PAYMENT = "payment-method"
SECRET_ENV = "KEYLIGHT_TEST_HANDOVER_SECRET"

#: The hand-over events go to a receiver (none listens there: they stay queued).
HOOKS = f"""
[[hooks]]
type = "webhook"
event = "handover_sent"
url = "http://127.0.0.1:9/handovers"
secret_env = "{SECRET_ENV}"

[[hooks]]
type = "webhook"
event = "handover_completed"
url = "http://127.0.0.1:9/handovers"
secret_env = "{SECRET_ENV}"
"""

#: Customers and partners walk it; the payment is the customer's in both cases.
MIXED = """
name = "Buy or be served"
key = "mixed-pay"
business_entity = "acme"
audience = ["customers", "partners"]

[[steps]]
name = "Customer"
type = "customer_lookup"
when = "actor.role == 'partner'"

[[steps]]
name = "Plan"
type = "product_selection"
product_selection = "plans"

[[steps]]
name = "Payment method"
type = "payment_method"
actor = "customer"

[[steps]]
name = "Done"
type = "order_done"
"""


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def shop(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, mailbox: Mailbox
) -> Iterator[Backend]:
    tmp = tmp_path_factory.mktemp(f"handovers-{request.param}")
    journeys = example_with_guest(tmp / "journeys")
    with open(journeys / f"{JOURNEY}.toml", "a") as handle:
        handle.write(HOOKS)
    (journeys / "mixed.toml").write_text(MIXED)
    with pytest.MonkeyPatch.context() as patch, database(request.param, tmp) as database_url:
        patch.setenv(SECRET_ENV, "s" * 32)
        config = {
            **base_config(tmp, journeys, database_url),
            **smtp_settings(mailbox),
        }
        with served_backend(request.param, config) as up:
            yield up


@dataclass
class Handed:
    member: Member
    walker: Shopper
    customer: str
    link: str


def to_payment(shop: Backend, customer: str, role: str = "partner") -> tuple[Member, Shopper]:
    """A partner (or a member of ``role``) who found ``customer`` and did every step
    before the payment: a partner gives their reference too."""
    if role == "partner":
        member = partner(shop)
    else:
        member = Member(shop, add_member(shop, role))
        member.enrol()
    walker = member.journey(JOURNEY)
    assert look_up(walker, customer).status_code == 200
    assert walker.add("starter", step="product-selection", json=True).status_code == 200
    assert walker.step("cart", {}, json=True).status_code == 200
    if role == "partner":
        reference = walker.step("partner-reference", {"reference": "PO-7"}, json=True)
        assert reference.status_code == 200
    billing = walker.state("billing")["values"]
    assert walker.step("billing", billing, json=True).status_code == 200
    return member, walker


def send(walker: Shopper) -> requests.Response:
    return walker.post(f"steps/{PAYMENT}/handover", {}, json=True)


def emailed_link(shop: Backend, mailbox: Mailbox, customer: str) -> str:
    """The link of the newest hand-over email to ``customer``."""
    outbox.run_once(shop.app)
    mail = [m for m in mailbox.to(customer) if "please complete" in m["Subject"]][-1]
    text = mail.get_body(("plain",)).get_content()
    return re.search(r"https?://\S+/handover/\S+", text).group(0)


def hand_over(shop: Backend, mailbox: Mailbox) -> Handed:
    customer = known_customer(shop)
    member, walker = to_payment(shop, customer)
    assert send(walker).status_code == 200
    return Handed(member, walker, customer, emailed_link(shop, mailbox, customer))


def opened(shop: Backend, link: str, browser: Shopper | None = None) -> Shopper:
    """A browser (a new one unless given) that opened ``link`` and landed on the step."""
    browser = browser or Shopper(shop.url, JOURNEY)
    browser.journey = JOURNEY
    landed = browser.http.get(link, allow_redirects=False)
    assert landed.status_code == 303, landed.text[:2000]
    assert landed.headers["Location"].endswith(f"/{JOURNEY}/{PAYMENT}/")
    browser.state(PAYMENT)  # the page asks for its state (and the form's token)
    return browser


def signed_in(shop: Backend, email: str) -> Shopper:
    """A browser signed in to ``email``'s account in the shop's guest journey."""
    browser = Shopper(shop.url, TEST_JOURNEY)
    browser.add("starter", step="plan")
    browser.step("cart")
    browser.step("account", {"action": "login", "email": email, "password": "a good passphrase"})
    assert browser.state()["customer"]["email"] == email
    return browser


def refused_page(shop: Backend, link: str, browser: Shopper | None = None) -> requests.Response:
    http = browser.http if browser is not None else requests.Session()
    return http.get(link, allow_redirects=False)


MANDATE = {"method": "sepa_debit", "iban": GOOD_IBAN, "holder": "Grace Hopper", "mandate": "on"}


@pytest.mark.parametrize("role", ["partner", "sales"])
def test_the_customer_gives_the_mandate_and_the_member_places_the_order(
    shop: Backend, mailbox: Mailbox, role: str
) -> None:
    customer = known_customer(shop)
    member, walker = to_payment(shop, customer, role)
    # The partner's page of the step: the customer's, to send.
    state = walker.state(PAYMENT)
    assert state["handover"] == {
        "status": "none",
        "customer": customer,
        "sent_at": None,
        "expires_at": None,
        "done": False,
    }
    refused = walker.step(PAYMENT, {"method": "invoice"}, json=True)
    assert refused.status_code == 403
    assert "Send to the customer" in refused.json()["errors"]["_form"]
    page = walker.http.get(f"{shop.url}/{JOURNEY}/pages/{PAYMENT}/")  # without JavaScript
    assert "Send to the customer" in page.text and 'name="iban"' not in page.text
    # Sent: the customer is emailed a link, the event is queued, the trail has it.
    sent = send(walker)
    assert sent.status_code == 200, sent.text
    # The moment as people read it, in the page's language (en-US here), not ISO.
    until = r"[A-Z][a-z]{2} \d{1,2}, 20\d\d, \d{1,2}:\d\d\s[AP]M UTC"
    said = " ".join(sent.json()["messages"])
    assert re.search(f"Sent to {re.escape(customer)}: the link works until {until}", said), said
    assert sent.json()["state"]["handover"]["status"] == "open"
    page = walker.http.get(f"{shop.url}/{JOURNEY}/pages/{PAYMENT}/")
    assert "Waiting for the customer" in page.text and "Withdraw the link" in page.text
    link = emailed_link(shop, mailbox, customer)
    [mail] = [m for m in mailbox.to(customer) if "please complete" in m["Subject"]]
    assert mail["Subject"] == "Acme Shop: please complete “Payment method”"
    assert member.email in mail.get_body(("plain",)).get_content()
    checkout_id = _latest_checkout(shop)
    with shop.engine.connect() as connection:
        queued = connection.execute(select(events).where(events.c.type == "handover_sent")).all()
        trail = connection.execute(select(history).where(history.c.reference == checkout_id)).all()
    [event] = [e for e in queued if e.payload["data"]["customer"]["email"] == customer]
    assert event.payload["data"]["handover"]["step"]["id"] == PAYMENT
    assert event.payload["data"]["staff"]["email"] == member.email
    assert [(r.action, r.actor, r.who) for r in trail] == [("handed_over", "staff", member.email)]

    # The customer's browser: the step's page with the partner's cart, nothing else.
    person = opened(shop, link)
    mine = person.state(PAYMENT)
    assert mine["customer"]["email"] == customer and mine["customer"]["handover"] is True
    assert [line["product"] for line in mine["cart"]["lines"]] == ["starter"]
    assert "handover" not in mine
    page = person.http.get(f"{shop.url}/{JOURNEY}/pages/{PAYMENT}/")  # without JavaScript
    assert 'name="iban"' in page.text and "Send to the customer" not in page.text
    assert person.state("confirm-order")["redirect"].endswith(f"/{JOURNEY}/{PAYMENT}/")
    for other in ("confirm-order", "billing"):
        answer = person.step(other, {"confirm_token": "x"}, json=True)
        assert answer.status_code == 403
        assert "Your link is for the step “Payment method” only" in answer.json()["errors"]["_form"]
    grown = person.add("pro", step=PAYMENT, json=True)
    assert grown.status_code == 403
    # The mandate: done, thanked, and the link is spent.
    given = person.step(PAYMENT, MANDATE, json=True)
    assert given.status_code == 200, given.text
    assert given.json()["redirect"].endswith("/handover/done")
    thanks = person.http.get(given.json()["redirect"])
    assert thanks.status_code == 200 and "The rest is done by Acme Shop" in thanks.text
    # The way back to the step (the back button, a second tab) says the link is done
    # with, not that the journey is for staff.
    back = person.http.get(
        f"{shop.url}/{JOURNEY}/state",
        params={"step": PAYMENT},
        headers={"Accept": "application/json"},
    )
    assert back.status_code == 403
    assert "The link to this step no longer works" in back.json()["error"]
    assert back.json().get("sign_in_url") is None
    again = refused_page(shop, link)
    assert again.status_code == 410 and "completed with this link already" in again.text

    # The partner: told by email, sees the step done (the IBAN masked), and goes on.
    outbox.run_once(shop.app)
    [told] = [m for m in mailbox.to(member.email) if "completed" in m["Subject"]]
    assert told["Subject"] == f"{customer} completed “Payment method”"
    assert f"{shop.url}/{JOURNEY}/{PAYMENT}/" in told.get_body(("plain",)).get_content()
    done = walker.state(PAYMENT)
    assert done["handover"]["status"] == "completed" and done["handover"]["done"] is True
    assert done["payment"]["iban_masked"] == "DE89 •••• •••• •••• •••• 00"
    assert "0532 0130" not in json.dumps(done) and "05320130" not in json.dumps(done)
    placed = walker.step("confirm-order", {"confirm_token": "handed-" + customer}, json=True)
    assert placed.status_code == 200, placed.text
    number = walker.state("order-done")["order"]["number"]
    shown = run(shop, "orders", "show", number, password=None)
    assert shown.exit_code == 0, shown.output
    order = json.loads(shown.output)
    assert order["payment_method"] == "sepa_debit" and order["payment"]["holder"] == "Grace Hopper"
    assert [(h["action"], h["actor"]) for h in order["history"]] == [
        ("handed_over", "staff"),
        ("handover_completed", "customer"),
        ("created", "staff"),
    ]
    with shop.engine.connect() as connection:
        completed = connection.execute(
            select(events).where(events.c.type == "handover_completed")
        ).all()
    assert any(e.payload["data"]["customer"]["email"] == customer for e in completed)


def _latest_checkout(shop: Backend) -> str:
    with shop.engine.connect() as connection:
        return connection.execute(
            select(handovers.c.checkout_id).order_by(handovers.c.id.desc()).limit(1)
        ).scalar_one()


def test_withdrawn_replaced_and_revoked_links_are_refused(shop: Backend, mailbox: Mailbox) -> None:
    handed = hand_over(shop, mailbox)
    # The customer opened it, then the partner withdrew it: the step is refused to them.
    person = opened(shop, handed.link)
    assert handed.walker.state(PAYMENT)["handover"]["status"] == "open"
    withdrawn = handed.walker.post(f"steps/{PAYMENT}/handover/revoke", {}, json=True)
    assert withdrawn.status_code == 200
    assert handed.walker.state(PAYMENT)["handover"]["status"] == "revoked"
    late = person.step(PAYMENT, MANDATE, json=True)
    assert late.status_code == 403
    assert "The link to this step no longer works" in late.json()["errors"]["_form"]
    page = refused_page(shop, handed.link)
    assert page.status_code == 410 and "This link was withdrawn or replaced" in page.text
    nothing = handed.walker.post(f"steps/{PAYMENT}/handover/revoke", {}, json=True)
    assert nothing.status_code == 409
    # Sent again, and again: the newer link replaces the older.
    assert send(handed.walker).status_code == 200
    older = emailed_link(shop, mailbox, handed.customer)
    replaced = send(handed.walker)
    assert "The link sent before no longer works." in replaced.json()["messages"]
    newer = emailed_link(shop, mailbox, handed.customer)
    assert refused_page(shop, older).status_code == 410
    # An operator revokes the newest by the start of its token.
    listed = run(shop, "handovers", "list", "--open", password=None)
    prefix = newer.rsplit("/", 1)[1][:8]
    assert f"{prefix}…  open" in listed.output and handed.customer in listed.output
    assert older.rsplit("/", 1)[1][:8] not in listed.output  # replaced: not open
    everything = run(shop, "handovers", "list", password=None).output
    assert f"{older.rsplit('/', 1)[1][:8]}…  revoked" in everything
    revoked = run(shop, "handovers", "revoke", prefix, password=None)
    assert revoked.exit_code == 0, revoked.output
    assert refused_page(shop, newer).status_code == 410
    twice = run(shop, "handovers", "revoke", prefix, password=None)
    assert twice.exit_code == 1 and "is revoked already" in twice.output
    unknown = run(shop, "handovers", "revoke", "zzzzzzzz", password=None)
    assert unknown.exit_code == 1 and "no hand-over's link starts with" in unknown.output
    assert refused_page(shop, newer[:-3] + "abc").status_code == 404


def test_finding_another_customer_starts_a_new_order_without_the_first_ones(
    shop: Backend, mailbox: Mailbox
) -> None:
    """The first customer's cart, billing answers and handed-over step stay with their
    checkout, whose open link is withdrawn; nothing of it reaches the second's order."""
    handed = hand_over(shop, mailbox)
    before = handed.walker.state("billing")["values"]
    assert before["company"]
    other = unique_email()
    found = look_up(handed.walker, other)
    assert found.status_code == 200, found.text
    assert f"A new order for {other}" in " ".join(found.json()["messages"])
    state = handed.walker.state("billing")
    assert state["customer"]["email"] == other
    assert state["cart"]["lines"] == []
    assert before["company"] not in json.dumps(state) and handed.customer not in json.dumps(state)
    assert handed.walker.state(PAYMENT)["handover"]["status"] == "none"
    withdrawn = refused_page(shop, handed.link)
    assert withdrawn.status_code == 410 and "This link was withdrawn or replaced" in withdrawn.text
    # The same customer again is the same order: nothing is left behind.
    again = look_up(handed.walker, other)
    assert again.status_code == 200 and again.json()["messages"] == []


def test_a_link_is_for_its_customer_only(shop: Backend, mailbox: Mailbox) -> None:
    handed = hand_over(shop, mailbox)
    # Another customer signed in in this browser: refused, saying what to do.
    browser = signed_in(shop, known_customer(shop))
    page = refused_page(shop, handed.link, browser)
    assert page.status_code == 403 and "This link is for another customer" in page.text
    assert "sign out" in page.text
    # The member of staff's own browser: the link is the customer's.
    staff_page = handed.member.http.get(handed.link, allow_redirects=False)
    assert staff_page.status_code == 403 and "sign out as staff" in staff_page.text
    # The customer signed in to their own account keeps their sign-in.
    own = signed_in(shop, handed.customer)
    opened(shop, handed.link, own)
    assert own.state(PAYMENT)["customer"]["email"] == handed.customer


def test_an_expired_link_is_refused(
    shop: Backend, mailbox: Mailbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    handed = hand_over(shop, mailbox)
    person = opened(shop, handed.link)
    offset = tmp_path / "offset"
    offset.write_text(str(7 * 24 * 3600 + 60))
    monkeypatch.setattr(clock, "CLOCK_FILE", str(offset))
    page = refused_page(shop, handed.link)
    assert page.status_code == 410
    assert re.search(r"This link expired on [A-Z][a-z]{2} \d{1,2}, 20\d\d, ", page.text)
    late = person.step(PAYMENT, MANDATE, json=True)
    assert late.status_code == 403
    assert "The link to this step no longer works" in late.json()["errors"]["_form"]


def test_the_worker_forgets_hand_overs_long_expired_but_not_their_trail(
    shop: Backend, mailbox: Mailbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    handed = hand_over(shop, mailbox)
    with shop.engine.connect() as connection:
        [checkout_id] = connection.execute(
            select(handovers.c.checkout_id)
            .join(customers, customers.c.id == handovers.c.customer_id)
            .where(customers.c.email == handed.customer)
        ).scalars()

    def kept() -> tuple[int, int]:
        with shop.engine.connect() as connection:
            links = connection.execute(
                select(handovers).where(handovers.c.checkout_id == checkout_id)
            ).all()
            trail = connection.execute(
                select(history).where(history.c.reference == checkout_id)
            ).all()
        return len(links), len(trail)

    worker.clean_up(shop.app)
    assert kept() == (1, 1)  # open: kept
    retention = shop.app.config["KEYLIGHT_CHECKOUT_RETENTION"]
    offset = tmp_path / "offset"
    offset.write_text(str(7 * 24 * 3600 + retention + 60))  # expired a retention ago
    monkeypatch.setattr(clock, "CLOCK_FILE", str(offset))
    worker.clean_up(shop.app)
    assert kept() == (0, 1)


def test_only_staff_hand_a_step_over(shop: Backend) -> None:
    with shop.engine.connect() as connection:
        before = connection.execute(select(handovers.c.id)).all()
    # A customer, signed in or not, walking a journey open to them: no hand-over.
    for customer in (Shopper(shop.url, "mixed-pay"), signed_in(shop, known_customer(shop))):
        customer.journey, customer.csrf = "mixed-pay", ""
        assert customer.add("starter", step="plan", json=True).status_code == 200
        refused = customer.post(f"steps/{PAYMENT}/handover", {}, json=True)
        assert refused.status_code == 403
        assert "Only the shop's staff hand a step" in refused.json()["errors"]["_form"]
    # A member cannot hand over a step that is theirs, nor before the steps before it.
    walker = partner(shop).journey(JOURNEY)
    assert look_up(walker, unique_email()).status_code == 200
    theirs = walker.post("steps/billing/handover", {}, json=True)
    assert theirs.status_code == 409 and "complete it yourself" in theirs.json()["errors"]["_form"]
    early = send(walker)
    assert early.status_code == 409
    assert "Your cart is empty" in early.json()["errors"]["_form"]
    with shop.engine.connect() as connection:
        assert connection.execute(select(handovers.c.id)).all() == before


def test_the_link_reads_and_changes_nothing_of_the_other_steps(
    shop: Backend, mailbox: Mailbox
) -> None:
    handed = hand_over(shop, mailbox)
    person = opened(shop, handed.link)
    # Nor is the member's form token theirs (the same checkout, and neither signed in).
    assert person.state(PAYMENT)["csrf_token"] != handed.walker.state(PAYMENT)["csrf_token"]
    # The state of another step sends the customer back, showing none of its answers
    # (the partner's own reference is not the customer's to read).
    for other in ("partner-reference", "billing", "confirm-order"):
        state = person.state(other)
        assert state["redirect"].endswith(f"/{JOURNEY}/{PAYMENT}/")
        assert state["values"] == {} and state["shown"] == {}, other
    # Nor does its state request write the checkout's entry (it steers the member's
    # conditions): it stays the member's.
    query = {"step": PAYMENT, "entry": "segment=business"}
    assert person.http.get(f"{shop.url}/{JOURNEY}/state", params=query).status_code == 200
    with shop.engine.connect() as connection:
        entry = connection.execute(
            select(checkouts.c.entry).where(checkouts.c.id == _latest_checkout(shop))
        ).scalar_one()
    assert not entry


def test_a_cart_changed_after_the_customers_step_is_not_ordered_on_it(
    shop: Backend, mailbox: Mailbox
) -> None:
    handed = hand_over(shop, mailbox)
    assert opened(shop, handed.link).step(PAYMENT, MANDATE, json=True).status_code == 200
    # The customer gave the mandate for the starter plan; the partner then takes pro.
    walker = handed.walker
    assert walker.add("pro", step="product-selection", json=True).status_code == 200
    assert walker.state(PAYMENT)["handover"]["done"] is False
    token = {"confirm_token": "changed-" + handed.customer}
    refused = walker.step("confirm-order", token, json=True)
    assert refused.status_code == 409, refused.text
    assert "The cart changed since the customer completed" in refused.json()["errors"]["_form"]
    assert refused.json()["redirect"].endswith(f"/{JOURNEY}/{PAYMENT}/")
    page = walker.http.get(f"{shop.url}/{JOURNEY}/pages/{PAYMENT}/")  # the way on: send again
    [form] = re.findall(r'<form [^>]*data-kl-form="handover"[^>]*>', page.text)
    assert " hidden" not in form
    [said] = re.findall(r'<p data-kl-handover-show="completed"[^>]*>[^<]*', page.text)
    assert " hidden" not in said and "The cart changed since" in said
    assert send(walker).status_code == 200


def test_a_link_sent_again_ends_with_the_order(shop: Backend, mailbox: Mailbox) -> None:
    handed = hand_over(shop, mailbox)
    assert opened(shop, handed.link).step(PAYMENT, MANDATE, json=True).status_code == 200
    # Sent once more (by mistake), opened, then the partner places the order.
    assert send(handed.walker).status_code == 200
    again = emailed_link(shop, mailbox, handed.customer)
    person = opened(shop, again)
    token = {"confirm_token": "again-" + handed.customer}
    assert handed.walker.step("confirm-order", token, json=True).status_code == 200
    late = person.step(PAYMENT, MANDATE, json=True)
    assert late.status_code == 403
    assert "The link to this step no longer works" in late.json()["errors"]["_form"]
    page = refused_page(shop, again)
    assert page.status_code == 410 and "The order this link was for is placed" in page.text


def test_two_tabs_complete_the_step_once(shop: Backend, mailbox: Mailbox) -> None:
    handed = hand_over(shop, mailbox)
    tabs = [opened(shop, handed.link), opened(shop, handed.link)]
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda tab: tab.step(PAYMENT, MANDATE, json=True), tabs))
    assert sorted(a.status_code for a in answers)[0] == 200
    assert sorted(a.status_code for a in answers)[1] in (403, 410)
    with shop.engine.connect() as connection:
        trail = connection.execute(
            select(history.c.action).where(history.c.reference == _latest_checkout(shop))
        ).scalars()
    assert list(trail).count("handover_completed") == 1
