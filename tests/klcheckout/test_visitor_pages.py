"""The pages the backend renders for browsers without JavaScript, over real HTTP."""

from __future__ import annotations

import re

import html5lib
import pytest
from checkout_helpers import EXAMPLE, Backend, Shopper, unique_email

SEGMENTS = "segments"


def page(shopper: Shopper, step: str, **params: str) -> str:
    response = shopper.http.get(f"{shopper.base}/{shopper.journey}/pages/{step}/", params=params)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/html")
    assert response.headers["X-Robots-Tag"] == "noindex"
    csp = response.headers["Content-Security-Policy"]
    assert "script-src" not in csp and "default-src 'none'" in csp
    html5lib.HTMLParser(strict=True).parse(response.text)
    return response.text


def test_a_page_carries_the_visitors_state_and_no_script(
    backend: Backend, shopper: Shopper
) -> None:
    shopper.add("starter", quantity=2)
    text = page(shopper, "cart")
    assert "<script" not in text
    token = re.search(r'name="csrf_token" value="([^"]+)"', text)
    assert token is not None
    assert 'value="2"' in text and "Starter" in text
    # Its forms lead back to the backend's pages.
    assert f'/{EXAMPLE}/cart/update?page=backend"' in text
    answer = shopper.http.post(
        f"{shopper.base}/{EXAMPLE}/steps/cart?page=backend",
        data={"csrf_token": token.group(1)},
        allow_redirects=False,
    )
    assert answer.status_code == 303
    assert answer.headers["Location"].endswith(f"/{EXAMPLE}/pages/login-or-create-an-account/")


def test_errors_come_back_to_the_field_in_page_order(backend: Backend, shopper: Shopper) -> None:
    shopper.add("starter")
    shopper.step("cart")
    shopper.step(
        "login-or-create-an-account",
        {"action": "signup", "email": unique_email(), "password": "a long passphrase"},
    )
    answer = shopper.step(
        "customer-information",
        {"first_name": "Ada", "email": "nope", "country": "DE"},
        params={"page": "backend"},
    )
    assert answer.headers["Location"].endswith(f"/{EXAMPLE}/pages/customer-information/")
    text = page(shopper, "customer-information")
    start = text.index("error-summary")
    summary = text[start : text.index("</section>", start)]
    order = [summary.index(f'href="#field-{name}"') for name in ("last_name", "email", "street")]
    assert order == sorted(order)  # as the fields stand on the page, not alphabetically
    assert 'value="Ada"' in text and 'aria-invalid="true"' in text


def test_a_skipped_step_sends_to_the_step_that_applies(backend: Backend) -> None:
    customer = backend.shopper(SEGMENTS)
    try:
        customer.state("product-selection")
        response = customer.http.get(
            f"{customer.base}/{SEGMENTS}/pages/company-details/", allow_redirects=False
        )
        assert response.status_code == 303
        assert "/pages/" in response.headers["Location"]
    finally:
        customer.close()


def test_an_unknown_step_is_a_404(backend: Backend, shopper: Shopper) -> None:
    response = shopper.http.get(f"{shopper.base}/{EXAMPLE}/pages/nowhere/")
    assert response.status_code == 404


@pytest.mark.parametrize("path", ["cart/add", "steps/cart"])
def test_a_form_without_its_token_changes_nothing(
    backend: Backend, shopper: Shopper, path: str
) -> None:
    """A static page's form sent by a browser that did not run the page script."""
    shopper.state()
    answer = shopper.post(path, {"product": "starter", "step": "product-selection"}, csrf=False)
    assert answer.status_code == 303
    location = answer.headers["Location"]
    assert location.endswith("/pages/product-selection/?notice=no-script") or location.endswith(
        "/pages/cart/?notice=no-script"
    )
    assert shopper.state()["cart"]["lines"] == []
    assert "did not run the shop&#39;s page script" in page(shopper, "cart", notice="no-script")
    # The page script's own requests without a token are refused as before.
    refused = shopper.post(path, {"product": "starter"}, csrf=False, json=True)
    assert refused.status_code == 403
