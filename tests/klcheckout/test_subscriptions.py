"""Subscriptions as records: made with the order, one per recurring line, kept with history."""

from __future__ import annotations

import json
from datetime import datetime

from checkout_helpers import BILLING, EXAMPLE, Backend, Shopper, unique_email
from click.testing import CliRunner

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
