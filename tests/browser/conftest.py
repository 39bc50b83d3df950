"""Fixtures for the browser tests; they live in ``browser_helpers`` so tests can import helpers."""

from browser_helpers import (  # noqa: F401
    browser,
    context,
    module_server,
    module_ws,
    page,
    server,
    ws,
)
