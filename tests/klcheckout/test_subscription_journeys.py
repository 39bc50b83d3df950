"""Subscription journeys over real HTTP, on SQLite and PostgreSQL: the example's change-plan,
cancel, pause and come-back journeys and the account page, from the customer's side.

Periods are set in the database where a test needs fixed figures (a period with 12
of 30 days left); ``subscriptions.apply_due`` with a moment after the period's end
stands in for the worker when time must move on.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
import requests
from checkout_helpers import BILLING, EXAMPLE, TEST_JOURNEY, Backend, Shopper, unique_email
from sqlalchemy import select, update

from klcheckout import subscriptions
from klcheckout.clock import now
from klcheckout.tables import events, order_lines, orders, sign_in_links
from klcheckout.tables import subscriptions as subscriptions_table

CHANGED = "Your subscription changed meanwhile"


class Subscriber:
    """A customer with an account who bought Starter; moves between journeys with one cookie."""

    def __init__(self, backend: Backend, product: str = "starter") -> None:
        self.backend = backend
        self.email = unique_email()
        self.shopper = backend.shopper()
        shopper = self.shopper
        shopper.add(product)
        shopper.step("cart")
        shopper.step(
            "login-or-create-an-account",
            {"action": "signup", "email": self.email, "password": "a long passphrase"},
        )
        shopper.step("customer-information", {**BILLING, "email": self.email})
        shopper.step("payment-method", {"method": "invoice"})
        assert shopper.step("confirm-order", {"confirm_token": "buy-" + self.email}).ok
        with backend.engine.connect() as connection:
            [found] = subscriptions.recent(connection, email=self.email)
        self.id = found["public_id"]
        self.bound = self.id

    def close(self) -> None:
        self.shopper.close()

    def account(self, **params: str) -> dict[str, Any]:
        response = self.shopper.http.get(f"{self.backend.url}/account", params=params)
        assert response.status_code == 200, response.text
        return response.json()

    def card(self) -> dict[str, Any]:
        [card] = [s for s in self.account()["subscriptions"] if s["id"] == self.id]
        return card

    def enter(self, journey: str, step: str, public_id: str | None = None) -> requests.Response:
        """Open a journey's page from the account page (?subscription=<id>)."""
        self.shopper.journey = journey
        self.bound = public_id or self.id
        entry = f"subscription={self.bound}"
        entered = self.shopper.http.get(
            f"{self.backend.url}/{journey}/state",
            params={"step": step, "entry": entry},
            headers={"Accept": "application/json"},  # as the page script asks
        )
        # The page's forms carry the token of this state (another journey's is stale).
        self.shopper.csrf = entered.json()["csrf_token"] if entered.ok else ""
        return entered

    def state(self, step: str) -> dict[str, Any]:
        return self.shopper.state(step)

    def step(self, step: str, data: dict[str, Any] | None = None) -> requests.Response:
        """Send a step's form as the page does: the confirmation names the subscription the
        page showed (the other steps ignore it)."""
        return self.shopper.step(step, {"subscription": self.bound, **(data or {})})

    def row(self) -> Any:
        with self.backend.engine.connect() as connection:
            return subscriptions.row_of(connection, self.id)

    def set_period(self, days_ago: int, length: int = 30) -> None:
        """The current period began ``days_ago`` days ago and lasts ``length`` days."""
        start = now().replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=days_ago)
        values = {
            "started_at": start,
            "current_period_start": start,
            "current_period_end": start + timedelta(days=length),
        }
        with self.backend.engine.begin() as connection:
            connection.execute(
                update(subscriptions_table)
                .where(subscriptions_table.c.public_id == self.id)
                .values(**values)
            )

    def history(self) -> list[tuple[str, str]]:
        with self.backend.engine.connect() as connection:
            found = subscriptions.find(connection, self.id)
        assert found is not None
        return [(h["actor"], h["action"]) for h in found["history"]]

    def emails(self) -> list[dict[str, Any]]:
        """The shop's own emails queued for this customer, oldest first."""
        with self.backend.engine.connect() as connection:
            rows = connection.execute(
                select(events.c.payload)
                .where(events.c.type == "customer_email")
                .order_by(events.c.id)
            )
            return [r.payload for r in rows if r.payload["data"]["customer"]["email"] == self.email]


@pytest.fixture
def subscriber(backend: Backend) -> Any:
    person = Subscriber(backend)
    yield person
    person.close()


def change_orders(backend: Backend, email: str) -> list[tuple[str, str]]:
    """(line name, line total) of the orders a plan change made for ``email``."""
    with backend.engine.connect() as connection:
        rows = connection.execute(
            select(order_lines.c.name, order_lines.c.line_total)
            .join(orders, orders.c.id == order_lines.c.order_id)
            .where(orders.c.email == email, orders.c.checkout_id.like("change-%"))
        )
        return [(r.name, r.line_total) for r in rows]


# -- changing plan -----------------------------------------------------------------------------


def test_an_upgrade_applies_now_and_charges_the_days_left(subscriber: Subscriber) -> None:
    subscriber.set_period(days_ago=18)  # 12 of 30 days left
    entered = subscriber.enter("change-plan", "your-new-plan")
    assert entered.status_code == 200, entered.text
    subscription = entered.json()["subscription"]
    assert (subscription["name"], subscription["charge"]) == ("Starter", "€9.90 / month")
    plans = {p["product"]: p for p in subscription["plans"]}
    assert set(plans) == {"starter", "pro"}  # the yearly plan bills another period
    assert plans["starter"]["kind"] == "current"
    assert plans["pro"]["kind"] == "upgrade"
    assert plans["pro"]["when"] == "From today: €7.64 now for the 12 days left."

    refused = subscriber.step("your-new-plan", {"product": "starter"})
    assert refused.status_code == 303
    errors = subscriber.state("your-new-plan")["errors"]
    assert errors["product"].startswith("You have Starter already.")

    assert subscriber.step("your-new-plan", {"product": "pro"}).headers["Location"] == (
        "/change-plan/confirm-the-change/"
    )
    change = subscriber.state("confirm-the-change")["subscription"]["change"]
    assert change["before_text"] == "Starter, €9.90 / month"
    assert change["after_text"] == "Pro, €29.00 / month"
    assert (change["effective"], change["now_label"], change["now_text"]) == (
        "Today",
        "Charged now",
        "€7.64",
    )
    assert change["next_text"].endswith(": €29.00")
    confirmed = subscriber.step("confirm-the-change", {"confirm_token": "upgrade-1"})
    assert confirmed.headers["Location"] == "/change-plan/done/"
    applied = subscriber.state("done")["subscription"]["applied"]
    assert applied["text"].startswith("Your plan is now Pro.")
    assert applied["order_number"].startswith("KL-")

    row = subscriber.row()
    assert (row.product, row.line_total, row.status) == ("pro", "29.00", "active")
    assert change_orders(subscriber.backend, subscriber.email) == [
        ("Starter to Pro: charge for 12 of 30 days", "7.64")
    ]
    assert subscriber.history()[-1] == ("customer", "changed")
    [email] = subscriber.emails()
    assert email["data"]["summary"] == "Your plan is now Pro."


def test_a_downgrade_waits_for_the_period_end_and_only_one_change_is_scheduled(
    backend: Backend,
) -> None:
    subscriber = Subscriber(backend, product="pro")
    try:
        subscriber.enter("change-plan", "your-new-plan")
        plans = {
            p["product"]: p for p in subscriber.state("your-new-plan")["subscription"]["plans"]
        }
        assert plans["starter"]["kind"] == "downgrade"
        assert plans["starter"]["when"].startswith("From ")  # the end of the period
        subscriber.step("your-new-plan", {"product": "starter"})
        change = subscriber.state("confirm-the-change")["subscription"]["change"]
        assert change["now_text"] == "" and change["next_text"].endswith(": €9.90")
        subscriber.step("confirm-the-change", {"confirm_token": "down-1"})
        row = subscriber.row()
        assert row.product == "pro" and row.scheduled_change["product"] == "starter"

        card = subscriber.card()
        assert card["scheduled_change_text"].startswith("Starter from ")
        assert card["next_renewal_text"].endswith(": €9.90")
        assert [a["label"] for a in card["actions"]][0] == "Keep my current plan"

        # A second change while one is scheduled is refused, with the reason.
        subscriber.enter("change-plan", "your-new-plan")
        subscriber.step("your-new-plan", {"product": "starter"})
        refused = subscriber.step("confirm-the-change", {"confirm_token": "down-again"})
        assert refused.headers["Location"] == "/change-plan/confirm-the-change/"
        error = subscriber.state("confirm-the-change")["errors"]["_form"]
        assert error.startswith("A change to Starter on ") and "is scheduled already" in error
        assert subscriber.history().count(("customer", "change_scheduled")) == 1
        row = subscriber.row()

        # The worker puts the new plan in place at the period's end, then renews at its price.
        shop = backend.app.extensions["keylight"].shop
        later = row.current_period_end + timedelta(hours=1)
        applied = subscriptions.apply_due(backend.engine, shop, later)
        mine = [action for public_id, action in applied if public_id == subscriber.id]
        assert mine == ["changed", "renewed"]
        row = subscriber.row()
        assert (row.product, row.line_total, row.scheduled_change) == ("starter", "9.90", None)
    finally:
        subscriber.close()


def test_the_customer_keeps_the_plan_instead_of_a_scheduled_change(backend: Backend) -> None:
    subscriber = Subscriber(backend, product="pro")
    try:
        subscriber.enter("change-plan", "your-new-plan")
        subscriber.step("your-new-plan", {"product": "starter"})
        subscriber.step("confirm-the-change", {"confirm_token": "down-2"})
        account = subscriber.account()
        [keep] = [a for a in subscriber.card()["actions"] if a["label"] == "Keep my current plan"]
        path = keep["url"].removeprefix("/api")
        kept = subscriber.shopper.http.post(
            backend.url + path, data={"csrf_token": account["csrf_token"]}, allow_redirects=False
        )
        assert kept.status_code == 303
        assert kept.headers["Location"] == "/account/?notice=change_unscheduled"
        assert subscriber.row().scheduled_change is None
        notice = subscriber.account(notice="change_unscheduled")["messages"]
        assert notice == ["You keep your current plan."]
        assert subscriber.emails()[-1]["data"]["summary"] == (
            "You keep Pro: the planned change was dropped."
        )
    finally:
        subscriber.close()


# -- confirming exactly once -------------------------------------------------------------------


def test_a_double_click_applies_the_change_once_and_answers_both_alike(
    subscriber: Subscriber,
) -> None:
    subscriber.enter("change-plan", "your-new-plan")
    subscriber.step("your-new-plan", {"product": "pro"})
    subscriber.state("confirm-the-change")
    token = subscriber.shopper.csrf
    url = f"{subscriber.backend.url}/change-plan/steps/confirm-the-change"
    form = {"csrf_token": token, "confirm_token": "same-page", "subscription": subscriber.id}

    def click(_: int) -> requests.Response:
        return subscriber.shopper.http.post(url, data=form, allow_redirects=False)

    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(click, range(2)))
    assert [a.status_code for a in answers] == [303, 303]
    assert {a.headers["Location"] for a in answers} == {"/change-plan/done/"}
    assert subscriber.history().count(("customer", "changed")) == 1
    assert len(change_orders(subscriber.backend, subscriber.email)) == 1


def tabs_confirming_pro(subscriber: Subscriber) -> Any:
    """Pro chosen, and the confirmation page open in tabs: a function that confirms in the
    tab of that name (each page has a confirmation token of its own)."""
    subscriber.enter("change-plan", "your-new-plan")
    subscriber.step("your-new-plan", {"product": "pro"})
    subscriber.state("confirm-the-change")
    token = subscriber.shopper.csrf
    url = f"{subscriber.backend.url}/change-plan/steps/confirm-the-change"

    def tab(name: str) -> requests.Response:
        form = {"csrf_token": token, "confirm_token": name, "subscription": subscriber.id}
        headers = {"Accept": "application/json"}
        return subscriber.shopper.http.post(url, data=form, headers=headers)

    return tab


def test_two_tabs_change_once_and_the_second_is_told_it_changed(subscriber: Subscriber) -> None:
    tab = tabs_confirming_pro(subscriber)
    with ThreadPoolExecutor(2) as pool:
        first, second = pool.map(tab, ["tab-1", "tab-2"])
    outcomes = sorted([first.status_code, second.status_code])
    assert outcomes == [200, 409], (first.text, second.text)
    refused = first if first.status_code == 409 else second
    assert refused.json()["errors"]["_form"].startswith(CHANGED)
    assert refused.json()["redirect"] == "/change-plan/your-new-plan/"
    assert subscriber.history().count(("customer", "changed")) == 1
    # The page of the second tab, reloaded, confirms nothing: it says what happened.
    state = subscriber.state("confirm-the-change")
    assert state.get("redirect") == "/change-plan/done/"


def test_a_change_by_support_meanwhile_is_not_overwritten(
    backend: Backend, subscriber: Subscriber
) -> None:
    subscriber.enter("change-plan", "your-new-plan")
    subscriber.step("your-new-plan", {"product": "pro"})
    with backend.engine.begin() as connection:
        subscriptions.cancel(
            connection,
            subscriber.row(),
            immediately=False,
            actor="support",
            reason="asked by phone",
            moment=now(),
        )
    # The journey is for active subscriptions: its page says it is not open any more,
    state = subscriber.enter("change-plan", "confirm-the-change")
    assert state.status_code == 403
    with backend.engine.begin() as connection:  # (support takes it back: active again)
        subscriptions.reactivate(
            connection, subscriber.row(), actor="support", reason="", moment=now()
        )
    # and once it is open again, the choice made before support's changes confirms nothing.
    state = subscriber.state("confirm-the-change")
    assert state["subscription"]["change"] is None
    assert state["subscription"]["changed_meanwhile"].startswith(CHANGED)
    refused = subscriber.step("confirm-the-change", {"confirm_token": "late"})
    assert refused.headers["Location"] == "/change-plan/your-new-plan/"
    assert subscriber.state("your-new-plan")["errors"]["_form"].startswith(CHANGED)
    assert subscriber.row().product == "starter"


# -- cancelling, with and without the offer ----------------------------------------------------


def test_a_retention_offer_taken_instead_of_cancelling(
    backend: Backend, subscriber: Subscriber
) -> None:
    subscriber.enter("cancel", "why")
    shown = subscriber.step("why", {"reason": "too-expensive"})
    assert shown.headers["Location"] == "/cancel/why/"  # the offer, on the same page
    offer = subscriber.state("why")["subscription"]["offer"]
    assert offer == {
        "reason": "too-expensive",
        "text": "Stay with Starter and get 20 % off for 3 months: "
        "€7.92 / month instead of €9.90 / month.",
    }
    # The confirmation is not reached with an offer neither taken nor declined.
    assert subscriber.state("confirm")["redirect"] == "/cancel/why/"
    taken = subscriber.step("why", {"reason": "too-expensive", "decision": "accept"})
    assert taken.headers["Location"] == "/cancel/done/"
    assert subscriber.state("done")["subscription"]["applied"]["text"] == (
        "Starter now comes with 20 % off for 3 months."
    )
    row = subscriber.row()
    assert row.status == "active" and row.discount["periods_left"] == 3
    card = subscriber.card()
    assert card["charge"] == "€7.92 / month"
    assert card["discount_text"] == "20 % off for 3 months (3 more renewals)"

    # Three renewals are reduced, the fourth is not.
    shop = backend.app.extensions["keylight"].shop
    charged = []
    for _ in range(4):
        row = subscriber.row()
        moment = row.current_period_end + timedelta(minutes=1)
        subscriptions.apply_due(backend.engine, shop, moment)
        with backend.engine.connect() as connection:
            found = subscriptions.find(connection, subscriber.id)
        charged.append(found["history"][-1]["after"]["discount"])
    assert [d["periods_left"] if d else None for d in charged] == [2, 1, None, None]
    assert subscriber.row().discount is None


def test_a_declined_offer_cancels_at_period_end_and_can_be_undone(
    subscriber: Subscriber,
) -> None:
    subscriber.enter("cancel", "why")
    subscriber.step("why", {"reason": "not-using"})
    offer = subscriber.state("why")["subscription"]["offer"]["text"]
    assert offer == "Take a break instead: pause Starter for 2 months and pay nothing meanwhile."
    declined = subscriber.step("why", {"reason": "not-using", "decision": "decline"})
    assert declined.headers["Location"] == "/cancel/confirm/"
    change = subscriber.state("confirm")["subscription"]["change"]
    assert change["after_text"] == "Cancelled"
    assert change["button"] == "Cancel my subscription"
    subscriber.step("confirm", {"confirm_token": "bye"})
    row = subscriber.row()
    assert row.status == "cancelling" and row.cancel_at == row.current_period_end
    card = subscriber.card()
    assert card["status_label"] == "Ends at the end of the period"
    assert [a["label"] for a in card["actions"]] == ["Undo the cancellation"]

    account = subscriber.account()
    undo = card["actions"][0]["url"].removeprefix("/api")
    undone = subscriber.shopper.http.post(
        subscriber.backend.url + undo,
        data={"csrf_token": account["csrf_token"]},
        headers={"Accept": "application/json"},
    )
    assert undone.json()["messages"] == ["The cancellation is undone: your subscription goes on."]
    assert subscriber.row().status == "active"
    assert subscriber.history()[-2:] == [
        ("customer", "cancel_scheduled"),
        ("customer", "reactivated"),
    ]
    assert [e["data"]["action"] for e in subscriber.emails()] == [
        "cancel_scheduled",
        "reactivated",
    ]


def test_a_reason_with_a_comment_is_kept_in_the_history(
    backend: Backend, subscriber: Subscriber
) -> None:
    subscriber.enter("cancel", "why")
    missing = subscriber.step("why", {"reason": ""})
    assert missing.headers["Location"] == "/cancel/why/"
    assert subscriber.state("why")["errors"] == {"reason": "Choose the reason you are leaving."}
    subscriber.step("why", {"reason": "missing-feature", "comment": "No SSO"})
    subscriber.step("confirm", {"confirm_token": "sso"})
    with backend.engine.connect() as connection:
        found = subscriptions.find(connection, subscriber.id)
    assert found["history"][-1]["reason"] == "missing-feature: No SSO"
    # Cancelled already: the cancel journey is not open for it any more.
    again = subscriber.enter("cancel", "why")
    assert again.status_code == 403
    assert "not open" in again.json()["error"]


# -- pausing -----------------------------------------------------------------------------------


def test_a_pause_stops_billing_and_resumes_early_from_the_account_page(
    subscriber: Subscriber,
) -> None:
    subscriber.enter("pause", "take-a-break")
    pauses = subscriber.state("take-a-break")["subscription"]["pauses"]
    assert [p["label"] for p in pauses] == ["1 month", "2 months", "3 months"]
    bad = subscriber.step("take-a-break", {"periods": "7"})
    assert bad.headers["Location"] == "/pause/take-a-break/"
    assert subscriber.state("take-a-break")["errors"]["periods"] == (
        "Choose how long to pause: 1, 2, or 3 months."
    )
    subscriber.step("take-a-break", {"periods": "2"})
    change = subscriber.state("confirm")["subscription"]["change"]
    assert change["after_text"] == f"Paused until {pauses[1]['resume']}"
    subscriber.step("confirm", {"confirm_token": "pause"})
    row = subscriber.row()
    assert row.status == "paused"
    card = subscriber.card()
    assert card["resume_at"] == pauses[1]["resume"]
    assert [a["label"] for a in card["actions"]] == ["Resume now", "Cancel"]

    # Paused already: the pause journey is closed for it.
    assert subscriber.enter("pause", "take-a-break").status_code == 403
    account = subscriber.account()
    resumed = subscriber.shopper.http.post(
        subscriber.backend.url + card["actions"][0]["url"].removeprefix("/api"),
        data={"csrf_token": account["csrf_token"]},
        allow_redirects=False,
    )
    assert resumed.headers["Location"] == "/account/?notice=resumed"
    assert subscriber.row().status == "active"
    # Resuming what runs already is refused, and says so.
    again = subscriber.shopper.http.post(
        subscriber.backend.url + card["actions"][0]["url"].removeprefix("/api"),
        data={"csrf_token": account["csrf_token"]},
        allow_redirects=False,
    )
    assert again.headers["Location"] == "/account/?notice=refused"


# -- whose subscription ------------------------------------------------------------------------


def test_only_the_owner_reaches_a_subscription(backend: Backend, subscriber: Subscriber) -> None:
    other = Subscriber(backend)
    try:
        foreign = other.enter("change-plan", "your-new-plan", public_id=subscriber.id)
        guessed = other.enter("change-plan", "your-new-plan", public_id="sub_guessed0000")
        assert foreign.status_code == guessed.status_code == 404
        assert foreign.json()["error"] == guessed.json()["error"]
        assert "among yours" in foreign.json()["error"]
        # Nor by a form: the journey has no subscription of theirs bound.
        posted = other.shopper.http.post(
            f"{backend.url}/change-plan/steps/your-new-plan",
            data={"product": "pro", "csrf_token": other.account()["csrf_token"]},
            allow_redirects=False,
        )
        assert posted.status_code in (403, 404)
        assert subscriber.row().product == "starter"
    finally:
        other.close()

    stranger = Shopper(backend.url, "change-plan")  # signed in nowhere
    try:
        response = stranger.http.get(
            f"{backend.url}/change-plan/state",
            params={"step": "your-new-plan", "entry": f"subscription={subscriber.id}"},
        )
        assert response.status_code == 404
        # The error page leads to the account page, where one signs in.
        assert 'href="/account/">Back to the shop</a>' in response.text
    finally:
        stranger.close()


def test_signing_out_ends_the_access_on_the_next_request(subscriber: Subscriber) -> None:
    assert subscriber.enter("change-plan", "your-new-plan").status_code == 200
    subscriber.shopper.post("logout", {"step": "your-new-plan"})
    assert (
        subscriber.shopper.http.get(
            f"{subscriber.backend.url}/change-plan/state", params={"step": "your-new-plan"}
        ).status_code
        == 404
    )


# -- a guest's link ----------------------------------------------------------------------------


def guest_buys_starter(backend: Backend, email: str) -> Shopper:
    guest = backend.shopper(TEST_JOURNEY)
    guest.add("starter", step="plan")
    guest.step("cart")
    guest.step("account", {"action": "guest", "email": email})
    guest.step("billing", {**BILLING, "email": email})
    guest.step("payment", {"method": "invoice"})
    assert guest.step("confirm", {"confirm_token": "guest-" + email}).ok
    return guest


def link_of(backend: Backend, email: str) -> str:
    with backend.engine.connect() as connection:
        rows = connection.execute(select(events.c.payload).where(events.c.type == "customer_email"))
        links = [
            r.payload["data"]["link"]
            for r in rows
            if r.payload["data"]["customer"]["email"] == email and "link" in r.payload["data"]
        ]
    assert links, f"no sign-in link for {email}"
    return links[-1]


def use_link(visitor: Shopper, link: str) -> requests.Response:
    """Open the emailed link, then press its page's button, as a person does."""
    page = visitor.http.get(link)
    assert page.status_code == 200 and "Sign in with the link" in page.text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    action = link.split("/account/", 1)[1]
    return visitor.http.post(
        f"{visitor.base}/account/{action}",
        data={"csrf_token": token.group(1)},
        allow_redirects=False,
    )


def test_a_guest_signs_in_with_a_one_time_link(backend: Backend) -> None:
    email = unique_email()
    guest_buys_starter(backend, email).close()
    visitor = Shopper(backend.url, "change-plan")
    try:
        account = visitor.http.get(f"{backend.url}/account").json()
        assert account["customer"] is None and account["subscriptions"] == []
        asked = visitor.http.post(
            f"{backend.url}/account/link",
            data={"email": email.upper(), "csrf_token": account["csrf_token"]},
            allow_redirects=False,
        )
        assert asked.headers["Location"] == "/account/?notice=link-sent"
        link = link_of(backend, email)
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/account/link/[\w-]{40,}", link)
        # Opening the link changes nothing (mail scanners open links): its page asks.
        assert use_link(visitor, link).headers["Location"] == "/account/?notice=signed-in"
        account = visitor.http.get(f"{backend.url}/account").json()
        assert account["customer"] == {"email": email, "signed_in": False, "by_link": True}
        [card] = account["subscriptions"]
        assert card["name"] == "Starter" and len(account["orders"]) == 1
        assert account["orders"][0]["total"] == "€9.90 / month"  # by when it is paid
        # The link works once.
        other = Shopper(backend.url, "change-plan")
        try:
            again = use_link(other, link)
            assert again.headers["Location"] == "/account/?notice=link-invalid"
            assert other.http.get(f"{backend.url}/account").json()["customer"] is None
        finally:
            other.close()
        # Signed in by the link, the guest walks a subscription journey.
        response = visitor.http.get(
            f"{backend.url}/pause/state",
            params={"step": "take-a-break", "entry": f"subscription={card['id']}"},
        )
        assert response.status_code == 200, response.text
    finally:
        visitor.close()


def test_a_link_expires_after_15_minutes_and_tells_nobody_who_bought(backend: Backend) -> None:
    email = unique_email()
    guest_buys_starter(backend, email).close()
    visitor = Shopper(backend.url, "change-plan")
    try:
        token = visitor.http.get(f"{backend.url}/account").json()["csrf_token"]
        for address in (email, unique_email()):  # a buyer, and someone who never bought
            asked = visitor.http.post(
                f"{backend.url}/account/link",
                data={"email": address, "csrf_token": token},
                headers={"Accept": "application/json"},
            )
            assert asked.json()["messages"][0].startswith("If a subscription was bought")
        link = link_of(backend, email)
        with backend.engine.begin() as connection:
            connection.execute(
                update(sign_in_links).values(expires_at=now() - timedelta(seconds=1))
            )
        expired = use_link(visitor, link)
        assert expired.headers["Location"] == "/account/?notice=link-invalid"
    finally:
        visitor.close()


# -- win-back ----------------------------------------------------------------------------------


def test_a_cancelled_customer_comes_back_with_the_journeys_discount(
    backend: Backend, subscriber: Subscriber
) -> None:
    with backend.engine.begin() as connection:
        subscriptions.cancel(
            connection,
            subscriber.row(),
            immediately=True,
            actor="customer",
            reason="",
            moment=now(),
        )
    card = subscriber.card()
    assert [a["label"] for a in card["actions"]] == ["Come back"]
    assert card["actions"][0]["url"] == f"/come-back/plan/?subscription={subscriber.id}"
    # Active journeys are closed to it; the offer is the journey's, not the address's.
    assert subscriber.enter("change-plan", "your-new-plan").status_code == 403
    subscriber.shopper.journey = "come-back"
    entered = subscriber.shopper.http.get(
        f"{backend.url}/come-back/state",
        params={"step": "plan", "entry": f"subscription={subscriber.id}&discount=loyal-20"},
    )
    plans = {p["product"]: p for p in entered.json()["subscription"]["plans"]}
    assert plans["starter"]["price"] == "€6.93 / month"  # 30 % off, not 20 %
    assert plans["pro"]["price"] == "€20.30 / month"

    subscriber.step("plan", {"product": "starter"})
    subscriber.step("payment-method", {"method": "invoice"})
    confirm = subscriber.state("confirm")
    assert confirm["subscription"]["change"]["now_text"] == "€6.93"
    line = confirm["cart"]["lines"][0]
    assert (line["line_total"], line["discount"]["list_total"]) == ("6.93", "9.90")
    placed = subscriber.step("confirm", {"confirm_token": "back"})
    assert placed.headers["Location"] == "/come-back/welcome-back/"
    number = subscriber.state("welcome-back")["order"]["number"]

    with backend.engine.connect() as connection:
        [new, old] = subscriptions.recent(connection, email=subscriber.email)
    assert old["public_id"] == subscriber.id and old["status"] == "cancelled"
    assert (new["status"], new["line_total"]) == ("active", "9.90")
    assert new["discount"]["id"] == "welcome-back" and new["discount"]["periods_left"] == 2
    assert subscriber.history()[-1] == ("customer", "won_back")
    with backend.engine.connect() as connection:
        total = connection.execute(
            select(orders.c.totals).where(orders.c.number == number)
        ).scalar_one()
    assert Decimal(total["gross"]) == Decimal("6.93")


# -- the other policies ------------------------------------------------------------------------


def test_a_downgrade_now_credits_the_days_left_and_an_upgrade_waits(backend: Backend) -> None:
    subscriber = Subscriber(backend, product="pro")
    try:
        subscriber.set_period(days_ago=18)  # 12 of 30 days left
        subscriber.enter("swap", "plan")
        plans = {p["product"]: p for p in subscriber.state("plan")["subscription"]["plans"]}
        assert plans["starter"]["when"] == "From today: €7.64 credited for the 12 days left."
        subscriber.step("plan", {"product": "starter"})
        change = subscriber.state("confirm")["subscription"]["change"]
        assert (change["now_label"], change["now_text"]) == ("Credited now", "€7.64")
        subscriber.step("confirm", {"confirm_token": "credit"})
        assert subscriber.row().product == "starter"
        assert change_orders(backend, subscriber.email) == [
            ("Pro to Starter: credit for 12 of 30 days", "-7.64")
        ]
        # Back up to Pro: with this journey, an upgrade waits for the period's end.
        subscriber.enter("swap", "plan")
        plans = {p["product"]: p for p in subscriber.state("plan")["subscription"]["plans"]}
        assert plans["pro"]["kind"] == "upgrade" and plans["pro"]["timing"] == "period_end"
        subscriber.step("plan", {"product": "pro"})
        subscriber.step("confirm", {"confirm_token": "later"})
        row = subscriber.row()
        assert (row.product, row.scheduled_change["product"]) == ("starter", "pro")
        assert len(change_orders(backend, subscriber.email)) == 1  # nothing charged now
    finally:
        subscriber.close()


def test_a_cheaper_plan_offered_instead_of_cancelling_at_once(backend: Backend) -> None:
    subscriber = Subscriber(backend, product="pro")
    try:
        subscriber.enter("leave", "leave")
        subscriber.step("leave", {"reason": "too-big"})
        offer = subscriber.state("leave")["subscription"]["offer"]["text"]
        assert offer.startswith("Switch to Starter instead, for €9.90 / month from ")
        subscriber.step("leave", {"reason": "too-big", "decision": "accept"})
        row = subscriber.row()
        assert (row.status, row.scheduled_change["product"]) == ("active", "starter")
        # With a change scheduled, the same offer cannot be made again: it is not shown.
        subscriber.enter("leave", "leave")
        going = subscriber.step("leave", {"reason": "too-big"})
        assert going.headers["Location"] == "/leave/confirm/"
        change = subscriber.state("confirm")["subscription"]["change"]
        assert change["effective"] == "Today"
        subscriber.step("confirm", {"confirm_token": "now"})
        row = subscriber.row()
        assert row.status == "cancelled" and row.cancelled_at is not None
    finally:
        subscriber.close()


def test_two_workers_apply_a_scheduled_change_once(backend: Backend) -> None:
    subscriber = Subscriber(backend, product="pro")
    try:
        subscriber.enter("change-plan", "your-new-plan")
        subscriber.step("your-new-plan", {"product": "starter"})
        subscriber.step("confirm-the-change", {"confirm_token": "down-workers"})
        row = subscriber.row()
        shop = backend.app.extensions["keylight"].shop
        later = row.current_period_end + timedelta(minutes=5)
        with ThreadPoolExecutor(2) as pool:
            done = list(
                pool.map(lambda _: subscriptions.apply_due(backend.engine, shop, later), range(2))
            )
        mine = [a for applied in done for public_id, a in applied if public_id == subscriber.id]
        assert sorted(mine) == ["changed", "renewed"]
        assert subscriber.history()[-2:] == [("system", "changed"), ("system", "renewed")]
    finally:
        subscriber.close()


# -- without JavaScript ------------------------------------------------------------------------


def test_without_javascript_the_backend_renders_the_account_and_the_journey(
    subscriber: Subscriber,
) -> None:
    url, http = subscriber.backend.url, subscriber.shopper.http

    def token_of(html: str) -> str:
        found = re.search(r'name="csrf_token" value="([^"]+)"', html)
        assert found, html
        return found.group(1)

    account = http.get(f"{url}/account/page")
    assert account.status_code == 200
    assert '<h3 data-kl-sub="name">Starter</h3>' in account.text
    link = f"/api/change-plan/pages/your-new-plan/?subscription={subscriber.id}"
    assert f'href="{link}"' in account.text

    page = http.get(
        f"{url}/change-plan/pages/your-new-plan/", params={"subscription": subscriber.id}
    )
    assert page.status_code == 200
    assert 'value="pro"' in page.text and "now for the" in page.text
    chosen = http.post(
        f"{url}/change-plan/steps/your-new-plan?page=backend",
        data={"product": "pro", "csrf_token": token_of(page.text)},
        allow_redirects=False,
    )
    assert chosen.headers["Location"] == "/api/change-plan/pages/confirm-the-change/"
    confirm = http.get(f"{url}/change-plan/pages/confirm-the-change/")
    assert "Charged now" in confirm.text and "Pro, €29.00 / month" in confirm.text
    assert ">Confirm the change</button>" in confirm.text
    shown = re.search(r'name="subscription" value="([^"]+)"', confirm.text)
    assert shown is not None and shown.group(1) == subscriber.id
    done = http.post(
        f"{url}/change-plan/steps/confirm-the-change?page=backend",
        data={
            "csrf_token": token_of(confirm.text),
            "confirm_token": "no-script",
            "subscription": shown.group(1),
        },
        allow_redirects=False,
    )
    assert done.headers["Location"] == "/api/change-plan/pages/done/"
    assert "Your plan is now Pro." in http.get(f"{url}/change-plan/pages/done/").text


def test_without_javascript_the_offer_and_the_pauses_are_shown(subscriber: Subscriber) -> None:
    url, http = subscriber.backend.url, subscriber.shopper.http
    params = {"subscription": subscriber.id}
    pause = http.get(f"{url}/pause/pages/take-a-break/", params=params)
    assert pause.status_code == 200 and "billed again from" in pause.text
    why = http.get(f"{url}/cancel/pages/why/", params=params)
    token = re.search(r'name="csrf_token" value="([^"]+)"', why.text)
    assert token is not None
    shown = http.post(
        f"{url}/cancel/steps/why?page=backend",
        data={"reason": "too-expensive", "csrf_token": token.group(1)},
        allow_redirects=False,
    )
    assert shown.headers["Location"] == "/api/cancel/pages/why/"
    offer = http.get(f"{url}/cancel/pages/why/")
    assert "Stay with Starter and get 20 % off for 3 months" in offer.text
    assert '<input type="hidden" name="reason" value="too-expensive" data-kl-offer-reason>' in (
        offer.text
    )


# -- a campaign's discount ---------------------------------------------------------------------


def test_a_campaigns_discount_is_on_the_lines_the_totals_the_order_and_the_subscription(
    backend: Backend,
) -> None:
    email = unique_email()
    buyer = backend.shopper("campaign")
    try:
        buyer.add("starter", step="plans")
        buyer.add("onboarding", step="plans")  # paid once: never discounted
        cart = buyer.state("cart")["cart"]
        lines = {line["product"]: line for line in cart["lines"]}
        assert lines["starter"]["line_total"] == "7.92"
        assert lines["starter"]["formatted"]["discount"] == (
            "20 % off for 3 months, instead of €9.90 / month"
        )
        assert lines["onboarding"]["formatted"]["discount"] == ""
        assert cart["totals"]["discount"] == {"amount": "1.98"}
        assert cart["totals"]["formatted"]["discount"] == "−€1.98"
        buyer.step("cart")
        buyer.step("account", {"action": "guest", "email": email})
        # This journey's confirmation asks the buyer to accept the terms.
        refused = buyer.step("confirm", {"confirm_token": "spring-" + email})
        assert refused.headers["Location"] == "/campaign/confirm/"
        error = buyer.state("confirm")["errors"]["accept_terms"]
        assert error.startswith("Accept the terms and conditions")
        placed = buyer.step("confirm", {"confirm_token": "spring-" + email, "accept_terms": "on"})
        assert placed.headers["Location"] == "/campaign/done/"
    finally:
        buyer.close()
    with backend.engine.connect() as connection:
        totals = connection.execute(select(orders.c.totals).where(orders.c.email == email))
        assert totals.scalar_one()["discount"] == {"amount": "1.98"}
        [bought] = subscriptions.recent(connection, email=email)
    # The subscription keeps the price before the discount and the renewals still reduced.
    assert bought["line_total"] == "9.90"
    assert bought["discount"]["id"] == "loyal-20" and bought["discount"]["periods_left"] == 2


# -- what a second look found ------------------------------------------------------------------


def test_a_retention_offer_is_taken_once(backend: Backend, subscriber: Subscriber) -> None:
    subscriber.enter("cancel", "why")
    subscriber.step("why", {"reason": "too-expensive"})
    accept = {"reason": "too-expensive", "decision": "accept"}
    assert subscriber.step("why", accept).headers["Location"] == "/cancel/done/"
    # The same button again (a double click after the first answer): the same answer.
    assert subscriber.step("why", accept).headers["Location"] == "/cancel/done/"
    assert subscriber.history().count(("customer", "discounted")) == 1
    # Two renewals later, the same form sent again does not start the discount over.
    shop = backend.app.extensions["keylight"].shop
    for _ in range(2):
        moment = subscriber.row().current_period_end + timedelta(minutes=1)
        subscriptions.apply_due(backend.engine, shop, moment)
    assert subscriber.row().discount["periods_left"] == 1
    subscriber.enter("cancel", "why")
    subscriber.step("why", accept)
    assert subscriber.row().discount["periods_left"] == 1
    # Nor is another offer made to a subscription with a discount of its own: the reason
    # leads on to confirming the cancellation.
    going = subscriber.step("why", {"reason": "too-expensive"})
    assert going.headers["Location"] == "/cancel/confirm/"
    refused = subscriber.step("why", accept)  # an offer it cannot take is not taken
    assert refused.headers["Location"] == "/cancel/why/"
    error = subscriber.state("why")["errors"]["reason"]
    assert error.startswith("This offer is not open to your subscription any more.")
    assert subscriber.history().count(("customer", "discounted")) == 1


def test_confirming_applies_to_the_subscription_the_page_showed(backend: Backend) -> None:
    subscriber = Subscriber(backend)
    try:
        # The same customer buys a second Starter.
        shopper = subscriber.shopper
        shopper.journey = EXAMPLE
        shopper.add("starter")
        shopper.step("cart")
        shopper.step("customer-information", {**BILLING, "email": subscriber.email})
        shopper.step("payment-method", {"method": "invoice"})
        assert shopper.step("confirm-order", {"confirm_token": "again-" + subscriber.email}).ok
        with backend.engine.connect() as connection:
            ids = [s["public_id"] for s in subscriptions.recent(connection, email=subscriber.email)]
        second = next(i for i in ids if i != subscriber.id)
        # Tab A shows the first subscription's change; tab B then chooses for the second.
        subscriber.enter("change-plan", "your-new-plan")
        subscriber.step("your-new-plan", {"product": "pro"})
        shown = subscriber.bound
        subscriber.enter("change-plan", "your-new-plan", public_id=second)
        subscriber.step("your-new-plan", {"product": "pro"})
        # Tab A's confirmation: it named the first subscription, which is not the one chosen.
        refused = subscriber.shopper.step(
            "confirm-the-change", {"confirm_token": "tab-a", "subscription": shown}
        )
        assert refused.headers["Location"] == "/change-plan/confirm-the-change/"
        error = subscriber.state("confirm-the-change")["errors"]["_form"]
        assert error.startswith("This page showed another subscription")
        with backend.engine.connect() as connection:
            products = {i: subscriptions.row_of(connection, i).product for i in ids}
        assert products == {subscriber.id: "starter", second: "starter"}
        # Tab B's confirmation changes the second.
        subscriber.step("confirm-the-change", {"confirm_token": "tab-b"})
        with backend.engine.connect() as connection:
            assert subscriptions.row_of(connection, second).product == "pro"
    finally:
        subscriber.close()


def test_a_cancelled_subscription_is_won_back_once(
    backend: Backend, subscriber: Subscriber
) -> None:
    with backend.engine.begin() as connection:
        subscriptions.cancel(
            connection, subscriber.row(), immediately=True, actor="support", reason="", moment=now()
        )
    subscriber.enter("come-back", "plan")
    subscriber.step("plan", {"product": "starter"})
    subscriber.step("payment-method", {"method": "invoice"})
    assert subscriber.step("confirm", {"confirm_token": "once"}).ok
    assert subscriber.row().won_back_by
    assert subscriber.card()["actions"] == []  # no "Come back" any more
    assert subscriber.enter("come-back", "plan").status_code == 403


def test_the_period_after_a_pause_is_billed(backend: Backend, subscriber: Subscriber) -> None:
    subscriber.enter("pause", "take-a-break")
    subscriber.step("take-a-break", {"periods": "1"})
    subscriber.step("confirm", {"confirm_token": "pause-billed"})
    paused = subscriber.row()
    shop = backend.app.extensions["keylight"].shop
    subscriptions.apply_due(backend.engine, shop, paused.resume_at + timedelta(minutes=1))
    with backend.engine.connect() as connection:
        found = subscriptions.find(connection, subscriber.id)
    resumed = next(h for h in found["history"] if h["action"] == "resumed")
    # The event of the pause's end says what the period it begins charges, like a renewal.
    assert subscriptions.billed(paused, resumed["after"]) == {
        "charged": "9.90",
        "period": {
            "start": resumed["after"]["current_period_start"],
            "end": resumed["after"]["current_period_end"],
        },
    }


def test_odd_input_is_refused_never_a_500(subscriber: Subscriber) -> None:
    subscriber.enter("pause", "take-a-break")
    for periods in ("²", "1.5", "-1", "9" * 30, ""):
        answer = subscriber.step("take-a-break", {"periods": periods})
        assert answer.status_code == 303, periods
        assert subscriber.state("take-a-break")["errors"]["periods"].startswith("Choose how long")
    # A confirmation token used before (the purchase's own) does not break the change.
    subscriber.enter("change-plan", "your-new-plan")
    subscriber.step("your-new-plan", {"product": "pro"})
    reused = subscriber.step("confirm-the-change", {"confirm_token": "buy-" + subscriber.email})
    assert reused.headers["Location"] == "/change-plan/done/"


def test_the_link_leads_to_the_shop_whatever_host_the_request_named() -> None:
    from klcheckout.account_page import link_url
    from kljourney.model import Site

    one_origin = Site(title="Shop", base_url="https://shop.example.com/", api_url="/api")
    assert link_url(one_origin, "t0k") == "https://shop.example.com/api/account/link/t0k"
    split = Site(
        title="Shop", base_url="https://shop.example.com/", api_url="https://api.example.com/v1"
    )
    assert link_url(split, "t0k") == "https://api.example.com/v1/account/link/t0k"


def test_a_second_tab_confirming_after_the_first_is_told_it_changed(
    subscriber: Subscriber,
) -> None:
    """The second tab's request arriving after the first one's change committed (not
    during it): its choice, Pro, is the plan now; it is told the subscription changed."""
    tab = tabs_confirming_pro(subscriber)
    assert tab("tab-1").status_code == 200
    second = tab("tab-2")
    assert second.status_code == 409, second.text
    assert second.json()["errors"]["_form"].startswith(CHANGED)
    assert subscriber.history().count(("customer", "changed")) == 1
