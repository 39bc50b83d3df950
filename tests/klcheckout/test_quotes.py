"""Quote to cash, over real HTTP on SQLite and PostgreSQL: the example's sales journey.
A member of sales finds the customer, picks the plan and sends a quote with a discount
(within the role's limit); the customer reads it from the emailed link (a real SMTP
server), and accepts it into exactly one order whatever races it, or declines it.
Revisions supersede, expiry and withdrawal close a quote, and the trail records it all."""

from __future__ import annotations

import json
import re
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
import requests
from checkout_helpers import (
    REPO,
    Backend,
    Mailbox,
    Shopper,
    base_config,
    database,
    example_with_guest,
    served_backend,
    smtp_settings,
)
from sqlalchemy import select
from test_on_behalf import known_customer, look_up
from test_staff import Member, add_member, refusal, run

import kljourney
from klcheckout import clock, quotes
from klcheckout.hooks import outbox
from klcheckout.pricing import PricedCart
from klcheckout.tables import events, order_lines, orders
from kljourney.errors import ConfigError

JOURNEY = "sales-quote"
SEND = "send-the-quote"
SECRET_ENV = "KEYLIGHT_TEST_QUOTE_SECRET"

#: The quote events go to a receiver (none listens there: they stay queued to be read).
HOOKS = "".join(
    f"""
[[hooks]]
type = "webhook"
event = "{name}"
url = "http://127.0.0.1:9/quotes"
secret_env = "{SECRET_ENV}"
"""
    for name in ("quote_sent", "quote_accepted", "quote_declined", "quote_expired")
)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def shop(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, mailbox: Mailbox
) -> Iterator[Backend]:
    tmp = tmp_path_factory.mktemp(f"quotes-{request.param}")
    journeys = example_with_guest(tmp / "journeys")
    with open(journeys / f"{JOURNEY}.toml", "a") as handle:
        handle.write(HOOKS)
    # The same quote for sales and partners, whose limit is lower.
    text = (journeys / f"{JOURNEY}.toml").read_text()
    (journeys / "team-quote.toml").write_text(
        text.replace('key = "sales-quote"', 'key = "team-quote"').replace(
            'audience = ["sales"]', 'audience = ["sales", "partners"]'
        )
    )
    with pytest.MonkeyPatch.context() as patch, database(request.param, tmp) as database_url:
        patch.setenv(SECRET_ENV, "s" * 32)
        config = {
            **base_config(tmp, journeys, database_url),
            **smtp_settings(mailbox),
        }
        with served_backend(request.param, config) as up:
            yield up


def member_of(shop: Backend, role: str = "sales", partner: str | None = None) -> Member:
    member = Member(shop, add_member(shop, role, partner=partner))
    member.enrol()
    return member


def to_quote(member: Member, customer: str, journey: str = JOURNEY) -> Shopper:
    """A member's walk of the journey up to its quote step, for ``customer``."""
    walker = member.journey(journey)
    assert look_up(walker, customer).status_code == 200
    assert walker.add("pro", step="product-selection", json=True).status_code == 200
    assert walker.step("cart", {}, json=True).status_code == 200
    return walker


def send(walker: Shopper, discount: str = "", token: str | None = None) -> requests.Response:
    data = {"discount": discount}
    if token:
        data["confirm_token"] = token
    return walker.step(SEND, data, json=True)


@dataclass
class Links:
    page: str
    token: str
    backend: str


def emailed(shop: Backend, mailbox: Mailbox, customer: str) -> Links:
    """The links of the newest quote email to ``customer``."""
    outbox.run_once(shop.app)
    mail = [m for m in mailbox.to(customer) if "your quote" in m["Subject"]][-1]
    text = mail.get_body(("plain",)).get_content()
    page = re.search(r"https?://\S+/quote/\S*#\S+", text).group(0)
    backend = re.search(r"https?://\S+/quote/\S+/page\S*", text).group(0)
    return Links(page, page.split("#", 1)[1], backend)


def quote_state(shop: Backend, token: str, http: requests.Session | None = None) -> dict:
    found = (http or requests).get(f"{shop.url}/quote/{token}")
    assert found.status_code == 200, found.text
    return found.json()


def answer(
    shop: Backend, token: str, action: str, data: dict[str, str], *, json: bool = True
) -> requests.Response:
    headers = {"Origin": shop.url}
    if json:
        headers["Accept"] = "application/json"
    return requests.post(
        f"{shop.url}/quote/{token}/{action}", data=data, headers=headers, allow_redirects=False
    )


ACCEPT = {"name": "Grace Hopper", "accept_terms": "on"}


def sent_quote(shop: Backend, mailbox: Mailbox, discount: str = "") -> tuple[Member, str, Links]:
    customer = known_customer(shop)
    member = member_of(shop)
    walker = to_quote(member, customer)
    sent = send(walker, discount)
    assert sent.status_code == 200, sent.text
    return member, customer, emailed(shop, mailbox, customer)


def queued(shop: Backend, event_type: str, number: str) -> list[dict]:
    with shop.engine.connect() as connection:
        rows = connection.execute(select(events.c.payload).where(events.c.type == event_type))
        return [
            p
            for (p,) in rows
            if (p["data"].get("quote") or p["data"]["order"].get("quote") or {}).get("number")
            == number
        ]


def test_a_quote_with_a_discount_is_accepted_into_one_order_at_its_frozen_prices(
    shop: Backend, mailbox: Mailbox
) -> None:
    member, customer, links = sent_quote(shop, mailbox, discount="10")
    assert links.page.startswith(f"{shop.url}/quote/")  # the static page; the token after #
    state = quote_state(shop, links.token)
    assert state["status"] == "sent" and state["open"] and state["version"] == 1
    number = state["number"]
    assert re.fullmatch(r"Q-\d{4}-[0-9A-Z]{4}-[0-9A-Z]{4}", number)
    assert state["customer"] == customer and state["sent_by"] == member.email
    assert state["discount_percent"] == "10"
    [line] = state["lines"]
    assert line["product"] == "pro" and Decimal(line["line_total"]) < Decimal(
        line["discount"]["list_total"]
    )
    assert state["terms_url"] == "https://shop.example.com/terms"
    frozen = Decimal(line["line_total"])

    # The catalog's price changes before the customer accepts (the file edited, the
    # backend reloaded as after a deploy): the quote holds.
    loaded = shop.app.extensions["keylight"]
    catalog = loaded.root / "catalog.toml"
    before = catalog.read_text()
    head, pro = before.split('id = "pro"\n', 1)
    price = pro.split("price = ", 1)[1].split("\n", 1)[0]
    catalog.write_text(
        head + 'id = "pro"\n' + pro.replace(f"price = {price}", 'price = "999.00"', 1)
    )
    assert loaded.reload().products["pro"].price == Decimal("999.00")
    try:
        # Double clicks, replays and two tabs at once: one order.
        results: list[requests.Response] = []

        def accept() -> None:
            results.append(answer(shop, links.token, "accept", ACCEPT))

        threads = [threading.Thread(target=accept) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        catalog.write_text(before)
        loaded.reload()
    assert {r.status_code for r in results} == {200}, [r.text for r in results]
    numbers = {r.json()["order_number"] for r in results}
    assert len(numbers) == 1
    [order_number] = numbers
    replay = answer(shop, links.token, "accept", ACCEPT)
    # A replay later gets the same answer: the same order, no new one.
    assert replay.status_code == 200 and replay.json()["order_number"] == order_number
    assert f"You accepted this quote: it is order {order_number}" in replay.json()["message"]
    with shop.engine.connect() as connection:
        placed = connection.execute(select(orders).where(orders.c.email == customer)).all()
        [order] = placed
        [ordered] = connection.execute(
            select(order_lines).where(order_lines.c.order_id == order.id)
        ).all()
    assert order.number == order_number
    assert Decimal(ordered.line_total) == frozen  # not the 999.00 of the catalog now
    assert order.placed_by_staff_id is not None and order.customer_id is not None
    assert order.totals["discount"]["amount"] == str(
        Decimal(line["discount"]["list_total"]) - frozen
    )

    # The member's staff page lists the quote, where it stands now; another's does not.
    [listed] = [q for q in member.state()["quotes"] if q["number"] == number]
    assert listed["status"] == "accepted" and listed["order_number"] == order_number
    assert listed["customer"] == customer and listed["status_label"] == "accepted"
    assert all(q["number"] != number for q in member_of(shop).state()["quotes"])
    page = member.http.get(f"{shop.url}/staff/page").text  # the same without JavaScript
    assert f"<td>{number}</td>" in page and f"<td>{order_number}</td>" in page

    # The customer's confirmation email, and the events.
    outbox.run_once(shop.app)
    [confirmation] = [
        m for m in mailbox.to(customer) if m["Subject"] == f"Your order {order_number}"
    ]
    text = confirmation.get_body(("plain",)).get_content()
    assert f"From quote {number} (version 1), which you accepted." in text
    assert "Placed for you by" not in text
    assert len(queued(shop, "quote_sent", number)) == 1
    [accepted] = queued(shop, "quote_accepted", number)
    assert accepted["data"]["order_number"] == order_number
    assert accepted["data"]["quote"]["accepted_name"] == "Grace Hopper"

    # The trail: quotes show and orders show.
    shown = run(shop, "quotes", "show", number, password=None)
    assert shown.exit_code == 0, shown.output
    found = json.loads(shown.output)
    assert found["status"] == "accepted" and found["order_number"] == order_number
    actions = [(e["action"], e["actor"]) for e in found["history"]]
    assert actions == [
        ("created", "staff"),
        ("discount_given", "staff"),
        ("sent", "staff"),
        ("viewed", "customer"),
        ("accepted", "customer"),
    ]
    discount = found["history"][1]["detail"]
    assert discount == {"version": 1, "percent": "10", "limit": "15"}
    assert found["history"][-1]["detail"]["name"] == "Grace Hopper"
    order_shown = json.loads(run(shop, "orders", "show", order_number, password=None).output)
    assert [e["action"] for e in order_shown["history"]][-2:] == ["created", "accepted"]


@pytest.mark.parametrize(
    ("role", "journey", "discount", "limit"),
    [("sales", JOURNEY, "15.5", "15"), ("partner", "team-quote", "6", "5")],
)
def test_a_discount_above_the_roles_limit_is_refused_naming_it(
    shop: Backend, role: str, journey: str, discount: str, limit: str
) -> None:
    member = member_of(shop, role, partner="Initech" if role == "partner" else None)
    walker = to_quote(member, known_customer(shop), journey)
    refused = send(walker, discount)
    assert refused.status_code == 422, refused.text
    message = refused.json()["errors"]["discount"]
    assert f"at most {limit} %" in message
    assert "not a number" not in message
    wrong = send(walker, "ten")
    assert "as a percentage from 0 to 100" in wrong.json()["errors"]["discount"]
    assert send(walker, limit).status_code == 200


def test_an_admin_gives_what_the_admin_limit_allows(shop: Backend, mailbox: Mailbox) -> None:
    customer = known_customer(shop)
    walker = to_quote(member_of(shop, "admin"), customer)
    assert send(walker, "50").status_code == 200
    assert quote_state(shop, emailed(shop, mailbox, customer).token)["discount_percent"] == "50"


def test_customers_and_partners_are_refused_the_sales_journey(shop: Backend) -> None:
    customer = refusal(Shopper(shop.url, JOURNEY), JOURNEY)
    assert customer.status_code == 403
    assert "This journey is for the shop's staff" in customer.json()["error"]
    partner = refusal(member_of(shop, "partner", partner="Initech").journey(JOURNEY), JOURNEY)
    assert partner.status_code == 403
    assert "not for your role (partner)" in partner.json()["error"]


def test_a_revision_supersedes_the_sent_version(shop: Backend, mailbox: Mailbox) -> None:
    customer = known_customer(shop)
    walker = to_quote(member_of(shop), customer)
    assert send(walker, "5", token="first-page").status_code == 200
    old = emailed(shop, mailbox, customer)
    # The same page sent twice is one version.
    assert send(walker, "5", token="first-page").status_code == 200
    assert walker.add("starter", step="product-selection", json=True).status_code == 200
    assert walker.step("cart", {}, json=True).status_code == 200
    assert send(walker, "12", token="second-page").status_code == 200
    new = emailed(shop, mailbox, customer)
    assert new.token != old.token
    before, after = quote_state(shop, old.token), quote_state(shop, new.token)
    assert before["number"] == after["number"]
    assert (before["version"], after["version"]) == (1, 2)
    assert before["status"] == "superseded" and not before["open"]
    assert "replaced by a newer version (version 2)" in before["message"]
    # The older link's page points to the newer version's.
    assert before["newer"]["version"] == 2
    assert before["newer"]["url"].endswith("/quote/#" + new.token)
    assert before["newer"]["page_url"] == f"/quote/{new.token}/page"
    older_page = requests.get(old.backend)
    assert f'href="/quote/{new.token}/page"' in older_page.text
    assert after["status"] == "sent" and after["discount_percent"] == "12"
    refused = answer(shop, old.token, "accept", ACCEPT)
    assert refused.status_code == 409 and "replaced by a newer version" in refused.json()["error"]
    found = json.loads(run(shop, "quotes", "show", after["number"], password=None).output)
    assert [v["status"] for v in found["versions"]] == ["superseded", "sent"]
    assert "revised" in [e["action"] for e in found["history"]]


def test_the_quote_step_asks_to_check_the_quote_and_shows_no_payment(shop: Backend) -> None:
    walker = to_quote(member_of(shop), known_customer(shop))
    page = walker.http.get(f"{shop.url}/{JOURNEY}/pages/{SEND}/").text
    assert "Please check the quote before you send it" in page
    assert "before you place it" not in page
    assert "data-kl-payment-summary hidden" in page  # the journey has no payment step


def test_a_quote_says_what_is_due_once_and_what_recurs(shop: Backend, mailbox: Mailbox) -> None:
    """One sum of a one-time and a monthly amount is no price anybody pays: the email, the
    staff page and the operators' list say each; the email's moments are for people."""
    customer = known_customer(shop)
    member = member_of(shop)
    walker = to_quote(member, customer)  # Pro, monthly
    assert walker.add("onboarding", step="product-selection", json=True).status_code == 200
    assert walker.step("cart", {}, json=True).status_code == 200
    assert send(walker).status_code == 200
    outbox.run_once(shop.app)
    mail = [m for m in mailbox.to(customer) if "your quote" in m["Subject"]][-1]
    text = mail.get_body(("plain",)).get_content()
    assert "Total: €249.00 once + €29.00 / month." in text
    assert re.search(r"accepted until [A-Z][a-z]{2} \d{1,2}, 20\d\d, \d{1,2}:\d\d\s[AP]M UTC", text)
    [listed] = [q for q in member.state()["quotes"] if q["customer"] == customer]
    assert listed["total"] == "€249.00 once + €29.00 / month"
    # The quote page: each period's total with the tax it includes.
    page = quote_state(shop, emailed(shop, mailbox, customer).token)
    assert page["total_rows"] == [
        ["Due once", "€249.00"],
        ["Tax included", "€39.76 (19 %)"],
        ["Monthly", "€29.00 / month"],
        ["Tax included", "€4.63 (19 %)"],
    ]
    cli = run(shop, "quotes", "list", password=None).output
    assert f"{customer}  sent_by={member.email}  total='€249.00 once + €29.00 / month'" in cli


def test_another_customer_gets_a_quote_of_their_own(shop: Backend, mailbox: Mailbox) -> None:
    """A member who quoted one customer finds another in the same browser: a new order,
    a new quote number, nothing of the first customer's cart in it, and the first
    customer's quote stays theirs (open, and never pointing to the other's)."""
    first, second = known_customer(shop), known_customer(shop)
    member = member_of(shop)
    walker = to_quote(member, first)
    assert send(walker, "5").status_code == 200
    theirs = emailed(shop, mailbox, first)
    found = look_up(walker, second)
    assert found.status_code == 200
    assert f"A new order for {second}" in " ".join(found.json()["messages"])
    assert walker.state("cart")["cart"]["lines"] == []
    assert walker.add("onboarding", step="product-selection", json=True).status_code == 200
    assert walker.step("cart", {}, json=True).status_code == 200
    assert send(walker, "10").status_code == 200
    ours = quote_state(shop, emailed(shop, mailbox, second).token)
    kept = quote_state(shop, theirs.token)
    assert ours["number"] != kept["number"] and ours["version"] == 1
    assert [line["product"] for line in ours["lines"]] == ["onboarding"]
    assert ours["customer"] == second
    assert kept["status"] == "sent" and kept["open"] and kept["customer"] == first
    assert [line["product"] for line in kept["lines"]] == ["pro"]
    assert "newer" not in json.dumps(kept)


def test_after_an_accepted_quote_the_member_starts_a_new_one(
    shop: Backend, mailbox: Mailbox
) -> None:
    member, customer, links = sent_quote(shop, mailbox)
    accepted = answer(shop, links.token, "accept", ACCEPT)
    assert accepted.status_code == 200, accepted.text
    walker = member.journey(JOURNEY)
    again = look_up(walker, customer)  # the same customer, from the journey's first page
    assert again.status_code == 200
    assert f"A new order for {customer}" in " ".join(again.json()["messages"])
    assert walker.add("pro", step="product-selection", json=True).status_code == 200
    assert walker.step("cart", {}, json=True).status_code == 200
    assert send(walker).status_code == 200, "a new quote, not the accepted one revised"
    newer = quote_state(shop, emailed(shop, mailbox, customer).token)
    assert newer["number"] != quote_state(shop, links.token)["number"]
    assert newer["version"] == 1 and newer["status"] == "sent"


def quote_mails(mailbox: Mailbox, customer: str) -> int:
    return len([m for m in mailbox.to(customer) if "your quote" in m["Subject"]])


def test_a_draft_is_sent_only_when_the_member_or_an_operator_sends_it(
    shop: Backend, mailbox: Mailbox
) -> None:
    customer = known_customer(shop)
    walker = to_quote(member_of(shop), customer)
    drafted = walker.step(
        SEND, {"discount": "5", "action": "draft", "confirm_token": "d1"}, json=True
    )
    assert drafted.status_code == 200, drafted.text
    # The member stays on the quote step to send it, told it is a draft.
    told = drafted.json()
    assert told["redirect"] == f"/{JOURNEY}/{SEND}/"
    assert "is saved as a draft" in told["messages"][0]
    outbox.run_once(shop.app)
    assert quote_mails(mailbox, customer) == 0
    listed = run(shop, "quotes", "list", "--status", "draft", password=None)
    number = next(w for w in listed.output.split() if w.startswith("Q-"))
    found = json.loads(run(shop, "quotes", "show", number, password=None).output)
    assert [v["status"] for v in found["versions"]] == ["draft"]
    assert found["versions"][0]["sent_at"] is None
    # Saved again, the draft is rewritten in place: still one version, never shown.
    again = walker.step(
        SEND, {"discount": "7", "action": "draft", "confirm_token": "d2"}, json=True
    )
    assert again.status_code == 200, again.text
    found = json.loads(run(shop, "quotes", "show", number, password=None).output)
    assert [(v["version"], v["discount_percent"]) for v in found["versions"]] == [(1, "7")]
    assert queued(shop, "quote_sent", number) == []
    # The member who comes back finds the draft's discount; saving it again as it is
    # adds nothing to the trail (a draft rewritten is no revision, the discount the same).
    assert walker.state(SEND)["values"]["discount"] == "7"
    assert walker.step(
        SEND, {"discount": "7", "action": "draft", "confirm_token": "d2b"}, json=True
    ).ok
    found = json.loads(run(shop, "quotes", "show", number, password=None).output)
    trail = [(h["action"], h["detail"].get("percent")) for h in found["history"]]
    assert trail == [("created", None), ("discount_given", "5"), ("discount_given", "7")]
    # Sent from the page: the same version, emailed, announced.
    assert send(walker, "7", token="s1").status_code == 200
    first = emailed(shop, mailbox, customer)
    assert quote_state(shop, first.token)["version"] == 1
    assert len(queued(shop, "quote_sent", number)) == 1
    # A draft of a revision leaves the sent version open until it is sent itself.
    drafted = walker.step(
        SEND, {"discount": "9", "action": "draft", "confirm_token": "d3"}, json=True
    )
    assert drafted.status_code == 200, drafted.text
    assert quote_state(shop, first.token)["status"] == "sent"
    sent = run(shop, "quotes", "send", number, password=None)
    assert sent.exit_code == 0 and "(version 2) is sent to" in sent.output, sent.output
    second = emailed(shop, mailbox, customer)
    assert quote_state(shop, second.token)["discount_percent"] == "9"
    assert quote_state(shop, first.token)["status"] == "superseded"
    assert len(queued(shop, "quote_sent", number)) == 2
    not_a_draft = run(shop, "quotes", "send", number, password=None)
    assert not_a_draft.exit_code == 1 and "not a draft" in not_a_draft.output
    history = json.loads(run(shop, "quotes", "show", number, password=None).output)["history"]
    actions = [
        (e["action"], e["detail"].get("draft"))
        for e in history
        if e["action"] not in ("discount_given", "viewed")
    ]
    # Rewriting the draft in place (saved again, then sent from the page) is version 1
    # all along: no revision; the draft of version 2 is one.
    assert actions == [("created", True), ("sent", None), ("revised", True), ("sent", None)]
    # An operator may discard a draft; the version sent stays open.
    assert (
        walker.step(SEND, {"action": "draft", "confirm_token": "d4"}, json=True).status_code == 200
    )
    discarded = run(shop, "quotes", "withdraw", number, password=None)
    assert discarded.exit_code == 0 and "draft is discarded" in discarded.output
    assert quote_state(shop, second.token)["status"] == "sent"


def test_a_declined_quote_keeps_the_reason(shop: Backend, mailbox: Mailbox) -> None:
    _member, _customer, links = sent_quote(shop, mailbox)
    empty = answer(shop, links.token, "decline", {"reason": "  "})
    assert empty.status_code == 422 and "why you decline" in empty.json()["errors"]["reason"]
    done = answer(shop, links.token, "decline", {"reason": "Too dear for us this year"})
    assert done.status_code == 200 and done.json()["status"] == "declined"
    number = done.json()["number"]
    assert "You declined this quote" in done.json()["message"]
    assert answer(shop, links.token, "accept", ACCEPT).status_code == 409
    [event] = queued(shop, "quote_declined", number)
    assert event["data"]["reason"] == "Too dear for us this year"


def test_without_javascript_the_backend_renders_the_quote_and_takes_the_forms(
    shop: Backend, mailbox: Mailbox
) -> None:
    _member, _customer, links = sent_quote(shop, mailbox)
    page = requests.get(links.backend)
    assert page.status_code == 200 and "noindex" in page.headers["X-Robots-Tag"]
    state = quote_state(shop, links.token)
    assert state["number"] in page.text
    # Right above the button that obliges to pay: the seller's terms, withdrawal, privacy.
    legal = page.text.split('<ul class="legal-links">', 1)[1].split("</ul>", 1)[0]
    for url in ("/terms", "/withdrawal", "/privacy"):
        assert f'href="https://shop.example.com{url}"' in legal
    after = page.text.split('<ul class="legal-links">', 1)[1]
    assert after.index("Accept and order with obligation to pay") < after.index("</form>")
    missing = answer(shop, links.token, "accept", {"name": "Ada"}, json=False)
    assert missing.status_code == 422 and "Tick the box" in missing.text
    done = answer(shop, links.token, "accept", ACCEPT, json=False)
    assert done.status_code == 303
    shown = requests.get(shop.url + done.headers["Location"].removeprefix(shop.url))
    assert "Thank you: you accepted the quote" in shown.text
    assert "You accepted this quote" in shown.text
    assert requests.get(f"{shop.url}/quote/not-a-token/page").status_code == 404


def test_operators_list_resend_and_withdraw(shop: Backend, mailbox: Mailbox) -> None:
    _member, customer, links = sent_quote(shop, mailbox)
    number = quote_state(shop, links.token)["number"]
    listed = run(shop, "quotes", "list", "--status", "sent", password=None)
    assert listed.exit_code == 0 and number in listed.output
    resent = run(shop, "quotes", "resend", number, password=None)
    assert resent.exit_code == 0, resent.output
    assert "the earlier link no longer works" in resent.output
    again = emailed(shop, mailbox, customer)
    assert again.token != links.token
    assert requests.get(f"{shop.url}/quote/{links.token}").status_code == 404
    withdrawn = run(shop, "quotes", "withdraw", number, password=None)
    assert withdrawn.exit_code == 0, withdrawn.output
    state = quote_state(shop, again.token)
    assert state["status"] == "withdrawn" and "withdrawn by the shop" in state["message"]
    assert answer(shop, again.token, "accept", ACCEPT).status_code == 409
    twice = run(shop, "quotes", "withdraw", number, password=None)
    assert twice.exit_code == 1 and "is withdrawn" in twice.output
    unknown = run(shop, "quotes", "show", "Q-0000-0000-0000", password=None)
    assert unknown.exit_code == 1 and "quotes list" in unknown.output


def test_an_expired_quote_cannot_be_accepted_and_expires_once(
    shop: Backend, mailbox: Mailbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _member, _customer, links = sent_quote(shop, mailbox)
    number = quote_state(shop, links.token)["number"]
    offset = tmp_path / "clock-offset"
    offset.write_text(repr(31 * 86400.0))
    monkeypatch.setattr(clock, "CLOCK_FILE", str(offset))
    refused = answer(shop, links.token, "accept", ACCEPT)
    assert refused.status_code == 409 and "expired on" in refused.json()["error"]
    assert quote_state(shop, links.token)["status"] == "expired"
    first = run(shop, "quotes", "expire", password=None)
    assert first.exit_code == 0, first.output
    assert run(shop, "quotes", "expire", password=None).output == "0 quote(s) expired.\n"
    assert len(queued(shop, "quote_expired", number)) == 1
    found = json.loads(run(shop, "quotes", "show", number, password=None).output)
    assert found["status"] == "expired"
    assert [e["actor"] for e in found["history"] if e["action"] == "expired"] == ["system"]


def test_the_members_discount_is_taken_off_every_line() -> None:
    shop = kljourney.load(REPO / "journeys")
    journey = shop.journeys[JOURNEY]
    priced = PricedCart.of(shop, journey, {"pro": 2})
    reduced = quotes.with_discount(priced, Decimal("12.5"))
    [line] = reduced.lines
    assert line.list_total == priced.lines[0].line_total
    assert line.line_total == (priced.lines[0].line_total * Decimal("0.875")).quantize(
        Decimal("0.01")
    )
    assert reduced.totals()["discount"]["amount"] == str(line.list_total - line.line_total)
    assert quotes.with_discount(priced, Decimal(0)) is priced


@pytest.mark.parametrize(
    ("typed", "expected"),
    [("", Decimal(0)), ("10", Decimal(10)), (" 7,5 % ", Decimal("7.5")), ("15", Decimal(15))],
)
def test_a_typed_discount_is_read_leniently(typed: str, expected: Decimal) -> None:
    assert quotes.parse_discount(typed, Decimal(15)) == expected


@pytest.mark.parametrize("typed", ["-1", "101", "abc", "1.234", "NaN", "16", "1e1", "+5", "Inf"])
def test_a_wrong_discount_is_refused(typed: str) -> None:
    with pytest.raises(quotes.QuoteRefused):
        quotes.parse_discount(typed, Decimal(15))


def test_a_quote_in_a_journey_only_customers_walk_is_refused(tmp_path: Path) -> None:
    journeys = tmp_path / "journeys"
    shutil.copytree(REPO / "journeys", journeys)
    text = (journeys / "self-service.toml").read_text()
    text = text.replace('confirmation_type = "direct"', 'confirmation_type = "quote"', 1)
    (journeys / "self-service.toml").write_text(text)
    with pytest.raises(ConfigError) as error:
        kljourney.load(journeys)
    message = error.value.format_message()
    assert 'confirmation_type = "quote" lets staff send a customer a quote' in message
    assert "self-service.toml" in message


def test_valid_days_needs_a_quote(tmp_path: Path) -> None:
    journeys = tmp_path / "journeys"
    shutil.copytree(REPO / "journeys", journeys)
    text = (journeys / f"{JOURNEY}.toml").read_text()
    (journeys / f"{JOURNEY}.toml").write_text(text.replace("valid_days = 30", "valid_days = 400"))
    with pytest.raises(ConfigError) as error:
        kljourney.load(journeys)
    assert "valid_days" in error.value.format_message()


def test_a_discount_limit_must_be_a_percentage(tmp_path: Path) -> None:
    journeys = tmp_path / "journeys"
    shutil.copytree(REPO / "journeys", journeys)
    text = (journeys / "keylight.toml").read_text()
    (journeys / "keylight.toml").write_text(text.replace("sales = 15", "sales = 150"))
    with pytest.raises(ConfigError) as error:
        kljourney.load(journeys)
    assert "discount limit of 'sales' as a percentage from 0 to 100" in error.value.format_message()


def test_a_quote_without_a_customer_lookup_before_it_is_warned_of(tmp_path: Path) -> None:
    journeys = tmp_path / "journeys"
    shutil.copytree(REPO / "journeys", journeys)
    text = (journeys / f"{JOURNEY}.toml").read_text()
    (journeys / f"{JOURNEY}.toml").write_text(
        text.replace('type = "customer_lookup"', 'type = "customer_lookup"\nactive = false')
    )
    [warning] = [str(w) for w in kljourney.load(journeys).warnings]
    assert "no customer_lookup step comes before this one" in warning
