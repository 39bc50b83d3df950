"""The funnel report: visitors per step, where they leave, orders, conversion, time to order.

Each test has a database of its own, so the figures are exactly those of its walks.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from checkout_helpers import (
    BILLING,
    EXAMPLE,
    TEST_JOURNEY,
    Backend,
    Shopper,
    base_config,
    database,
    served_backend,
    unique_email,
)
from click.testing import CliRunner
from sqlalchemy import insert, select

from klcheckout import UnknownJourney, clock, funnel_report, tables
from klcheckout import cart as carts
from klcheckout.cli import cli
from klcheckout.funnel import report
from klcheckout.step_views import views_of

#: The example journey's steps, in order.
STEPS = (
    "product-selection",
    "cart",
    "login-or-create-an-account",
    "customer-information",
    "payment-method",
    "confirm-order",
    "order-done",
)


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh(request: pytest.FixtureRequest, tmp_path: Path, journeys_dir: Path) -> Iterator[Backend]:
    """The backend over HTTP on a database of its own, for this test alone."""
    with database(request.param, tmp_path) as url:
        with served_backend(request.param, base_config(tmp_path, journeys_dir, url)) as up:
            yield up


@pytest.fixture
def clock_at(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[int], None]:
    """Set the backend's clock (``KEYLIGHT_CLOCK_FILE``, which this process's server
    reads) to a fiftieth of a second past ``moment``: the next request, well under a
    second long, reads ``moment`` in whole seconds."""
    offset = tmp_path / "clock-offset"
    monkeypatch.setattr(clock, "CLOCK_FILE", str(offset))

    def at(moment: int) -> None:
        offset.write_text(repr(moment + 0.02 - time.time()))

    return at


def complete(shopper: Shopper, step: str, email: str, script: bool) -> requests.Response:
    """Do what ``step`` asks, as a customer of the example journey does."""
    if step == "product-selection":
        shopper.add("starter", json=script)
    data: dict[str, Any] = {
        "product-selection": {},
        "cart": {},
        "login-or-create-an-account": {
            "action": "signup",
            "email": email,
            "password": "a long passphrase",
        },
        "customer-information": {**BILLING, "email": email},
        "payment-method": {"method": "invoice"},
        "confirm-order": {"confirm_token": "funnel-" + email},
    }[step]
    return shopper.step(step, data, json=script)


def walk(
    shopper: Shopper,
    until: str,
    *,
    script: bool = False,
    before_order: Callable[[], None] | None = None,
) -> None:
    """A visitor seeing the example journey's steps in turn, from the first to ``until``,
    and leaving there (at the order done page: having ordered). Each page asks for its
    state as a static page does, or with ``script`` takes it from the answer to the form
    that led there, as the page script does."""
    email = unique_email()
    shopper.state(STEPS[0])
    for step, following in zip(STEPS, STEPS[1:], strict=False):
        if step == until:
            return
        if step == "confirm-order" and before_order is not None:
            before_order()
        answer = complete(shopper, step, email, script)
        if not script:
            assert answer.headers["Location"] == f"/{EXAMPLE}/{following}/"
            shopper.state(following)
            continue
        body = answer.json()
        assert body["redirect"] == f"/{EXAMPLE}/{following}/", body
        if "state" not in body:  # a sign-up's answer: the page asks for its state itself
            shopper.state(following)


def figures(found: Any) -> list[tuple[str, int, int]]:
    return [(step.step_id, step.visitors, step.left) for step in found.steps]


def test_the_figures_of_a_known_series_of_walks_are_exact(
    fresh: Backend, clock_at: Callable[[int], None]
) -> None:
    """Visitors leave at every step; reloads count nothing; the two who order take 250 and
    300 seconds from their first page. Every kind of page counts its visitor once: the
    state a static page asks for, the state in a JSON answer, the page the backend
    renders for a browser without JavaScript."""
    people: list[Shopper] = []

    def visitor() -> Shopper:
        people.append(fresh.shopper())
        return people[-1]

    start = int(time.time())
    try:
        reloading = visitor()
        walk(reloading, "product-selection")
        reloading.state("product-selection")
        reloading.state("product-selection")
        walk(visitor(), "product-selection")
        without_script = visitor()
        for _reload in range(2):
            page = without_script.http.get(f"{fresh.url}/{EXAMPLE}/pages/product-selection/")
            assert page.status_code == 200 and "<form" in page.text

        walk(visitor(), "cart", script=True)
        in_cart = visitor()
        walk(in_cart, "cart")
        in_cart.state("cart")
        walk(visitor(), "login-or-create-an-account")
        walk(visitor(), "customer-information")
        walk(visitor(), "payment-method")
        walk(visitor(), "confirm-order")

        first = visitor()
        clock_at(start)
        walk(first, "order-done", before_order=lambda: clock_at(start + 250))
        first.state("order-done")  # a reload of the thank-you page
        second = visitor()
        clock_at(start)
        walk(second, "order-done", script=True, before_order=lambda: clock_at(start + 300))
        # Having ordered, the first one looks at the products again: a new walk.
        first.state("product-selection")
    finally:
        for person in people:
            person.close()

    found = funnel_report(fresh.app, EXAMPLE, 7)
    assert figures(found) == [
        ("product-selection", 12, 4),
        ("cart", 8, 2),
        ("login-or-create-an-account", 6, 1),
        ("customer-information", 5, 1),
        ("payment-method", 4, 1),
        ("confirm-order", 3, 1),
        ("order-done", 2, 0),
    ]
    assert found.steps[0].name == "Product selection"
    assert (found.visitors, found.orders) == (12, 2)
    assert found.conversion == 2 / 12
    assert found.median_seconds == 275.0
    with fresh.engine.connect() as connection:
        durations = connection.execute(
            select(tables.orders.c.seconds_to_order).order_by(tables.orders.c.id)
        ).scalars()
        assert list(durations) == [250, 300]
        connection.rollback()

    printed = CliRunner().invoke(
        cli, ["report", "funnel", "--journey", EXAMPLE, "--days", "7"], env=cli_env(fresh)
    )
    assert printed.exit_code == 0, printed.output
    today = clock.now().date()
    assert printed.output == (
        f"Self-Service Shop & Checkout ({EXAMPLE}), the last 7 days, "
        f"{today - timedelta(days=6)} to {today} (UTC)\n"
        "\n"
        "step                        visitors  left here\n"
        "Product selection                 12          4\n"
        "Cart                               8          2\n"
        "Login or create an account         6          1\n"
        "Customer Information               5          1\n"
        "Payment method                     4          1\n"
        "Confirm Order                      3          1\n"
        "Order done                         2          0\n"
        "\n"
        "orders placed  2\n"
        "conversion     16.7 % of the first step's 12 visitors\n"
        "median time    4 min 35 s from the first page to the order\n"
    )


def test_the_window_leaves_out_older_days(fresh: Backend) -> None:
    """Rows of an older day count in a window that reaches it, and only there; an order
    counts in the window it was placed in."""
    shopper = fresh.shopper()
    try:
        walk(shopper, "cart")
    finally:
        shopper.close()
    views_of(fresh.app).flush()
    now = clock.now()
    with fresh.engine.begin() as connection:
        connection.execute(
            insert(tables.step_views),
            [
                {"journey_key": EXAMPLE, "step_id": step, "day": day, "visitors": 40}
                for step in ("product-selection", "cart")
                for day in (now.date() - timedelta(days=10), now.date() - timedelta(days=400))
            ],
        )
    journey = fresh.app.extensions["keylight"].shop.journeys[EXAMPLE]
    week = report(fresh.engine, journey, 7, now)
    assert figures(week)[:3] == [
        ("product-selection", 1, 0),
        ("cart", 1, 1),
        ("login-or-create-an-account", 0, 0),
    ]
    month = report(fresh.engine, journey, 30, now)
    assert figures(month)[:2] == [("product-selection", 41, 0), ("cart", 41, 41)]
    later = report(fresh.engine, journey, 7, now + timedelta(days=8))
    assert [step.visitors for step in later.steps] == [0] * 7
    assert (later.visitors, later.orders, later.conversion, later.median_seconds) == (
        0,
        0,
        None,
        None,
    )
    with pytest.raises(ValueError, match="1 to 366 days"):
        report(fresh.engine, journey, 367, now)


def test_orders_sent_to_a_page_elsewhere_reached_the_order_done_step(fresh: Backend) -> None:
    """An order done step with an external_url sends the buyer to the shop's own page:
    no view of it is counted, yet they did not leave at the confirmation."""
    shopper = fresh.shopper()
    try:
        walk(shopper, "order-done")
    finally:
        shopper.close()
    views_of(fresh.app).flush()
    journey = fresh.app.extensions["keylight"].shop.journeys[EXAMPLE]
    done = journey.step("order-done")
    elsewhere = done.model_copy(update={"external_url": "https://example.com/thanks"})
    steps = [elsewhere if step is done else step for step in journey.steps]
    with_page_elsewhere = journey.model_copy(update={"steps": steps})
    with fresh.engine.begin() as connection:  # as if the page had never been viewed
        connection.execute(
            tables.step_views.delete().where(
                tables.step_views.c.journey_key == EXAMPLE,
                tables.step_views.c.step_id == "order-done",
            )
        )
    found = report(fresh.engine, with_page_elsewhere, 7, clock.now())
    assert figures(found)[-2:] == [("confirm-order", 1, 0), ("order-done", 1, 0)]
    assert found.orders == 1


def test_views_reach_the_database_by_themselves_within_seconds(fresh: Backend) -> None:
    """Nobody asks for a report: the process's own writer adds the counts to the table."""
    shopper = fresh.shopper()
    try:
        shopper.state("cart")
    finally:
        shopper.close()
    deadline = time.monotonic() + 10
    found: list[Any] = []
    while not found and time.monotonic() < deadline:
        time.sleep(0.1)
        with fresh.engine.connect() as connection:
            found = list(connection.execute(select(tables.step_views)))
            connection.rollback()
    assert [(row.journey_key, row.step_id, row.visitors) for row in found] == [(EXAMPLE, "cart", 1)]
    assert found[0].day == clock.now().date()


def test_a_cookie_from_before_the_funnel_keeps_its_cart(fresh: Backend) -> None:
    """A cart cookie without the steps seen is a cart whose steps were not counted yet."""
    journey = fresh.app.extensions["keylight"].shop.journeys[EXAMPLE]
    serializer = carts.serializer(fresh.app)
    old = serializer.dumps(
        {"j": EXAMPLE, "v": journey.version, "c": "checkout-from-before", "l": [["starter", 2]]}
    )
    shopper = fresh.shopper()
    try:
        shopper.http.cookies.set("keylight", old, domain="127.0.0.1", path="/")
        state = shopper.state("cart")
        shopper.state("cart")
        written = serializer.loads(shopper.http.cookies["keylight"])
    finally:
        shopper.close()
    assert state["messages"] == []
    assert [(line["product"], line["quantity"]) for line in state["cart"]["lines"]] == [
        ("starter", 2)
    ]
    assert written["c"] == "checkout-from-before" and written["p"] == [1]
    assert abs(written["t"] - clock.now().timestamp()) < 60
    assert figures(funnel_report(fresh.app, EXAMPLE, 1))[:2] == [
        ("product-selection", 0, 0),
        ("cart", 1, 1),
    ]


def test_a_full_cart_keeps_its_products_and_its_cookie_fits(fresh: Backend) -> None:
    """Steps seen take a few bytes of the cookie; a cart that fills it keeps them all."""
    guest = fresh.shopper(TEST_JOURNEY)
    try:
        products = fresh.app.extensions["keylight"].shop.product_selections["bulk"].products
        for product in products:
            if guest.add(product, step="extras", json=True).status_code != 200:
                break
        else:
            pytest.fail("the cart never filled up")
        count = guest.state("extras")["cart"]["count"]
        for step in ("plan", "cart", "account", "billing"):
            assert guest.state(step)["cart"]["count"] == count
            assert len(guest.http.cookies["keylight"]) < carts.COOKIE_LIMIT
    finally:
        guest.close()


def cli_env(backend: Backend) -> dict[str, str]:
    return {
        "KEYLIGHT_DATABASE_URL": backend.database_url,
        "KEYLIGHT_JOURNEYS": backend.config["KEYLIGHT_JOURNEYS"],
        "KEYLIGHT_INSTANCE": backend.config["KEYLIGHT_INSTANCE"],
        "KEYLIGHT_SECRET_KEYS": ",".join(backend.config["KEYLIGHT_SECRET_KEYS"]),
    }


def test_the_cli_names_the_journeys_when_the_key_is_unknown(fresh: Backend) -> None:
    runner = CliRunner()
    unknown = runner.invoke(cli, ["report", "funnel", "--journey", "nope"], env=cli_env(fresh))
    assert unknown.exit_code == 1
    assert "there is no journey 'nope'; the journeys are: " in unknown.output
    assert EXAMPLE in unknown.output and "Traceback" not in unknown.output
    too_long = runner.invoke(
        cli, ["report", "funnel", "--journey", EXAMPLE, "--days", "367"], env=cli_env(fresh)
    )
    assert too_long.exit_code == 2 and "1<=x<=366" in too_long.output
    with pytest.raises(UnknownJourney) as raised:
        funnel_report(fresh.app, "nope", 30)
    assert EXAMPLE in raised.value.known


def test_a_report_of_a_journey_nobody_visited_says_so(fresh: Backend) -> None:
    printed = CliRunner().invoke(
        cli, ["report", "funnel", "--journey", TEST_JOURNEY, "--days", "1"], env=cli_env(fresh)
    )
    assert printed.exit_code == 0, printed.output
    assert printed.output == (
        f"Guest shop for tests ({TEST_JOURNEY}), today, {clock.now().date()} (UTC)\n"
        "\n"
        "step     visitors  left here\n"
        "Plan            0          0\n"
        "Extras          0          0\n"
        "Cart            0          0\n"
        "Account         0          0\n"
        "Billing         0          0\n"
        "Payment         0          0\n"
        "Confirm         0          0\n"
        "Done            0          0\n"
        "\n"
        "orders placed  0\n"
        "conversion     - (no visitors)\n"
        "median time    - (no order with a known time)\n"
    )
