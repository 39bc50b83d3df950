"""The cart cookie's serializer, shared by a worker's threads."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from flask import Flask

from klcheckout import cart


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
    threads = 8
    barrier = threading.Barrier(threads)

    def first_request(_: int) -> list[bytes]:
        barrier.wait()
        return cart.serializer(app).secret_keys

    with ThreadPoolExecutor(threads) as pool:
        for _ in range(300):
            app.extensions.pop("keylight_serializer", None)
            assert list(pool.map(first_request, range(threads))) == [[b"k" * 40]] * threads


def test_a_new_secret_gets_a_new_serializer() -> None:
    app = Flask(__name__)
    app.config["SECRET_KEY"] = "old" * 10
    signed = cart.serializer(app).dumps({"c": "x"})
    app.config.update(SECRET_KEY="new" * 10, SECRET_KEY_FALLBACKS=["old" * 10])
    assert cart.serializer(app).loads(signed) == {"c": "x"}
    assert cart.serializer(app).dumps({"c": "x"}) != signed
