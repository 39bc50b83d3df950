"""The cart cookie's serializer, shared by a worker's threads."""

from __future__ import annotations

import hashlib
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from flask import Flask
from itsdangerous import BadSignature, URLSafeTimedSerializer

from klcheckout import cart
from kljourney.model import Journey


@pytest.fixture
def eager_switching() -> Iterator[None]:
    """Threads take turns as often as they can, so that a race shows in a short test."""
    switching = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(switching)


@pytest.mark.usefixtures("eager_switching")
def test_threads_never_see_the_serializer_half_made() -> None:
    """A worker's first requests arrive together: every thread gets a serializer for
    the current secrets, even while another thread is making it."""
    app = Flask(__name__)
    app.config["SECRET_KEY"] = "k" * 40
    signed = cart.serializer(app).dumps({"c": "x"})
    threads = 8
    barrier = threading.Barrier(threads)

    def first_request(_: int) -> object:
        barrier.wait()
        return cart.serializer(app).loads(signed)

    with ThreadPoolExecutor(threads) as pool:
        for _ in range(300):
            app.extensions.pop("keylight_serializer", None)
            assert list(pool.map(first_request, range(threads))) == [{"c": "x"}] * threads


def test_a_new_secret_gets_a_new_serializer() -> None:
    app = Flask(__name__)
    app.config["SECRET_KEY"] = "old" * 10
    signed = cart.serializer(app).dumps({"c": "x"})
    app.config.update(SECRET_KEY="new" * 10, SECRET_KEY_FALLBACKS=["old" * 10])
    assert cart.serializer(app).loads(signed) == {"c": "x"}
    assert cart.serializer(app).dumps({"c": "x"}) != signed


@pytest.mark.parametrize("payload", [{"c": "x"}, {"c": "x" * 24, "l": [["starter", 1]] * 30}])
def test_cookies_signed_by_itsdangerous_defaults_still_load(payload: dict) -> None:
    """Cookies written before the serializer derived its keys once and stopped compressing
    (itsdangerous's own key derivation, zlib for a long payload) keep their carts."""
    app = Flask(__name__)
    app.config.update(SECRET_KEY="new" * 10, SECRET_KEY_FALLBACKS=["old" * 10])
    earlier = {
        secret: URLSafeTimedSerializer(
            secret,
            salt="keylight.cart",
            signer_kwargs={"key_derivation": "hmac", "digest_method": hashlib.sha256},
        )
        for secret in ("new" * 10, "old" * 10)
    }
    for signer in earlier.values():
        assert cart.serializer(app).loads(signer.dumps(payload)) == payload
    signed = cart.serializer(app).dumps(payload)
    assert earlier["new" * 10].loads(signed) == payload  # the same signature as before
    assert not signed.startswith(".")  # not compressed


def test_a_cookie_signed_with_another_secret_is_refused() -> None:
    app = Flask(__name__)
    app.config["SECRET_KEY"] = "k" * 40
    forged = URLSafeTimedSerializer("x" * 40, salt="keylight.cart").dumps({"c": "x"})
    with pytest.raises(BadSignature):
        cart.serializer(app).loads(forged)


def test_the_steps_seen_and_the_start_of_the_walk_travel_in_the_cookie() -> None:
    """The funnel report's few bytes: positions of the steps counted, and the walk's start.
    A cookie written before them has none; one with odd values is not trusted."""
    app = Flask(__name__)
    app.config.update(SECRET_KEY="k" * 40, KEYLIGHT_CART_MAX_AGE=3600, KEYLIGHT_ENV="development")
    journey = Journey(name="Shop", key="shop", business_entity="acme", steps=[])
    before = cart.serializer(app).dumps({"j": "shop", "v": "", "c": "x" * 24})
    loaded, reason = cart.decode(app, before, journey)
    assert reason is None and (loaded.seen, loaded.started) == ([], 0)
    loaded.seen, loaded.started = [0, 2], 1_800_000_000
    again, reason = cart.decode(app, cart.encode(app, loaded), journey)
    assert reason is None and (again.seen, again.started) == ([0, 2], 1_800_000_000)
    for odd in ({"p": "0,2"}, {"p": [0, "2"]}, {"t": -1}, {"t": "1800000000"}):
        signed = cart.serializer(app).dumps({"j": "shop", "v": "", "c": "x" * 24, **odd})
        assert cart.decode(app, signed, journey)[1] == "tampered", odd
