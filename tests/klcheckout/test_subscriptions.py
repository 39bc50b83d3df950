"""Subscriptions as records: made with the order, one per recurring line, kept with history."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

import click
import pytest
from checkout_helpers import BILLING, EXAMPLE, Backend, Shopper, unique_email
from click.testing import CliRunner

from klcheckout import subscriptions
from klcheckout.cli import cli
from klcheckout.periods import period_boundary


def order_starter_and_onboarding(shopper: Shopper, email: str) -> str:
    shopper.add("starter", 2)
    shopper.add("onboarding")
    shopper.step("cart")
    shopper.step(
        "login-or-create-an-account",
        {"action": "signup", "email": email, "password": "a long passphrase"},
    )
    shopper.step("customer-information", {**BILLING, "email": email})
    shopper.step("payment-method", {"method": "invoice"})
    confirmed = shopper.step("confirm-order", {"confirm_token": "sub-" + email})
    assert confirmed.headers["Location"] == f"/{EXAMPLE}/order-done/"
    return shopper.state("order-done")["order"]["number"]


def cli_env(backend: Backend) -> dict[str, str]:
    return {
        "KEYLIGHT_DATABASE_URL": backend.database_url,
        "KEYLIGHT_JOURNEYS": backend.config["KEYLIGHT_JOURNEYS"],
        "KEYLIGHT_INSTANCE": backend.config["KEYLIGHT_INSTANCE"],
        "KEYLIGHT_SECRET_KEYS": ",".join(backend.config["KEYLIGHT_SECRET_KEYS"]),
    }


def test_an_order_makes_a_subscription_of_each_recurring_line(
    backend: Backend, shopper: Shopper
) -> None:
    email = unique_email()
    order_starter_and_onboarding(shopper, email)
    runner = CliRunner()
    listed = runner.invoke(cli, ["subscriptions", "list", "--email", email], env=cli_env(backend))
    assert listed.exit_code == 0, listed.output
    [line] = listed.output.splitlines()  # the one-time onboarding is no subscription
    public_id = line.split()[0]
    assert public_id.startswith("sub_") and len(public_id) > 12
    assert "2 × Starter  19.80 EUR a month  active" in line

    shown = runner.invoke(cli, ["subscriptions", "show", public_id], env=cli_env(backend))
    assert shown.exit_code == 0, shown.output
    subscription = json.loads(shown.output)
    assert subscription["email"] == email
    assert (subscription["unit_price"], subscription["tax"], subscription["billing"]) == (
        "9.90",
        "3.16",
        "monthly",
    )
    started = datetime.fromisoformat(subscription["started_at"])
    assert subscription["current_period_start"] == subscription["started_at"]
    assert datetime.fromisoformat(subscription["current_period_end"]) == period_boundary(
        started, "monthly", 1
    )
    [created] = subscription["history"]
    assert (created["actor"], created["action"], created["before"]) == ("customer", "created", None)
    assert created["after"]["status"] == "active"

    missing = runner.invoke(cli, ["subscriptions", "show", "sub_nothing"], env=cli_env(backend))
    assert missing.exit_code == 1 and "no subscription" in missing.output


def subscribe(backend: Backend) -> str:
    """A new customer's order of Starter; the public id of its subscription."""
    shopper = backend.shopper()
    try:
        email = unique_email()
        order_starter_and_onboarding(shopper, email)
    finally:
        shopper.close()
    with backend.engine.connect() as connection:
        [found] = subscriptions.recent(connection, email=email)
    return found["public_id"]


def history(backend: Backend, public_id: str) -> list[tuple[str, str, str]]:
    with backend.engine.connect() as connection:
        found = subscriptions.find(connection, public_id)
    assert found is not None
    return [(h["actor"], h["action"], h["reason"]) for h in found["history"]]


def invoke(backend: Backend, *args: str) -> Any:
    return CliRunner().invoke(cli, ["subscriptions", *args], env=cli_env(backend))


def test_support_cancels_at_period_end_takes_it_back_and_cancels_now(backend: Backend) -> None:
    public_id = subscribe(backend)
    scheduled = invoke(backend, "cancel", public_id, "--reason", "asked by phone")
    assert scheduled.exit_code == 0, scheduled.output
    assert "cancel scheduled; status cancelling" in scheduled.output
    shown = json.loads(invoke(backend, "show", public_id).output)
    assert shown["cancel_at"] == shown["current_period_end"]
    again = invoke(backend, "cancel", public_id, "--reason", "twice")
    assert again.exit_code == 1 and f"{public_id} ends on" in again.output
    assert "Traceback" not in again.output
    taken_back = invoke(backend, "reactivate", public_id, "--reason", "changed their mind")
    assert "status active" in taken_back.output
    assert invoke(backend, "reactivate", public_id, "--reason", "x").exit_code == 1
    ended = invoke(backend, "cancel", public_id, "--reason", "fraud", "--immediately")
    assert "cancelled; status cancelled" in ended.output
    refused = invoke(backend, "cancel", public_id, "--reason", "again", "--immediately")
    assert refused.exit_code == 1 and "cancelled already" in refused.output
    assert history(backend, public_id) == [
        ("customer", "created", ""),
        ("support", "cancel_scheduled", "asked by phone"),
        ("support", "reactivated", "changed their mind"),
        ("support", "cancelled", "fraud"),
    ]
    with pytest.raises(click.exceptions.UsageError):  # a reason is required
        cli.main(["subscriptions", "cancel", public_id], standalone_mode=False)


def test_time_moves_on_once_per_period_with_two_workers_at_once(backend: Backend) -> None:
    public_id = subscribe(backend)
    with backend.engine.connect() as connection:
        row = subscriptions.row_of(connection, public_id)
    three_periods_later = period_boundary(row.started_at, "monthly", 3) + timedelta(hours=1)
    shop = backend.app.extensions["keylight"].shop
    with ThreadPoolExecutor(2) as pool:
        done = list(
            pool.map(
                lambda _: subscriptions.apply_due(backend.engine, shop, three_periods_later),
                range(2),
            )
        )
    mine = [action for applied in done for pid, action in applied if pid == public_id]
    assert mine == ["renewed"] * 3  # one worker or the other, never both
    with backend.engine.connect() as connection:
        row = subscriptions.row_of(connection, public_id)
    assert row.current_period_start == period_boundary(row.started_at, "monthly", 3)
    assert row.current_period_end == period_boundary(row.started_at, "monthly", 4)
    assert [h[1] for h in history(backend, public_id)] == ["created"] + ["renewed"] * 3
    # Nothing more is due until the next period ends.
    later = subscriptions.apply_due(backend.engine, shop, three_periods_later)
    assert all(pid != public_id for pid, _ in later)


def test_a_cancellation_takes_effect_at_the_period_end(backend: Backend) -> None:
    public_id = subscribe(backend)
    assert invoke(backend, "cancel", public_id, "--reason", "moving away").exit_code == 0
    with backend.engine.connect() as connection:
        row = subscriptions.row_of(connection, public_id)
    after_the_end = (row.cancel_at + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S%z")
    listed = invoke(backend, "due", "--now", after_the_end)
    assert f"{public_id}: cancellation due" in listed.output
    applied = invoke(backend, "due", "--apply", "--now", after_the_end)
    assert f"{public_id}: cancelled" in applied.output
    with backend.engine.connect() as connection:
        row = subscriptions.row_of(connection, public_id)
    assert (row.status, row.cancel_at) == ("cancelled", None)
    assert row.cancelled_at == row.current_period_end  # it ended when its period did


def test_a_pause_skips_periods_and_resumes_on_the_same_day(backend: Backend) -> None:
    public_id = subscribe(backend)
    paused = invoke(backend, "pause", public_id, "--periods", "2", "--reason", "on holiday")
    assert paused.exit_code == 0 and "status paused" in paused.output, paused.output
    with backend.engine.connect() as connection:
        row = subscriptions.row_of(connection, public_id)
    # Paid for the first period; the next two are skipped; billed again from the third.
    assert row.resume_at == period_boundary(row.started_at, "monthly", 3)
    assert invoke(backend, "pause", public_id, "--periods", "1", "--reason", "x").exit_code == 1
    shop = backend.app.extensions["keylight"].shop
    during = period_boundary(row.started_at, "monthly", 2) + timedelta(days=1)
    assert all(pid != public_id for pid, _ in subscriptions.apply_due(backend.engine, shop, during))
    over = row.resume_at + timedelta(minutes=1)
    applied = [
        a for pid, a in subscriptions.apply_due(backend.engine, shop, over) if pid == public_id
    ]
    assert applied == ["resumed"]
    with backend.engine.connect() as connection:
        row = subscriptions.row_of(connection, public_id)
    assert (row.status, row.resume_at) == ("active", None)
    assert row.current_period_start == period_boundary(row.started_at, "monthly", 3)
    assert row.current_period_end == period_boundary(row.started_at, "monthly", 4)
    assert [h[1] for h in history(backend, public_id)] == ["created", "paused", "resumed"]


def test_support_resumes_a_pause_early(backend: Backend) -> None:
    public_id = subscribe(backend)
    assert invoke(backend, "pause", public_id, "--periods", "3", "--reason", "ill").exit_code == 0
    resumed = invoke(backend, "resume", public_id, "--reason", "better now")
    assert "resumed; status active" in resumed.output
    refused = invoke(backend, "resume", public_id, "--reason", "twice")
    assert refused.exit_code == 1 and "only a paused subscription resumes" in refused.output
