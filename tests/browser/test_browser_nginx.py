"""The README's production recipe, run for real: nginx in front of two backend instances
(granian) on one PostgreSQL and one Redis, and a customer in Chromium.

The nginx configuration is the one in deploy/nginx/, with the values filled in as
README, "Production" says; the site is built by ``klbuild build``. The same walk
runs with the pages and the backend on one origin and on two.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
import serving
from browser_helpers import (
    EXAMPLE,
    KEY,
    buy_starter_and_sign_up,
    fill_billing,
    place_order,
    submit_step_form,
    wait_for_step,
)
from sqlalchemy import create_engine, text

pytestmark = pytest.mark.browser

SECRET = "production-test-secret-" + "p" * 32


@dataclass
class Deployment:
    pages: str  # the pages' origin, with a trailing slash
    api: str  # the backend's URL as the pages call it
    database_url: str
    #: The self-signed certificate nginx answers with, to trust in requests.
    certificate: str
    logs: list[Path]
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def url(self, step: str) -> str:
        return f"{self.pages}{KEY}/{step}/"

    def orders(self, number: str) -> list[Any]:
        engine = create_engine(self.database_url)
        try:
            with engine.connect() as connection:
                query = text("SELECT email, payment_method FROM orders WHERE number = :n")
                return list(connection.execute(query, {"n": number}))
        finally:
            engine.dispose()


def deploy(folder: Path, database_url: str, *, two_origins: bool) -> Deployment:
    """Build the example shop and start what the recipe starts; stopped by the caller."""
    if not Path(serving.NGINX).exists():
        pytest.skip(f"{serving.NGINX} is missing: install Debian's nginx-light (scripts/test does)")
    pages_port, api_port = serving.free_port(), serving.free_port()
    pages = f"https://127.0.0.1:{pages_port}/"
    api_origin = f"https://127.0.0.1:{api_port}" if two_origins else pages.rstrip("/")
    journeys = folder / "journeys"
    shutil.copytree(EXAMPLE, journeys)
    # The shop's address: the account page's emailed links lead there (production wants it).
    shop = journeys / "keylight.toml"
    site = shop.read_text().replace('base_url = "/"', f'base_url = "{pages}"')
    if two_origins:
        site = site.replace('api_url = "/api"', f'api_url = "{api_origin}/api"')
    shop.write_text(site)
    built = subprocess.run(
        [sys.executable, "-m", "klbuild", "build", str(journeys), "--site", str(folder / "site")],
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stderr
    cert, key = serving.certificate(folder)
    env = {
        "KEYLIGHT_ENV": "production",
        "KEYLIGHT_JOURNEYS": str(journeys),
        "KEYLIGHT_INSTANCE": str(folder / "instance"),
        "KEYLIGHT_SECRET_KEYS": SECRET,
        "KEYLIGHT_DATABASE_URL": database_url,
        "KEYLIGHT_RATELIMIT_STORAGE": serving.REDIS,
        "KEYLIGHT_TRUSTED_PROXIES": "1",
        # The shop's own emails (sign-in links, subscription changes) need a mail server.
        "KEYLIGHT_SMTP_HOST": "127.0.0.1",
        "KEYLIGHT_SMTP_FROM": "Shop <shop@example.com>",
    }
    if two_origins:
        env["KEYLIGHT_ALLOWED_ORIGINS"] = pages.rstrip("/")
    deployment = Deployment(pages, f"{api_origin}/api", database_url, str(cert), logs=[])
    backends = []
    try:
        for number in (1, 2):
            port = serving.free_port()
            log = folder / f"backend-{number}.log"
            deployment.logs.append(log)
            deployment.processes.append(serving.granian(env, port, "--workers", "1", log=log))
            backends.append(f"127.0.0.1:{port}")
        values = {
            "KEYLIGHT_BACKEND_1": backends[0],
            "KEYLIGHT_BACKEND_2": backends[1],
            "KEYLIGHT_CERTIFICATE": str(cert),
            "KEYLIGHT_CERTIFICATE_KEY": str(key),
            "KEYLIGHT_SITE": str(folder / "site"),
        }
        if two_origins:
            config = "two-origins.conf"
            values.update(
                KEYLIGHT_PAGES_LISTEN=f"127.0.0.1:{pages_port}",
                KEYLIGHT_PAGES_NAME="127.0.0.1",
                KEYLIGHT_API_LISTEN=f"127.0.0.1:{api_port}",
                KEYLIGHT_API_NAME="127.0.0.1",
            )
        else:
            config = "one-origin.conf"
            values.update(
                KEYLIGHT_LISTEN=f"127.0.0.1:{pages_port}", KEYLIGHT_SERVER_NAME="127.0.0.1"
            )
        nginx_folder = folder / "nginx"
        nginx_folder.mkdir()
        deployment.processes.append(serving.nginx(config, values, nginx_folder, pages))
    except BaseException:
        for process in deployment.processes:
            serving.stop(process)
        raise
    return deployment


@pytest.fixture(scope="module", params=["one origin", "two origins"])
def deployment(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    folder = tmp_path_factory.mktemp("production")
    with serving.postgres_schema() as url:
        running = deploy(folder, url, two_origins=request.param == "two origins")
        try:
            yield running
        finally:
            for process in reversed(running.processes):
                serving.stop(process)


@pytest.fixture
def customer(browser: Any) -> Iterator[Any]:
    context = browser.new_context(ignore_https_errors=True, viewport={"width": 1024, "height": 900})
    context.set_default_timeout(15_000)
    try:
        yield context.new_page()
    finally:
        context.close()


def test_a_checkout_through_nginx_and_both_backends(deployment: Deployment, customer: Any) -> None:
    page = customer
    email = buy_starter_and_sign_up(page, deployment.url("product-selection"))
    wait_for_step(page, "customer-information")
    fill_billing(page, email)
    submit_step_form(page)
    wait_for_step(page, "payment-method")
    page.get_by_role("button", name="Continue").click()  # invoice
    wait_for_step(page, "confirm-order")
    place_order(page)
    wait_for_step(page, "order-done")
    page.wait_for_selector("[data-kl-order]:not([hidden])")
    number = page.locator("[data-kl-order-number]").inner_text()
    assert [tuple(row) for row in deployment.orders(number)] == [(email, "invoice")]
    # The login cookie is production's: Secure, and bound to its host.
    [cookie] = [c for c in page.context.cookies() if c["name"] == "__Host-keylight"]
    assert cookie["secure"] and cookie["httpOnly"]
    # nginx shared the customer's requests between the two backend instances: the
    # checkout went through both (its state with one, a step with the other).
    handled = [log.read_text().count(f"/api/{KEY}/") for log in deployment.logs]
    assert all(count > 0 for count in handled), handled


def test_nginx_serves_the_site_with_its_cache_rules(deployment: Deployment) -> None:
    page = requests.get(deployment.url("cart"), verify=deployment.certificate, timeout=10)
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "public, max-age=0, must-revalidate"
    stylesheet = page.text.split('<link rel="stylesheet" href="', 1)[1].split('"', 1)[0]
    asset = requests.get(
        requests.compat.urljoin(deployment.pages, stylesheet), verify=deployment.certificate
    )
    assert asset.status_code == 200 and asset.headers["Content-Type"].startswith("text/css")
    assert asset.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    for private in (".klbuild.json", "_headers"):
        assert (
            requests.get(deployment.pages + private, verify=deployment.certificate).status_code
            == 404
        )
    health = requests.get(f"{deployment.api}/healthz", verify=deployment.certificate, timeout=10)
    assert health.json() == {"status": "ok"}
    assert "max-age=" in health.headers["Strict-Transport-Security"]
