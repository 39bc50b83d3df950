"""Changing the password over HTTP: it ends every other session of the customer."""

from __future__ import annotations

from checkout_helpers import EXAMPLE, Backend, Shopper, unique_email

STEP = "login-or-create-an-account"
PASSWORD = "correct horse battery"
NEW_PASSWORD = "a brand new passphrase"


def _signed_up(shopper: Shopper, email: str) -> None:
    shopper.add("starter")
    shopper.step("cart")
    answer = shopper.step(STEP, {"action": "signup", "email": email, "password": PASSWORD})
    assert answer.status_code == 303
    assert shopper.state()["customer"]["signed_in"] is True


def _copy(source: Shopper, backend: Backend) -> Shopper:
    """A second browser holding a copy of ``source``'s cookie (e.g. a stolen one)."""
    other = backend.shopper()
    other.http.cookies.set(
        "keylight", source.http.cookies["keylight"], domain="127.0.0.1", path="/"
    )
    return other


def test_password_change_ends_every_other_session(backend: Backend, shopper: Shopper) -> None:
    email = unique_email()
    _signed_up(shopper, email)
    copy = _copy(shopper, backend)
    assert copy.state()["customer"]["email"] == email

    answer = shopper.post(
        "account/password",
        {"current_password": PASSWORD, "new_password": NEW_PASSWORD, "step": "cart"},
        json=True,
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["ok"] is True and body["redirect"] == f"/{EXAMPLE}/cart/"
    assert any("password was changed" in message for message in body["messages"])
    # This browser stays signed in, with a new session (and so a new CSRF token).
    state = shopper.state()
    assert state["customer"]["email"] == email and state["csrf_token"] == body["csrf_token"]

    # The copied cookie is refused: signed out, with the reason.
    state = copy.state()
    assert state["customer"] is None
    assert "Your sign-in has ended; please sign in again." in state["messages"]
    refused = copy.post(
        "account/password",
        {"current_password": NEW_PASSWORD, "new_password": "yet another passphrase"},
        json=True,
    )
    assert refused.status_code == 401 and "Sign in" in refused.json()["errors"]["_form"]
    copy.close()

    # Only the new password signs in now.
    for password, status in ((PASSWORD, 401), (NEW_PASSWORD, 200)):
        other = backend.shopper()
        other.add("starter")
        other.step("cart")
        login = other.step(
            STEP, {"action": "login", "email": email, "password": password}, json=True
        )
        assert login.status_code == status, login.text
        other.close()


def test_password_change_checks_both_passwords(backend: Backend, shopper: Shopper) -> None:
    email = unique_email()
    _signed_up(shopper, email)
    wrong = shopper.post(
        "account/password",
        {"current_password": "not my password", "new_password": NEW_PASSWORD},
        json=True,
    )
    assert wrong.status_code == 401
    assert wrong.json()["errors"] == {"current_password": "The current password is wrong."}
    weak = shopper.post(
        "account/password", {"current_password": PASSWORD, "new_password": "short"}, json=True
    )
    assert weak.status_code == 422 and "at least 8" in weak.json()["errors"]["new_password"]
    # As a plain form: a 303 back to the page, which shows the error once.
    plain = shopper.post(
        "account/password",
        {"current_password": "not my password", "new_password": NEW_PASSWORD, "step": "cart"},
    )
    assert plain.status_code == 303 and plain.headers["Location"] == f"/{EXAMPLE}/cart/"
    assert shopper.state("cart")["errors"] == {"current_password": "The current password is wrong."}
    # Still signed in with the old password; no CSRF token, no change.
    assert shopper.state()["customer"]["email"] == email
    forged = shopper.post(
        "account/password",
        {"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        csrf=False,
        json=True,
    )
    assert forged.status_code == 403


def test_password_change_is_rate_limited(backend: Backend, shopper: Shopper) -> None:
    _signed_up(shopper, unique_email())
    for _ in range(5):  # the tests' limit: 5 per 10 minutes
        answer = shopper.post(
            "account/password",
            {"current_password": "guessing again", "new_password": NEW_PASSWORD},
            json=True,
        )
        assert answer.status_code == 401
    blocked = shopper.post(
        "account/password",
        {"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        json=True,
    )
    assert blocked.status_code == 429 and "Too many" in blocked.json()["errors"]["_form"]
