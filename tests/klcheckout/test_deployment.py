"""Deployment settings over real HTTP: CORS origins, production mode, limits shared in Redis."""

from __future__ import annotations

import shutil
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from checkout_helpers import (
    EXAMPLE,
    TEST_JOURNEY,
    Served,
    Shopper,
    base_config,
    close_app,
    database,
    serve,
    unique_email,
)
from serving import REDIS
from sqlalchemy import create_engine, text

from klcheckout import create_app

SHOP = "https://shop.example.com"


@pytest.fixture
def start(tmp_path: Path, journeys_dir: Path) -> Iterator[Any]:
    """Start backends on one SQLite file with extra settings; all stopped afterwards."""
    running: list[tuple[Served, Any]] = []

    def started(**settings: Any) -> str:
        config = base_config(tmp_path, journeys_dir, f"sqlite:///{tmp_path / 'k.sqlite3'}")
        config.update(settings)
        app = create_app(config)
        served = serve(app)
        running.append((served, app))
        return served.url

    yield started
    for served, app in running:
        served.stop()
        close_app(app)


def test_cors_echoes_only_configured_origins(start: Any) -> None:
    url = start(KEYLIGHT_ALLOWED_ORIGINS=[SHOP, "https://www.example.com"])
    http = requests.Session()
    state = http.get(f"{url}/{EXAMPLE}/state", headers={"Origin": SHOP})
    assert state.status_code == 200
    assert state.headers["Access-Control-Allow-Origin"] == SHOP
    assert state.headers["Access-Control-Allow-Credentials"] == "true"
    assert "Origin" in state.headers["Vary"]

    preflight = http.options(
        f"{url}/{EXAMPLE}/cart/add",
        headers={
            "Origin": SHOP,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "X-CSRF-Token, Content-Type",
        },
    )
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == SHOP
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    assert "X-CSRF-Token" in preflight.headers["Access-Control-Allow-Headers"]

    # The page on the shop's origin posts with the token in the header, as fetch() does.
    added = http.post(
        f"{url}/{EXAMPLE}/cart/add",
        data={"product": "starter", "step": "product-selection"},
        headers={
            "Origin": SHOP,
            "Accept": "application/json",
            "X-CSRF-Token": state.json()["csrf_token"],
        },
    )
    assert added.status_code == 200, added.text
    assert added.headers["Access-Control-Allow-Origin"] == SHOP

    for other in ("https://evil.example.net", "null", "https://shop.example.com.evil.net"):
        answer = http.get(f"{url}/{EXAMPLE}/state", headers={"Origin": other})
        assert "Access-Control-Allow-Origin" not in answer.headers
        assert "Access-Control-Allow-Credentials" not in answer.headers
        refused = http.post(
            f"{url}/{EXAMPLE}/cart/add",
            data={"product": "starter", "csrf_token": answer.json()["csrf_token"]},
            headers={"Origin": other, "Accept": "application/json"},
        )
        assert refused.status_code == 403
        assert "Access-Control-Allow-Origin" not in refused.headers
    for answer in (state, preflight, added):
        assert answer.headers.get("Access-Control-Allow-Origin") != "*"


def test_production_mode_cookie_and_headers(start: Any, tmp_path: Path, journeys_dir: Path) -> None:
    # Production wants the shop's address (the account page emails links to it).
    journeys = tmp_path / "journeys"
    shutil.copytree(journeys_dir, journeys)
    shop_file = journeys / "keylight.toml"
    site = shop_file.read_text().replace('base_url = "/"', 'base_url = "https://shop.example.com/"')
    shop_file.write_text(site)
    url = start(
        KEYLIGHT_JOURNEYS=str(journeys),
        KEYLIGHT_ENV="production",
        KEYLIGHT_SMTP_HOST="127.0.0.1",
        KEYLIGHT_SMTP_FROM="Shop <shop@example.com>",
    )
    # The reverse proxy in front says the browser spoke https (KEYLIGHT_TRUSTED_PROXIES=1).
    page = url.replace("http://", "https://")
    headers = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "10.9.8.7"}
    state = requests.get(f"{url}/{EXAMPLE}/state", headers=headers)
    assert state.status_code == 200
    assert state.headers["Strict-Transport-Security"].startswith("max-age=")
    set_cookie = state.headers["Set-Cookie"]
    name, _, rest = set_cookie.partition("=")
    assert name == "__Host-keylight"
    attributes = {part.strip().split("=")[0].lower() for part in rest.split(";")[1:]}
    assert {"secure", "httponly", "path"} <= attributes and "domain" not in attributes
    assert "Path=/" in set_cookie and "SameSite=Lax" in set_cookie
    # The cookie under its production name carries the cart (a browser sends it over https).
    cookie = set_cookie.split(";", 1)[0]
    added = requests.post(
        f"{url}/{EXAMPLE}/cart/add",
        data={"product": "starter", "step": "product-selection"},
        headers={
            **headers,
            "Origin": page,
            "Cookie": cookie,
            "Accept": "application/json",
            "X-CSRF-Token": state.json()["csrf_token"],
        },
    )
    assert added.status_code == 200, added.text
    assert added.headers["Set-Cookie"].startswith("__Host-keylight=")
    assert "Secure" in added.headers["Set-Cookie"]
    # The development name is not read in production.
    plain = requests.get(
        f"{url}/{EXAMPLE}/state", headers={**headers, "Cookie": cookie.replace("__Host-", "")}
    )
    assert plain.json()["cart"]["count"] == 0
    assert "Strict-Transport-Security" in plain.headers


def redis_problem() -> str | None:
    host, _, port = REDIS.removeprefix("redis://").partition(":")
    try:
        with socket.create_connection((host, int(port or 6379)), timeout=1) as probe:
            probe.sendall(b"PING\r\n")
            return None if probe.recv(16).startswith(b"+PONG") else "no PONG"
    except OSError as error:
        return str(error)


def test_two_instances_share_the_login_limit_in_redis(start: Any) -> None:
    problem = redis_problem()
    if problem:
        pytest.skip(f"Redis at {REDIS} is unreachable ({problem}); scripts/test starts one")
    first = start(KEYLIGHT_RATELIMIT_STORAGE=REDIS)
    second = start(KEYLIGHT_RATELIMIT_STORAGE=REDIS)
    email = unique_email()
    address = f"10.77.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"

    def login(url: str, password: str = "wrong password!") -> int:
        person = Shopper(url, EXAMPLE)
        person.http.headers["X-Forwarded-For"] = address
        person.add("starter")
        person.step("cart")
        answer = person.step(
            "login-or-create-an-account",
            {"action": "login", "email": email, "password": password},
            json=True,
        )
        person.close()
        return answer.status_code

    # The tests' limit is 5 failures per 10 minutes, counted across both instances.
    assert [login(url) for url in (first, second, first, second, first)] == [401] * 5
    assert login(second) == 429
    assert login(first) == 429
    # A third instance on memory storage does not see those counts.
    alone = start()
    assert login(alone) == 401


def test_a_postgresql_restart_costs_at_most_one_answer_each(
    tmp_path: Path, journeys_dir: Path
) -> None:
    """Connections in steady use are not pinged: when the server drops them, the
    request using one gets the generic error (no traceback), and the next ones work."""
    with database("postgresql", tmp_path) as url:
        name = f"kl-restart-{uuid.uuid4().hex[:8]}"  # to end this app's sessions only
        app = create_app(base_config(tmp_path, journeys_dir, f"{url}&application_name={name}"))
        served = serve(app)
        try:
            shopper = Shopper(served.url, TEST_JOURNEY)
            shopper.add("starter", step="plan")
            shopper.step("cart")
            guest = shopper.step("account", {"action": "guest", "email": unique_email()})
            assert guest.headers["Location"] == f"/{TEST_JOURNEY}/billing/"
            killer = create_engine(url)
            with killer.begin() as admin:  # what a restart does to every session
                ended = admin.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE application_name = :name"
                    ),
                    {"name": name},
                ).all()
            assert ended  # the app had a pooled connection in steady use
            killer.dispose()
            answers = [shopper.http.get(f"{served.url}/{TEST_JOURNEY}/state") for _ in range(3)]
            failed = [a for a in answers if a.status_code != 200]
            assert len(failed) <= 1
            for answer in failed:
                assert answer.status_code == 500 and "Traceback" not in answer.text
                assert "Something went wrong on our side" in answer.text
            assert answers[-1].json()["cart"]["count"] == 1  # and nothing was lost
        finally:
            served.stop()
            close_app(app)


def test_pages_and_backend_on_two_origins(tmp_path: Path, journeys_dir: Path) -> None:
    """Every answer sends the customer to the pages' origin, never to the API's own."""
    journeys = tmp_path / "journeys"
    shutil.copytree(journeys_dir, journeys)
    shop_file = journeys / "keylight.toml"
    site = shop_file.read_text().replace('base_url = "/"', f'base_url = "{SHOP}/"')
    shop_file.write_text(
        site.replace('api_url = "/api"', 'api_url = "https://api.example.com/api"')
    )
    config = base_config(tmp_path, journeys, f"sqlite:///{tmp_path / 'k.sqlite3'}")
    app = create_app({**config, "KEYLIGHT_ALLOWED_ORIGINS": [SHOP]})
    served = serve(app)
    customer = Shopper(served.url, EXAMPLE)
    customer.http.headers["Origin"] = SHOP
    try:
        added = customer.add("starter")
        assert added.status_code == 303
        assert added.headers["Location"] == f"{SHOP}/{EXAMPLE}/product-selection/"
        # A refused form: a page of its own, styled by the shop, with the way back to it.
        refused = customer.add("starter", headers={"Origin": "https://evil.example.net"})
        assert refused.status_code == 403
        assert f'href="{SHOP}/{EXAMPLE}/product-selection/"' in refused.text
        assert f'<link rel="stylesheet" href="{SHOP}/assets/app.' in refused.text
        assert f"style-src 'self' {SHOP}" in refused.headers["Content-Security-Policy"]
        assert "back button" not in refused.text
    finally:
        customer.close()
        served.stop()
        close_app(app)
