"""The README's pictures of the example shop, taken again: run after changing its look.

Serves a copy of ``journeys/`` with ``klbuild serve``, walks a customer through a
checkout in Debian's Chromium (``apt-get install -y chromium``) and writes PNG files
to ``docs/images/``: the billing form at a laptop's width and on a phone; then walks
a dozen visitors through the example journey, leaving at different steps (four
order), and takes the studio's page of that journey and its funnel.

Run: .venv/bin/python scripts/screenshots.py
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import Browser, Page, sync_playwright

REPO = Path(__file__).resolve().parents[1]
IMAGES = REPO / "docs" / "images"
KEY = "k9uscs7vr7"
BILLING = {
    "company": "Analytical Engines Ltd",
    "first_name": "Ada",
    "last_name": "Lovelace",
    "email": "ada@example.com",
    "street": "1 Engine Road",
    "postal_code": "10115",
    "city": "Berlin",
}


def serve(journeys: Path, site: Path) -> tuple[subprocess.Popen, str]:
    """``klbuild serve`` on a free port; its address once it is ready."""
    process = subprocess.Popen(
        [sys.executable, "-m", "klbuild", "serve", str(journeys), "--site", str(site)]
        + ["--port", "0", "--no-open"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    for line in process.stdout:
        found = re.match(r"^Serving .* at (http://\S+/) ", line)
        if found:
            return process, found.group(1)
    raise SystemExit("klbuild serve did not start")


def settled(page: Page) -> None:
    """The page script has filled the page in (every post form has its token)."""
    page.wait_for_function(
        """() => Array.from(document.querySelectorAll('form[method=post]'))
                .every(f => (f.querySelector('[name=csrf_token]') || {}).value)"""
    )


def shoot(page: Page, name: str) -> None:
    page.evaluate("document.activeElement && document.activeElement.blur()")
    page.screenshot(path=str(IMAGES / f"{name}.png"), full_page=True)
    print(f"docs/images/{name}.png")


def walk(page: Page, base: str) -> None:
    page.goto(f"{base}{KEY}/product-selection/")
    settled(page)
    page.locator('[data-kl-product="starter"] button[type=submit]').click()
    page.wait_for_url(re.compile("product-selection"))
    settled(page)
    page.locator('[data-kl-product="onboarding"] button[type=submit]').click()
    page.wait_for_load_state()
    settled(page)
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url(re.compile("/cart/"))
    settled(page)
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url(re.compile("login-or-create-an-account"))
    settled(page)
    signup = page.locator('form[data-kl-form="signup"]')
    signup.get_by_label("Email").fill(BILLING["email"].replace("@", f"+{id(page)}@"))
    signup.get_by_label("Password").fill("a long passphrase for pictures")
    signup.get_by_role("button").click()
    page.wait_for_url(re.compile("customer-information"))
    settled(page)
    for name, value in BILLING.items():
        page.locator(f'form.step-form [name="{name}"]').fill(value)
    page.locator('form.step-form [name="country"]').select_option("DE")
    shoot(page, "billing")
    page.set_viewport_size({"width": 390, "height": 844})
    shoot(page, "billing-phone")


#: Where each visitor of the funnel's picture stops: the step they leave at, or "done".
VISITORS = ["product-selection"] * 3 + ["cart"] * 2 + ["login-or-create-an-account"]
VISITORS += ["customer-information", "confirm-order"] + ["done"] * 4


def visit(page: Page, base: str, number: int, leave_at: str) -> None:
    """One visitor through the example journey, up to ``leave_at``."""
    page.goto(f"{base}{KEY}/product-selection/")
    settled(page)
    if leave_at == "product-selection":
        return
    page.locator('[data-kl-product="starter"] button[type=submit]').click()
    page.wait_for_load_state()
    settled(page)
    for step in ("cart", "login-or-create-an-account"):
        page.get_by_role("button", name="Continue").click()
        page.wait_for_url(re.compile(f"/{step}/"))
        settled(page)
        if leave_at == step:
            return
    signup = page.locator('form[data-kl-form="signup"]')
    signup.get_by_label("Email").fill(f"visitor-{number}-{id(page)}@example.com")
    signup.get_by_label("Password").fill("a long passphrase for pictures")
    signup.get_by_role("button").click()
    page.wait_for_url(re.compile("customer-information"))
    settled(page)
    if leave_at == "customer-information":
        return
    for name, value in BILLING.items():
        if name != "email":
            page.locator(f'form.step-form [name="{name}"]').fill(value)
    page.locator('form.step-form [name="country"]').select_option("DE")
    page.locator("form.step-form button[type=submit]").click()
    page.wait_for_url(re.compile("payment-method"))
    settled(page)
    page.get_by_role("radio", name="Invoice").check()
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url(re.compile("confirm-order"))
    settled(page)
    if leave_at == "confirm-order":
        return
    page.get_by_role("button", name="Order and pay").click()
    page.wait_for_url(re.compile("order-done"))


def studio(browser: Browser, base: str) -> None:
    for number, leave_at in enumerate(VISITORS):
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        visit(context.new_page(), base, number, leave_at)
        context.close()
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.goto(f"{base}__klbuild/studio/journeys/self-service.toml/")
    page.screenshot(path=str(IMAGES / "studio.png"))
    print("docs/images/studio.png")
    page.locator("#performance").screenshot(path=str(IMAGES / "funnel.png"))
    print("docs/images/funnel.png")


def main() -> None:
    IMAGES.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        journeys = Path(tmp) / "journeys"
        shutil.copytree(REPO / "journeys", journeys)
        process, base = serve(journeys, Path(tmp) / "site")
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path="/usr/bin/chromium", args=["--no-sandbox"]
                )
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                walk(page, base)
                studio(browser, base)
                browser.close()
        finally:
            process.terminate()
            process.wait(10)


if __name__ == "__main__":
    main()
