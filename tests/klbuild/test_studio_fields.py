"""The studio's forms over real HTTP: what a marketer types is written as they meant it.

A list's order, a text's line breaks and an uploaded picture reach the files (or are
refused) as a careful person editing the files would have them. One dev server for
the module; each test starts from the example's files again.
"""

from __future__ import annotations

import tomllib

import pytest
from studio_client import Studio

JOURNEY = "self-service.toml"


# -- lists -----------------------------------------------------------------------------------


def test_renaming_a_selection_keeps_the_order_of_its_products(studio: Studio) -> None:
    line = 'products = ["pro", "starter"]  # Pro first on purpose'
    studio.replace(
        "catalog.toml", 'name = "Plans"\nproducts = ["starter", "pro"]', f'name = "Plans"\n{line}'
    )
    before = studio.text("catalog.toml")
    # The browser sends the ticked boxes in the page's order: the catalog's.
    answer = studio.post(
        "/selections/1",
        {
            "seen": studio.seen("/catalog/"),
            "id": "subscription-plans",
            "name": "Your plans",
            "products": ["starter", "pro"],
        },
    )
    assert answer.status_code == 303, answer.text
    assert studio.text("catalog.toml") == before.replace('"Plans"', '"Your plans"')


def test_a_selection_of_no_products_is_refused_in_plain_words(studio: Studio) -> None:
    before = studio.text("catalog.toml")
    answer = studio.post(
        "/selections/1",
        {"seen": studio.seen("/catalog/"), "id": "subscription-plans", "name": "Plans"},
    )
    assert answer.status_code == 422
    assert (
        "field &#39;product_selections[1].products&#39;: choose at least one product" in answer.text
    )
    assert "at least 1 item" not in answer.text
    assert studio.text("catalog.toml") == before


# -- texts -----------------------------------------------------------------------------------


def test_a_message_typed_on_several_lines_is_written_on_several_lines(studio: Studio) -> None:
    page = f"/journeys/{JOURNEY}/steps/6/"
    answer = studio.post(
        page,
        {
            "seen": studio.seen(page),
            "name": "Order done",
            "active": "true",
            "progress_bar": "true",
            "type": "order_done",
            "message_title": "Thank you for your purchase",
            "message_body": "We have received your order.\r\n\r\nA confirmation is on its way.",
        },
    )
    assert answer.status_code == 303, answer.text
    text = studio.text(JOURNEY)
    assert "\r" not in text and "\\r" not in text
    assert (
        'message_body = """\nWe have received your order.\n\nA confirmation is on its way."""\n'
        in text
    )
    step = tomllib.loads(text)["steps"][6]
    assert step["message_body"] == "We have received your order.\n\nA confirmation is on its way."


# -- brand files -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "upload", "expected"),
    [
        ("logo", "fake.png", "cannot tell the width and height of &#39;brand/logo-"),
        ("favicon", "fake.png", "cannot tell the width and height of &#39;brand/favicon-"),
        ("favicon", "fake.ico", "cannot read &#39;brand/favicon-"),
    ],
)
def test_a_text_file_named_like_a_picture_is_refused_as_a_brand_file(
    studio: Studio, field: str, upload: str, expected: str
) -> None:
    before = studio.text("keylight.toml")
    answer = studio.post(
        "/brand/",
        {"seen": studio.seen("/brand/")},
        files={field: (upload, b"This is not a picture.\n", "image/png")},
    )
    assert answer.status_code == 422
    assert f"field &#39;brand.{field}&#39;: {expected}" in answer.text
    assert studio.text("keylight.toml") == before
    assert not list((studio.journeys / "brand").glob(f"{field}-*"))


def test_a_real_icon_is_taken_as_the_brand_icon(studio: Studio) -> None:
    answer = studio.post(
        "/brand/",
        {"seen": studio.seen("/brand/")},
        files={"favicon": ("icon.ico", _icon(), "image/x-icon")},
    )
    assert answer.status_code == 303, answer.text
    assert 'favicon = "brand/favicon-' in studio.text("keylight.toml")


def _icon() -> bytes:
    """A 1x1 .ico file: its header, one directory entry and a 32-bit bitmap."""
    header = b"\0\0\1\0\1\0"
    bitmap = (40).to_bytes(4, "little") + (1).to_bytes(4, "little") + (2).to_bytes(4, "little")
    bitmap += (1).to_bytes(2, "little") + (32).to_bytes(2, "little") + bytes(24) + bytes(8)
    entry = bytes([1, 1, 0, 0]) + (1).to_bytes(2, "little") + (32).to_bytes(2, "little")
    entry += len(bitmap).to_bytes(4, "little") + (6 + 16).to_bytes(4, "little")
    return header + entry + bitmap
