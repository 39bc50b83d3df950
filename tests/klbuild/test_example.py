"""The example folder as shipped: every journey in it loads cleanly and builds."""

from __future__ import annotations

import shutil
from pathlib import Path

import kljourney
from klbuild.build import build
from kljourney.model import FormStep, PaymentMethodStep

EXAMPLE = Path(__file__).resolve().parents[2] / "journeys"


JOURNEYS = [
    "assisted-order",
    "cancel",
    "change-plan",
    "come-back",
    "k9uscs7vr7",
    "pause",
    "sales-quote",
    "segments",
]


def test_the_example_has_eight_journeys_and_no_warnings(tmp_path: Path) -> None:
    shutil.copytree(EXAMPLE, tmp_path / "journeys")
    shop = kljourney.load(tmp_path / "journeys")
    assert shop.warnings == []
    assert sorted(shop.journeys) == JOURNEYS
    assert shop.account == {
        "change": "change-plan",
        "cancel": "cancel",
        "pause": "pause",
        "winback": "come-back",
    }
    assert {key for key, j in shop.journeys.items() if j.about_subscription} == {
        "cancel",
        "change-plan",
        "come-back",
        "pause",
    }


def test_the_segments_journey_branches_on_the_customer_segment(tmp_path: Path) -> None:
    shutil.copytree(EXAMPLE, tmp_path / "journeys")
    journey = kljourney.load(tmp_path / "journeys").journeys["segments"]
    forms = {s.id: (s.form, s.when) for s in journey.steps if isinstance(s, FormStep)}
    assert forms == {
        "company-details": ("company", "customer.segment == 'business'"),
        "your-details": ("private", "customer.segment != 'business'"),
    }
    payments = {s.id: s.methods for s in journey.steps if isinstance(s, PaymentMethodStep)}
    assert payments == {"invoice": ["invoice"], "direct-debit": ["sepa_debit"]}
    assert journey.step("cart").rules[0].when == "cart.recurring_count > 1"
    assert journey.step("company-details").rules[0].field == "vat_id"


def test_the_example_builds_every_page_and_the_account_page(tmp_path: Path) -> None:
    shutil.copytree(EXAMPLE, tmp_path / "journeys")
    report = build(tmp_path / "journeys", tmp_path / "site")
    assert report.journeys_rendered == JOURNEYS
    # 7 + 9 order pages, 3 for each of three subscription journeys, 4 for come-back,
    # 8 for the partners' order, 5 for the sales quote, 1 account, the staff sign-in page
    # and the quote page
    assert report.pages_written == 7 + 9 + 3 * 3 + 4 + 8 + 5 + 1 + 1 + 1
    quote = (tmp_path / "site" / "quote" / "index.html").read_text()
    assert 'data-kl-page="quote"' in quote and 'data-quote-api="/api/quote"' in quote
    account = (tmp_path / "site" / "account" / "index.html").read_text()
    assert 'data-kl-page="account"' in account
    assert 'action="/api/account/login"' in account
    page = (tmp_path / "site" / "segments" / "cart" / "index.html").read_text()
    # The progress bar names each step, so the page script can hide the skipped ones.
    for step in ("company-details", "your-details", "invoice", "direct-debit"):
        assert f'data-kl-step="{step}"' in page
