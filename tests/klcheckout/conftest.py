"""Fixtures for the backend tests; they live in ``checkout_helpers`` so tests can import helpers."""

from checkout_helpers import (  # noqa: F401
    backend,
    clean_environment,
    guest,
    journeys_dir,
    mailbox,
    shopper,
)
