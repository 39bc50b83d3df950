"""Every kind of bad input from the issue, over real HTTP: a clear message, never a 500."""

from __future__ import annotations

import hashlib
import re
import threading
import time

import pytest
from checkout_helpers import (
    BILLING,
    EXAMPLE,
    SECRETS,
    TEST_JOURNEY,
    Backend,
    Shopper,
    unique_email,
)
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import func, select

from klcheckout import tables


def errors_of(shopper: Shopper, step: str) -> dict[str, str]:
    return shopper.state(step)["errors"]


def test_unknown_journey_step_and_product(backend: Backend, shopper: Shopper) -> None:
    response = shopper.http.get(f"{backend.url}/nosuchshop/state")
    assert response.status_code == 404 and "There is no shop journey" in response.text
    assert "nosuchshop" in response.text
    assert shopper.http.get(f"{backend.url}/{EXAMPLE}/state?step=nope").status_code == 404
    posted = shopper.step("nope", json=True)
    assert posted.status_code == 404 and "no step 'nope'" in posted.json()["error"]
    unknown = shopper.add("no-such-product", json=True)
    assert unknown.status_code == 422
    assert unknown.json()["errors"] == {"product": "This product is not available here."}
    # As a plain form: back to the page, and the page shows the error once.
    assert shopper.add("no-such-product").status_code == 303
    assert errors_of(shopper, "product-selection") == {
        "product": "This product is not available here."
    }
    assert errors_of(shopper, "product-selection") == {}


def test_product_from_another_selection_is_refused(backend: Backend, guest: Shopper) -> None:
    bulk_product = next(
        iter(backend.app.extensions["keylight"].shop.product_selections["bulk"].products)
    )
    answer = guest.add(bulk_product, step="plan", json=True)
    assert answer.status_code == 422 and "not available" in answer.json()["errors"]["product"]
    assert guest.add(bulk_product, step="extras", json=True).status_code == 200


@pytest.mark.parametrize(
    ("quantity", "message"),
    [
        ("0", "at least 1"),
        ("-3", "at least 1"),
        ("51", "at most 50"),
        ("99999999999999999999", "whole number"),
        ("abc", "whole number"),
        ("1.5", "whole number"),
        ("--5", "whole number"),
        ("²", "whole number"),
        ("٣", "whole number"),
    ],
)
def test_bad_quantities(shopper: Shopper, quantity: str, message: str) -> None:
    answer = shopper.add("starter", quantity, json=True)
    assert answer.status_code == 422
    assert message in answer.json()["errors"]["quantity"]
    assert shopper.state()["cart"]["lines"] == []


def test_quantity_is_bounded_across_adds_and_update_zero_removes(shopper: Shopper) -> None:
    assert shopper.add("starter", 30, json=True).status_code == 200
    over = shopper.add("starter", 30, json=True)
    assert over.status_code == 422 and "at most 50" in over.json()["errors"]["quantity"]
    assert shopper.state()["cart"]["count"] == 30
    removed = shopper.post("cart/update", {"product": "starter", "quantity": "0", "step": "cart"})
    assert removed.status_code == 303 and removed.headers["Location"] == f"/{EXAMPLE}/cart/"
    assert shopper.state()["cart"]["count"] == 0


def test_client_price_is_ignored(shopper: Shopper) -> None:
    shopper.add("pro", extra={"price": "0.01", "unit_price": "0", "line_total": "0"})
    line = shopper.state()["cart"]["lines"][0]
    assert (line["unit_price"], line["line_total"]) == ("29.00", "29.00")


def _cookie(shopper: Shopper) -> str:
    return shopper.http.cookies["keylight"]


def _set_cookie(shopper: Shopper, value: str) -> None:
    shopper.http.cookies.clear()
    shopper.http.cookies.set("keylight", value, domain="127.0.0.1", path="/")


def _forge(payload: dict, secret: str, age: int = 0) -> str:
    class Old(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - age

    serializer = URLSafeTimedSerializer(
        secret,
        salt="keylight.cart",
        signer=Old,
        signer_kwargs={"key_derivation": "hmac", "digest_method": hashlib.sha256},
    )
    return serializer.dumps(payload)


def _reset_message(shopper: Shopper) -> list[str]:
    state = shopper.state()
    assert state["cart"]["lines"] == []
    return state["messages"]


def test_tampered_truncated_expired_rotated_and_foreign_cookies(
    backend: Backend, shopper: Shopper
) -> None:
    shopper.add("starter", 2)
    good = _cookie(shopper)
    version = shopper.state()["journey"]["version"]
    payload = {"j": EXAMPLE, "v": version, "c": "abc", "l": [["starter", 3]]}

    _set_cookie(shopper, good[:-5] + ("AAAAA" if not good.endswith("AAAAA") else "BBBBB"))
    assert _reset_message(shopper) == ["Your cart could not be read, so a new one was started."]
    _set_cookie(shopper, good[: len(good) // 2])
    assert "could not be read" in _reset_message(shopper)[0]
    _set_cookie(shopper, _forge(payload, SECRETS[0], age=30 * 24 * 3600))
    assert _reset_message(shopper) == ["Your cart had expired, so a new one was started."]
    _set_cookie(shopper, _forge(payload, "a-key-that-was-rotated-out-long-ago-xxxxxxxx"))
    assert "could not be read" in _reset_message(shopper)[0]
    _set_cookie(shopper, _forge({**payload, "j": TEST_JOURNEY}, SECRETS[0]))
    assert "another shop page" in _reset_message(shopper)[0]
    # Still valid: signed with the previous key (in SECRET_KEY_FALLBACKS) keeps the cart.
    _set_cookie(shopper, _forge(payload, SECRETS[1]))
    assert shopper.state()["cart"]["count"] == 3
    # A POST with a broken cookie is refused with the reason and a fresh cart.
    _set_cookie(shopper, good[:-5] + "xxxxx")
    refused = shopper.add("starter", csrf=False, extra={"csrf_token": "whatever"})
    assert refused.status_code == 403 and "could not be read" in refused.text
    # A cookie from an older build is re-checked against today's catalog.
    _set_cookie(
        shopper,
        _forge(
            {**payload, "v": "oldbuild", "l": [["starter", 3], ["gone", 1], ["pro", 500]]},
            SECRETS[0],
        ),
    )
    state = shopper.state()
    assert [(x["product"], x["quantity"]) for x in state["cart"]["lines"]] == [
        ("starter", 3),
        ("pro", 50),
    ]
    assert "cart was updated" in state["messages"][0]


def test_cart_cannot_outgrow_its_cookie(backend: Backend, guest: Shopper) -> None:
    products = backend.app.extensions["keylight"].shop.product_selections["bulk"].products
    refused = None
    for product in products:
        answer = guest.add(product, step="extras", json=True)
        if answer.status_code != 200:
            refused = answer
            break
        assert len(_cookie(guest)) < 4000
    assert refused is not None, "the cart never filled up"
    assert refused.status_code == 422
    assert "Your cart is full" in refused.json()["errors"]["product"]
    assert guest.state()["cart"]["count"] > 20


def test_cross_site_and_token_less_posts_are_refused(backend: Backend, shopper: Shopper) -> None:
    shopper.state()
    evil = shopper.add("starter", headers={"Origin": "https://evil.example"})
    assert evil.status_code == 403 and "https://evil.example" in evil.text
    no_origin = shopper.http.post(
        f"{backend.url}/{EXAMPLE}/cart/add",
        data={"product": "starter", "csrf_token": shopper.csrf},
        headers={"Origin": None, "Referer": None},
        allow_redirects=False,
    )
    assert no_origin.status_code == 403 and "did not say which page" in no_origin.text
    via_referer = shopper.http.post(
        f"{backend.url}/{EXAMPLE}/cart/add",
        data={"product": "starter", "csrf_token": shopper.csrf, "step": "product-selection"},
        headers={"Origin": None, "Referer": f"{backend.url}/{EXAMPLE}/product-selection/"},
        allow_redirects=False,
    )
    assert via_referer.status_code == 303
    tokenless = shopper.add("starter", csrf=False, json=True)
    assert tokenless.status_code == 403 and "no security token" in tokenless.json()["error"]
    wrong = shopper.add("starter", csrf=False, extra={"csrf_token": "forged"}, json=True)
    assert wrong.status_code == 403 and "does not match" in wrong.json()["error"]
    assert shopper.http.get(f"{backend.url}/{EXAMPLE}/cart/add").status_code == 405
    assert shopper.state()["cart"]["count"] == 1


def test_a_refusal_carries_the_reference_it_was_logged_with(
    backend: Backend, shopper: Shopper
) -> None:
    """The proxy's X-Request-Id when sane (both logs then agree), else one made up."""
    shopper.state()
    kept = shopper.add("starter", csrf=False, json=True, headers={"X-Request-Id": "edge-42.a"})
    assert kept.status_code == 403
    assert kept.headers["X-Request-Id"] == "edge-42.a" == kept.json()["request_id"]
    made = shopper.add("starter", csrf=False, json=True, headers={"X-Request-Id": "bad id;x"})
    assert made.status_code == 403
    assert re.fullmatch(r"[0-9a-f]{16}", made.headers["X-Request-Id"])
    assert made.json()["request_id"] == made.headers["X-Request-Id"]


def test_login_cookie_replayed_after_logout_is_refused(backend: Backend, shopper: Shopper) -> None:
    email = unique_email()
    shopper.add("starter")
    shopper.step("cart")
    shopper.step(
        "login-or-create-an-account",
        {"action": "signup", "email": email, "password": "correct horse battery"},
    )
    assert shopper.state()["customer"]["signed_in"] is True
    copied = _cookie(shopper)
    assert shopper.post("logout", {"step": "cart"}).headers["Location"] == f"/{EXAMPLE}/cart/"
    assert shopper.state()["customer"] is None
    _set_cookie(shopper, copied)
    state = shopper.state()
    assert state["customer"] is None
    assert "Your sign-in has ended; please sign in again." in state["messages"]


def test_login_and_signup_answer_alike_and_passwords_are_checked(
    backend: Backend, shopper: Shopper
) -> None:
    email = unique_email()
    shopper.add("starter")
    shopper.step("cart")
    step = "login-or-create-an-account"
    short = shopper.step(step, {"action": "signup", "email": email, "password": "short"}, json=True)
    assert short.status_code == 422 and "at least 8" in short.json()["errors"]["password"]
    common = shopper.step(
        step, {"action": "signup", "email": email, "password": "Password123"}, json=True
    )
    assert "most common" in common.json()["errors"]["password"]
    long_one = "x" * 80 + " a long passphrase"
    assert (
        shopper.step(
            step, {"action": "signup", "email": email, "password": long_one}, json=True
        ).status_code
        == 200
    )

    def attempt(action: str, address: str, password: str) -> tuple[int, dict]:
        other = backend.shopper()
        other.add("starter")
        other.step("cart")
        answer = other.step(
            step, {"action": action, "email": address, "password": password}, json=True
        )
        body = answer.json()
        other.close()
        # The next page's state would tell (it shows whether the customer is signed in):
        # the answer leaves it out, and that page asks for it itself.
        assert "state" not in body
        return answer.status_code, {k: v for k, v in body.items() if k != "csrf_token"}

    assert attempt("login", email, "wrong password!") == attempt(
        "login", unique_email(), "wrong password!"
    )
    assert attempt("login", email, "wrong password!")[0] == 401
    assert attempt("signup", email, "some other passphrase") == attempt(
        "signup", unique_email(), "some other passphrase"
    )


def test_failed_logins_are_rate_limited(backend: Backend, shopper: Shopper) -> None:
    email = unique_email()
    shopper.add("starter")
    shopper.step("cart")
    step = "login-or-create-an-account"
    shopper.step(step, {"action": "signup", "email": email, "password": "right passphrase"})
    shopper.post("logout", {"step": "cart"})
    statuses = []
    for _ in range(7):
        answer = shopper.step(
            step, {"action": "login", "email": email, "password": "wrong passphrase"}, json=True
        )
        statuses.append(answer.status_code)
    assert statuses[:5] == [401] * 5 and statuses[5:] == [429, 429]
    assert "Too many failed sign-in attempts" in answer.json()["errors"]["_form"]
    # The account is protected from every address, even with the right password.
    other = backend.shopper()
    other.add("starter")
    other.step("cart")
    blocked = other.step(
        step, {"action": "login", "email": email, "password": "right passphrase"}, json=True
    )
    assert blocked.status_code == 429
    other.close()


def test_sign_up_is_no_way_round_the_login_limit(backend: Backend, shopper: Shopper) -> None:
    """A sign-up for a taken email checks its password: it counts and is limited like a login."""
    email = unique_email()
    shopper.add("starter")
    shopper.step("cart")
    step = "login-or-create-an-account"
    shopper.step(step, {"action": "signup", "email": email, "password": "right passphrase"})
    shopper.post("logout", {"step": "cart"})

    def sign_up(password: str) -> int:
        shopper.add("starter")  # a refused sign-up starts a fresh cart, like a new account
        shopper.step("cart")
        answer = shopper.step(
            step, {"action": "signup", "email": email, "password": password}, json=True
        )
        return answer.status_code

    guesses = [sign_up(f"guess number {n}") for n in range(6)]
    assert guesses[:5] == [200] * 5  # answered like any sign-up
    assert guesses[5] == 429
    assert sign_up("right passphrase") == 429
    assert shopper.state()["customer"] is None


def test_form_errors_missing_overlong_wrong_type_extra(guest: Shopper) -> None:
    guest.add("pro", step="plan")
    guest.step("cart")
    guest.step("account", {"action": "guest", "email": unique_email()})
    bad = {
        **BILLING,
        "first_name": "",
        "last_name": "L" * 61,
        "country": "XX",
        "email": "not-an-email",
        "postal_code": "!!",
        "is_admin": "1",
    }
    answer = guest.step("billing", bad)
    assert answer.status_code == 303 and answer.headers["Location"] == f"/{TEST_JOURNEY}/billing/"
    state = guest.state("billing")
    errors = state["errors"]
    assert errors["first_name"] == "First name is required."
    assert errors["last_name"] == "Last name can have at most 60 characters."
    assert "two-letter code" in errors["country"]
    assert "name@example.com" in errors["email"]
    assert "expected format" in errors["postal_code"]
    assert "'is_admin'" in errors["_form"]
    assert state["values"]["city"] == "Berlin"  # nothing typed is lost
    # Skipping ahead is not possible: the payment step sends the customer back here.
    skipped = guest.step("payment", {"method": "invoice"})
    assert skipped.headers["Location"] == f"/{TEST_JOURNEY}/billing/"


def test_invalid_iban_and_unoffered_method(guest: Shopper) -> None:
    guest.add("pro", step="plan")
    guest.step("cart")
    guest.step("account", {"action": "guest", "email": unique_email()})
    guest.step("billing", BILLING)
    bad = guest.step(
        "payment",
        {"method": "sepa_debit", "iban": "DE89 3704 0044 0532 0130 01", "holder": ""},
        json=True,
    )
    assert bad.status_code == 422
    errors = bad.json()["errors"]
    assert errors["iban"].startswith("This IBAN is not valid") and "checksum" in errors["iban"]
    assert "holder" in errors and "mandate" in errors
    unknown = guest.step("payment", {"method": "bitcoin"}, json=True)
    assert "Invoice or SEPA Direct Debit" in unknown.json()["errors"]["method"]


def test_confirming_with_an_empty_cart_or_skipped_steps(guest: Shopper) -> None:
    empty = guest.step("confirm", {"confirm_token": "x"})
    assert empty.headers["Location"] == f"/{TEST_JOURNEY}/plan/"
    assert "cart is empty" in guest.state("plan")["errors"]["_form"]
    guest.add("pro", step="plan")
    skipped = guest.step("confirm", {"confirm_token": "x"}, json=True)
    assert skipped.status_code == 409 and skipped.json()["redirect"] == f"/{TEST_JOURNEY}/account/"


def _ready_to_confirm(guest: Shopper) -> None:
    guest.add("pro", step="plan")
    guest.step("cart")
    guest.step("account", {"action": "guest", "email": unique_email()})
    guest.step("billing", BILLING)
    guest.step("payment", {"method": "invoice"})
    guest.state("confirm")


def _orders(backend: Backend, email: str | None = None) -> int:
    with backend.engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(tables.orders)).scalar_one()


def test_confirming_twice_concurrently_places_one_order(backend: Backend, guest: Shopper) -> None:
    _ready_to_confirm(guest)
    before = _orders(backend)
    cookie, token = _cookie(guest), guest.csrf
    results: list[tuple[int, str]] = []

    def confirm(n: int) -> None:
        person = Shopper(backend.url, TEST_JOURNEY)
        _set_cookie(person, cookie)
        answer = person.post(
            "steps/confirm", {"confirm_token": f"tab-{n % 2}", "csrf_token": token}, csrf=False
        )
        results.append((answer.status_code, answer.headers.get("Location", "")))
        person.close()

    threads = [threading.Thread(target=confirm, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert results == [(303, "https://example.com/thanks")] * 8
    assert _orders(backend) == before + 1
    # A replay of the very same request later gives the same single order.
    _set_cookie(guest, cookie)
    guest.csrf = token
    again = guest.step("confirm", {"confirm_token": "tab-0"})
    assert again.headers["Location"] == "https://example.com/thanks"
    assert _orders(backend) == before + 1


def test_a_confirmation_token_confirms_one_checkout_only(backend: Backend, guest: Shopper) -> None:
    """A confirm page kept open (or restored by Back) cannot confirm the next cart."""
    _ready_to_confirm(guest)
    assert guest.step("confirm", {"confirm_token": "page-view-1"}).status_code == 303
    before = _orders(backend)
    _ready_to_confirm(guest)  # a second cart, a new checkout
    again = guest.step("confirm", {"confirm_token": "page-view-1"}, json=True)
    assert again.status_code == 409
    assert "already used" in again.json()["errors"]["_form"]
    assert _orders(backend) == before
    assert guest.step("confirm", {"confirm_token": "page-view-2"}).status_code == 303
    assert _orders(backend) == before + 1


def test_headers_limits_and_health(backend: Backend, shopper: Shopper) -> None:
    response = shopper.http.get(f"{backend.url}/{EXAMPLE}/state")
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert "script-src" not in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
    shopper.state()
    redirect = shopper.add("starter")  # never shown: not cached, nothing for content
    assert redirect.status_code == 303 and redirect.headers["Cache-Control"] == "no-store"
    assert redirect.headers["Referrer-Policy"] == "same-origin"
    assert "Content-Security-Policy" not in redirect.headers
    huge = shopper.add("starter", extra={"pad": "x" * 100_000})
    assert huge.status_code == 413 and "more data than the shop accepts" in huge.text
    health = shopper.http.get(f"{backend.url}/healthz")
    assert health.status_code == 200 and health.json() == {"status": "ok"}


def test_a_grouping_of_countries_is_not_a_country(shopper: Shopper) -> None:
    """The page offers no 'EU'; the backend refuses it like any unknown code."""
    shopper.add("starter")
    shopper.step("cart")
    shopper.step(
        "login-or-create-an-account",
        {"action": "signup", "email": unique_email(), "password": "a long passphrase"},
    )
    refused = shopper.step("customer-information", {**BILLING, "country": "EU"}, json=True)
    assert refused.status_code == 422
    assert refused.json()["errors"]["country"].startswith("Choose a country for Country")
