"""The studio over real HTTP: every change written as a careful person would, or refused.

One dev server for the module; each test starts from the example's files again.
"""

from __future__ import annotations

import difflib
import re
import sqlite3
import tomllib
from collections import Counter
from contextlib import closing
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

import pytest
import requests
from studio_client import STUDIO, Studio

KEY = "k9uscs7vr7"
JOURNEY = "self-service.toml"


def only_added(before: str, after: str) -> list[str]:
    """The lines a change added; fails if it removed or changed any line."""
    diff = list(difflib.ndiff(before.splitlines(), after.splitlines()))
    removed = [line for line in diff if line.startswith("- ")]
    assert not removed, f"lines lost: {removed}"
    return [line[2:] for line in diff if line.startswith("+ ")]


# -- pages -------------------------------------------------------------------------------


def test_home_lists_the_journeys_with_their_launch_links(studio: Studio) -> None:
    page = studio.get("/")
    assert page.status_code == 200
    assert "Self-Service Shop &amp; Checkout" in page.text
    assert f'href="/{KEY}/product-selection/" target="_blank"' in page.text
    assert page.headers["Cache-Control"] == "no-store"
    # The dev server's own home page leads to it.
    assert f'href="{STUDIO}/"' in requests.get(studio.base + "/", timeout=10).text


@pytest.mark.parametrize(
    "path",
    [
        f"/journeys/{JOURNEY}/",
        f"/journeys/{JOURNEY}/steps/3/",
        "/catalog/",
        "/forms/",
        "/brand/",
        "/assets/studio.js",
        "/assets/studio.css",
    ],
)
def test_every_page_answers(studio: Studio, path: str) -> None:
    assert studio.get(path).status_code == 200


class References(HTMLParser):
    """The ids of a page, and the ids its labels and ARIA attributes point to."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: Counter[str] = Counter()
        self.references: list[str] = []
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if found.get("id"):
            self.ids[found["id"] or ""] += 1
        if tag == "label" and found.get("for"):
            self.references.append(found["for"] or "")
        for name in ("aria-labelledby", "aria-describedby"):
            self.references += (found.get(name) or "").split()
        if tag == "a" and found.get("href"):
            self.links.append(found["href"] or "")


def studio_pages(studio: Studio) -> dict[str, References]:
    """Every page of the studio a person can reach from its list, by its address."""
    found: dict[str, References] = {}
    waiting = ["/"]
    while waiting:
        path = waiting.pop()
        if path in found:
            continue
        page = studio.get(path)
        assert page.status_code == 200, path
        found[path] = References()
        found[path].feed(page.text)
        for link in found[path].links:
            link = link.split("#")[0].split("?")[0]
            if link.startswith(STUDIO + "/") and link.endswith("/"):
                waiting.append(link[len(STUDIO) :])
    return found


def test_every_id_on_every_studio_page_is_unique(studio: Studio) -> None:
    """A label whose input shares its id with a heading labels nothing (the add-step
    form's Page title did); axe-core does not see that."""
    pages = studio_pages(studio)
    assert {"/", f"/journeys/{JOURNEY}/", f"/journeys/{JOURNEY}/steps/6/", "/brand/"} <= set(pages)
    assert "add-title" in pages[f"/journeys/{JOURNEY}/"].references  # the Page title's label
    # A shop of two languages: a box per language, each with its own id.
    shop = studio.text("keylight.toml").replace('locale = "en-US"', 'locales = ["en-US", "de-DE"]')
    (studio.journeys / "keylight.toml").write_text(shop, encoding="utf-8")
    languages = studio_pages(studio)
    assert "add-name-de-DE" in languages[f"/journeys/{JOURNEY}/"].ids
    for path, page in [*pages.items(), *languages.items()]:
        assert [name for name, count in page.ids.items() if count > 1] == [], path
        assert [name for name in page.references if name not in page.ids] == [], path


def test_a_built_site_never_contains_the_studio(studio: Studio) -> None:
    for page in (studio.root / "site").rglob("*.html"):
        assert "studio" not in page.read_text(encoding="utf-8")


# -- journeys and steps ----------------------------------------------------------------------


def test_a_long_journey_name_makes_a_short_file_name(studio: Studio) -> None:
    """A file name has 255 bytes at most: a name of 460 characters answered a 500."""
    name = "Spring offer " + "for every team that wants more " * 15
    answer = studio.post(
        "/journeys",
        {"seen": "", "name": name, "key": "", "order_channel": "", "business_entity": "acme"},
    )
    assert answer.status_code == 303, answer.text
    [made] = [p.name for p in studio.journeys.glob("spring-offer-*.toml")]
    assert len(made) <= 65 and made.endswith(".toml") and "--" not in made
    assert studio.toml(made)["name"] == name.strip()


def test_create_a_journey_with_a_random_key(studio: Studio) -> None:
    answer = studio.post(
        "/journeys",
        {
            "seen": "",
            "name": "Quick Shop",
            "key": "",
            "order_channel": "",
            "business_entity": "acme",
        },
    )
    assert answer.status_code == 303
    assert answer.headers["Location"].endswith(
        f"{STUDIO}/journeys/quick-shop.toml/?saved=Journey+created"
    )
    written = studio.toml("quick-shop.toml")
    assert written["name"] == "Quick Shop"
    assert re.fullmatch(r"[a-z][a-z0-9]{9}", written["key"])
    assert written["business_entity"] == "acme"
    assert "order_channel" not in written  # left empty: not written
    assert "steps" not in written
    page = studio.get("/journeys/quick-shop.toml/")
    assert "No steps yet" in page.text


def test_create_refuses_an_unknown_business_entity_and_writes_nothing(studio: Studio) -> None:
    answer = studio.post(
        "/journeys", {"seen": "", "name": "Quick Shop", "key": "", "business_entity": "nobody"}
    )
    assert answer.status_code == 422
    assert "unknown business entity &#39;nobody&#39;" in answer.text
    assert 'value="Quick Shop"' in answer.text  # what was typed is still there
    assert not (studio.journeys / "quick-shop.toml").exists()


def test_add_a_step_keeps_the_file_as_it_was_and_rebuilds_the_preview(studio: Studio) -> None:
    before = studio.text(JOURNEY)
    answer = studio.post(
        f"/journeys/{JOURNEY}/steps",
        {
            "seen": studio.seen(f"/journeys/{JOURNEY}/"),
            "name": "Delivery notes",
            "active": "true",
            "progress_bar": "true",
            "type": "form",
            "form_target": "order_notes",
            "form": "billing",
        },
    )
    assert answer.status_code == 303, answer.text
    added = only_added(before, studio.text(JOURNEY))
    assert added == [
        "",
        "[[steps]]",
        'name = "Delivery notes"',
        'type = "form"',
        "active = true",
        "progress_bar = true",
        'form_target = "order_notes"',
        'form = "billing"',
    ]
    # The preview was rebuilt before the answer came: the page is there.
    assert (studio.root / "site" / KEY / "delivery-notes" / "index.html").is_file()


def test_an_invalid_step_is_refused_with_klbuild_checks_message(studio: Studio) -> None:
    before = studio.text(JOURNEY)
    answer = studio.post(
        f"/journeys/{JOURNEY}/steps",
        {
            "seen": studio.seen(f"/journeys/{JOURNEY}/"),
            "name": "Plans",
            "active": "true",
            "type": "product_selection",
            "product_selection": "",
            "form_id": "add-step",
        },
    )
    assert answer.status_code == 422
    assert "step 8 &#39;Plans&#39;, field &#39;product_selection&#39;: missing" in answer.text
    assert 'id="add-name" name="name" value="Plans"' in answer.text
    assert studio.text(JOURNEY) == before


def test_edit_a_step_changes_only_its_lines(studio: Studio) -> None:
    before = studio.text(JOURNEY)
    answer = studio.post(
        f"/journeys/{JOURNEY}/steps/6/",
        {
            "seen": studio.seen(f"/journeys/{JOURNEY}/steps/6/"),
            "name": "Order done",
            "active": "true",
            "progress_bar": "true",
            "type": "order_done",
            "external_url": "",
            "message_title": "Thanks!",
            "message_body": (
                "We have received your order. You will get a confirmation by email shortly."
            ),
        },
    )
    assert answer.status_code == 303, answer.text
    diff = [
        line
        for line in difflib.ndiff(before.splitlines(), studio.text(JOURNEY).splitlines())
        if line[:1] in "+-"
    ]
    assert sorted(diff) == [
        '+ message_title = "Thanks!"',
        '- external_url = ""',
        '- message_title = "Thank you for your purchase"',
    ]


def test_a_new_type_takes_its_fields_and_drops_the_old_ones(studio: Studio) -> None:
    answer = studio.post(
        f"/journeys/{JOURNEY}/steps/3/",
        {
            "seen": studio.seen(f"/journeys/{JOURNEY}/steps/3/"),
            "name": "Customer Information",
            "active": "true",
            "type": "payment_method",
            "methods": ["invoice"],
        },
    )
    assert answer.status_code == 303, answer.text
    step = studio.toml(JOURNEY)["steps"][3]
    assert step == {
        "name": "Customer Information",
        "type": "payment_method",
        "active": True,
        "progress_bar": False,
        "methods": ["invoice"],
    }


def test_a_file_with_windows_line_endings_keeps_them(studio: Studio) -> None:
    """A file saved on Windows: a change to one step must not change every line in git."""
    path = studio.journeys / JOURNEY
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    before = path.read_bytes()
    page = f"/journeys/{JOURNEY}/"
    answer = studio.post(f"{page}steps/1/move", {"seen": studio.seen(page), "direction": "up"})
    assert answer.status_code == 303, answer.text
    after = path.read_bytes()
    assert after.count(b"\n") == after.count(b"\r\n") == before.count(b"\r\n")
    assert sorted(after.split(b"\r\n")) == sorted(before.split(b"\r\n"))


def test_move_up_and_down_keep_every_line(studio: Studio) -> None:
    before = studio.text(JOURNEY)
    page = f"/journeys/{JOURNEY}/"
    answer = studio.post(f"{page}steps/1/move", {"seen": studio.seen(page), "direction": "up"})
    assert answer.status_code == 303
    assert "moved=0-up" in answer.headers["Location"]
    names = [step["name"] for step in studio.toml(JOURNEY)["steps"]]
    assert names[:2] == ["Cart", "Product selection"]
    assert sorted(studio.text(JOURNEY).splitlines()) == sorted(before.splitlines())
    # The moved step's button keeps the keyboard's focus after the page reloads.
    # It is first now: its Move down button has the focus.
    html = requests.get(studio.base + answer.headers["Location"], timeout=10).text
    assert html.count("autofocus") == 1
    assert 'autofocus aria-label="Move Cart down"' in html
    studio.post(f"{page}steps/0/move", {"seen": studio.seen(page), "direction": "down"})
    assert studio.text(JOURNEY) == before


def test_reorder_by_a_whole_new_order(studio: Studio) -> None:
    page = f"/journeys/{JOURNEY}/"
    answer = studio.post(f"{page}order", {"seen": studio.seen(page), "order": "1,0,2,3,4,5,6"})
    assert answer.status_code == 303
    names = [step["name"] for step in studio.toml(JOURNEY)["steps"]]
    assert names[:3] == ["Cart", "Product selection", "Login or create an account"]
    stale = studio.post(f"{page}order", {"seen": studio.seen(page), "order": "0,1,2"})
    assert stale.status_code == 422
    assert "does not name every step once" in stale.text


def autofocused(html: str) -> list[str]:
    """The start tags with ``autofocus``: a page must have at most one."""
    return re.findall(r"<[^<>]*\sautofocus(?:\s[^<>]*)?>", html)


def test_after_a_delete_the_focus_is_on_the_step_now_in_its_place(studio: Studio) -> None:
    page = f"/journeys/{JOURNEY}/"
    answer = studio.post(f"{page}steps/1/delete", {"seen": studio.seen(page)})
    assert answer.status_code == 303
    assert "#" not in answer.headers["Location"]  # Chromium ignores autofocus at a #fragment
    html = requests.get(studio.base + answer.headers["Location"], timeout=10).text
    assert autofocused(html) == [f'<a href="{STUDIO}{page}steps/1/" autofocus>']
    assert f'{page}steps/1/" autofocus>Login or create an account</a>' in html
    # The last step deleted: the new last one.
    answer = studio.post(f"{page}steps/5/delete", {"seen": studio.seen(page)})
    html = requests.get(studio.base + answer.headers["Location"], timeout=10).text
    assert autofocused(html) == [f'<a href="{STUDIO}{page}steps/4/" autofocus>']
    # None left: the list's heading.
    studio.post("/journeys", {"seen": "", "name": "Quick", "key": "", "business_entity": "acme"})
    quick = "/journeys/quick.toml/"
    studio.post(f"{quick}steps", {"seen": studio.seen(quick), "name": "Cart", "type": "order"})
    answer = studio.post(f"{quick}steps/0/delete", {"seen": studio.seen(quick)})
    html = requests.get(studio.base + answer.headers["Location"], timeout=10).text
    assert autofocused(html) == ['<h2 id="steps-title" tabindex="-1" autofocus>']
    assert autofocused(studio.get(quick).text) == []  # only right after a delete


def test_delete_a_step_and_a_journey(studio: Studio) -> None:
    page = f"/journeys/{JOURNEY}/"
    assert studio.post(f"{page}steps/2/delete", {"seen": studio.seen(page)}).status_code == 303
    assert len(studio.toml(JOURNEY)["steps"]) == 6
    assert not (studio.root / "site" / KEY / "login-or-create-an-account").exists()
    assert studio.post(f"{page}delete", {"seen": studio.seen(page)}).status_code == 303
    assert not (studio.journeys / JOURNEY).exists()


# -- products, forms and brand -----------------------------------------------------------------


def test_products_and_selections(studio: Studio) -> None:
    before = studio.text("catalog.toml")
    answer = studio.post(
        "/products/new",
        {
            "seen": studio.seen("/catalog/"),
            "id": "team",
            "name": "Team",
            "price": "49.00",
            "billing": "monthly",
            "tax_rate": "19",
        },
    )
    assert answer.status_code == 303, answer.text
    # After the last product, a blank line apart from the selections that follow.
    assert only_added(before, studio.text("catalog.toml"))[-7:] == [
        "[[products]]",
        'id = "team"',
        'name = "Team"',
        'price = "49.00"',
        'billing = "monthly"',
        'tax_rate = "19"',
        "",
    ]
    assert 'tax_rate = "19"\n\n[[product_selections]]' in studio.text("catalog.toml")
    answer = studio.post(
        "/selections/0",
        {
            "seen": studio.seen("/catalog/"),
            "id": "plans",
            "name": "Choose your plan",
            "products": ["starter", "team"],
        },
    )
    assert answer.status_code == 303, answer.text
    assert studio.toml("catalog.toml")["product_selections"][0]["products"] == ["starter", "team"]
    assert "# Products and the selections that show them." in studio.text("catalog.toml")


def test_a_bad_price_is_refused_with_the_models_words(studio: Studio) -> None:
    before = studio.text("catalog.toml")
    answer = studio.post(
        "/products/0",
        {
            "seen": studio.seen("/catalog/"),
            "form_id": "products-0",
            "id": "starter",
            "name": "Starter",
            "price": "nine",
            "billing": "monthly",
            "tax_rate": "19",
        },
    )
    assert answer.status_code == 422
    assert "expected a decimal string such as &#34;9.90&#34;, got &#39;nine&#39;" in answer.text
    assert 'value="nine"' in answer.text
    assert studio.text("catalog.toml") == before


def test_deleting_a_product_in_use_is_refused(studio: Studio) -> None:
    before = studio.text("catalog.toml")
    answer = studio.post("/products/0/delete", {"seen": studio.seen("/catalog/")})
    assert answer.status_code == 422
    assert "unknown product &#39;starter&#39;" in answer.text
    assert studio.text("catalog.toml") == before


def test_forms_and_their_fields(studio: Studio) -> None:
    seen = studio.seen("/forms/")
    answer = studio.post(
        "/forms/0/fields/new",
        {
            "seen": seen,
            "name": "purchase_order",
            "label": "Purchase order number",
            "type": "text",
            "max_length": "20",
        },
    )
    assert answer.status_code == 303, answer.text
    fields = studio.toml("forms.toml")["forms"][0]["fields"]
    assert fields[-1] == {
        "name": "purchase_order",
        "label": "Purchase order number",
        "type": "text",
        "max_length": 20,
    }
    assert '\n\n  [[forms.fields]]\n  name = "purchase_order"\n' in studio.text("forms.toml")
    answer = studio.post(
        "/forms/new", {"seen": studio.seen("/forms/"), "id": "notes", "name": "Notes"}
    )
    assert answer.status_code == 303
    assert studio.toml("forms.toml")["forms"][-1] == {"id": "notes", "name": "Notes"}
    bad = studio.post(
        "/forms/0/fields/0",
        {
            "seen": studio.seen("/forms/"),
            "name": "company",
            "label": "Company",
            "type": "text",
            "max_length": "many",
        },
    )
    assert bad.status_code == 422
    assert "expected a whole number such as 60, got &#39;many&#39;" in bad.text


def test_a_low_contrast_colour_is_refused_with_a_readable_one(studio: Studio) -> None:
    before = studio.text("keylight.toml")
    answer = studio.post("/brand/", {"seen": studio.seen("/brand/"), "color": "#7fd1ae"})
    assert answer.status_code == 422
    assert "contrast" in answer.text and "4.5:1" in answer.text
    assert studio.text("keylight.toml") == before


def test_brand_colour_and_logo(studio: Studio) -> None:
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" width="120" height="32"></svg>'
    answer = studio.post(
        "/brand/",
        {"seen": studio.seen("/brand/"), "color": "#0b5f4a", "accent": ""},
        files={"logo": ("acme.svg", svg, "image/svg+xml")},
    )
    assert answer.status_code == 303, answer.text
    brand = studio.toml("keylight.toml")["brand"]
    assert brand["color"] == "#0b5f4a"
    assert re.fullmatch(r"brand/logo-[0-9a-f]{8}\.svg", brand["logo"])
    assert (studio.journeys / brand["logo"]).read_bytes() == svg
    page = (studio.root / "site" / KEY / "cart" / "index.html").read_text(encoding="utf-8")
    assert 'alt="Acme Shop"' in page
    assert studio.get("/brand/logo").content == svg


def test_a_refused_upload_is_not_kept(studio: Studio) -> None:
    answer = studio.post(
        "/brand/",
        {"seen": studio.seen("/brand/"), "color": "#eeeeee"},
        files={"logo": ("acme.svg", b"<svg/>", "image/svg+xml")},
    )
    assert answer.status_code == 422
    assert not list((studio.journeys / "brand").glob("logo-*"))
    wrong = studio.post(
        "/brand/",
        {"seen": studio.seen("/brand/")},
        files={"favicon": ("icon.gif", b"GIF89a", "image/gif")},
    )
    assert wrong.status_code == 422
    assert "Icon: expected a .svg, .png, .ico file, got &#39;icon.gif&#39;" in wrong.text


def test_a_refused_change_keeps_the_picture_the_shop_uses(studio: Studio) -> None:
    """The logo in use uploaded again beside a colour the check refuses: the same bytes
    are the same file, which the shop still names and must keep."""
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" width="120" height="32"></svg>'
    logo = {"logo": ("acme.svg", svg, "image/svg+xml")}
    saved = studio.post("/brand/", {"seen": studio.seen("/brand/")}, files=logo)
    assert saved.status_code == 303, saved.text
    used = studio.journeys / studio.toml("keylight.toml")["brand"]["logo"]
    refused = studio.post(
        "/brand/", {"seen": studio.seen("/brand/"), "color": "#ffff00"}, files=logo
    )
    assert refused.status_code == 422 and "contrast" in refused.text
    assert used.read_bytes() == svg
    assert (
        studio.toml("keylight.toml")["brand"]["logo"]
        == used.relative_to(studio.journeys).as_posix()
    )


def test_an_upload_over_the_request_limit_answers_with_the_brand_page(studio: Studio) -> None:
    """Too large to be read as a form at all (the request limit, over the picture's):
    the brand page again, with why and what to do, and the colour typed beside it."""
    before = studio.text("keylight.toml")
    answer = studio.post(
        "/brand/",
        {"seen": studio.seen("/brand/"), "color": "#123456", "remove_favicon": "true"},
        files={"logo": ("photo.png", b"\x89PNG" + b"0" * 700_000, "image/png")},
    )
    assert answer.status_code == 413
    assert answer.headers["Content-Type"].startswith("text/html")
    assert "<h1>Brand</h1>" in answer.text
    assert "Not saved" in answer.text
    assert "a picture may be 512 KB at most. Make the picture smaller" in answer.text
    assert 'name="color" value="#123456"' in answer.text
    assert studio.text("keylight.toml") == before
    assert not (studio.journeys / "brand").exists() or not list(
        (studio.journeys / "brand").glob("logo-*")
    )


def test_a_product_picture_over_the_request_limit_keeps_the_product_form(
    studio: Studio,
) -> None:
    before = studio.text("catalog.toml")
    answer = studio.post(
        "/products/0",
        {
            "seen": studio.seen("/catalog/"),
            "form_id": "products-0",
            "id": "starter",
            "name": "Starter Plus",
            "price": "9.90",
            "billing": "monthly",
            "tax_rate": "19",
        },
        files={"picture": ("photo.png", b"0" * 700_000, "image/png")},
    )
    assert answer.status_code == 413
    assert "<h1>Products</h1>" in answer.text and "512 KB" in answer.text
    # The product's own form, open, with what was typed.
    assert '<details class="item" id="product-0" open>' in answer.text
    assert 'id="products-0-name" name="name" value="Starter Plus"' in answer.text
    assert studio.text("catalog.toml") == before


def test_a_form_over_the_request_limit_that_cannot_be_read_again(studio: Studio) -> None:
    """Not a multipart form: nothing to throw away while reading it, so it is not read;
    the page says so, and the form is there to fill in again."""
    answer = studio.post(
        "/products/new",
        {"seen": studio.seen("/catalog/"), "form_id": "products-new", "id": "x" * 700_000},
    )
    assert answer.status_code == 413
    assert "<h1>Products</h1>" in answer.text
    assert "What was typed could not be kept either" in answer.text
    assert 'action="/__klbuild/studio/products/new"' in answer.text


# -- addresses that are not pages -----------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "page"),
    [
        ("/journeys", "/"),
        (f"/journeys/{JOURNEY}/delete", f"/journeys/{JOURNEY}/"),
        (f"/journeys/{JOURNEY}/steps", f"/journeys/{JOURNEY}/"),
        (f"/journeys/{JOURNEY}/order", f"/journeys/{JOURNEY}/"),
        (f"/journeys/{JOURNEY}/steps/1/move", f"/journeys/{JOURNEY}/"),
        (f"/journeys/{JOURNEY}/steps/1/delete", f"/journeys/{JOURNEY}/"),
        (f"/journeys/{JOURNEY}/steps/1/reasons/new", f"/journeys/{JOURNEY}/steps/1/"),
        (f"/journeys/{JOURNEY}/steps/1/reasons/0/delete", f"/journeys/{JOURNEY}/steps/1/"),
        ("/products/new", "/catalog/"),
        ("/selections/0", "/catalog/"),
        ("/discounts/0/delete", "/catalog/"),
        ("/forms/new", "/forms/"),
        ("/forms/0/delete", "/forms/"),
        ("/forms/0/fields/new", "/forms/"),
        ("/forms/0/fields/1/delete", "/forms/"),
    ],
)
def test_an_address_only_a_form_posts_to_leads_to_its_page(
    studio: Studio, address: str, page: str
) -> None:
    """A refused save leaves the form's address in the address bar: a reload there, or
    a bookmark of it, shows the page again instead of a 405."""
    answer = studio.get(address, allow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["Location"] == STUDIO + page
    assert studio.get(address).status_code == 200


def test_a_refused_save_can_be_reloaded(studio: Studio) -> None:
    page = f"/journeys/{JOURNEY}/"
    refused = studio.post(f"{page}order", {"seen": studio.seen(page), "order": "0,1"})
    assert refused.status_code == 422
    reloaded = studio.get(f"{page}order")
    assert reloaded.status_code == 200
    assert reloaded.url == studio.base + STUDIO + page


@pytest.mark.parametrize("name", ["catalog.toml", "forms.toml", "keylight.toml"])
@pytest.mark.parametrize(
    "path", ["", "steps/0/", "delete", "steps/0/move", "steps/0/reasons/new", "order"]
)
def test_a_file_all_journeys_share_is_no_journey(studio: Studio, name: str, path: str) -> None:
    """Opened as a journey it showed an empty one, with a button to delete the file."""
    before = studio.text(name)
    answer = studio.get(f"/journeys/{name}/{path}")
    assert answer.status_code == 404
    assert "is not a journey" in answer.text
    assert f'<a href="{STUDIO}/">All journeys</a>' in answer.text
    assert "Delete this journey" not in answer.text
    posted = studio.post(f"/journeys/{name}/{path}", {"seen": studio.seen("/brand/")})
    assert posted.status_code == 404
    assert studio.text(name) == before


def test_an_address_with_nothing_is_the_studios_own_page(studio: Studio) -> None:
    for path in (f"/journeys/{JOURNEY}/steps/99/", "/journeys/gone.toml/", "/nothing/"):
        answer = studio.get(path)
        assert answer.status_code == 404
        assert "The studio has no page at this address" in answer.text
        assert f'<a href="{STUDIO}/">All journeys</a>' in answer.text


# -- the files stay the source of truth ----------------------------------------------------


def test_a_file_changed_on_disk_is_never_overwritten(studio: Studio) -> None:
    page = f"/journeys/{JOURNEY}/"
    seen = studio.seen(page)
    path = studio.journeys / JOURNEY
    path.write_text(studio.text(JOURNEY) + "# a colleague's note\n", encoding="utf-8")
    answer = studio.post(f"{page}steps/1/move", {"seen": seen, "direction": "up"})
    assert answer.status_code == 409
    assert "changed on disk since the studio showed it" in answer.text
    assert studio.text(JOURNEY).endswith("# a colleague's note\n")
    # The page shows the file as it is now, so the change can be made again.
    again = re.search(r'name="seen" value="([0-9a-f]*)"', answer.text)
    assert again and again.group(1) != seen
    assert (
        studio.post(f"{page}steps/1/move", {"seen": again.group(1), "direction": "up"}).status_code
        == 303
    )


def test_a_new_journey_never_replaces_a_file(studio: Studio) -> None:
    answer = studio.post(
        "/journeys",
        {"seen": "", "name": "Self service", "key": "", "business_entity": "acme"},
    )
    assert answer.status_code == 303
    assert answer.headers["Location"].split("?")[0].endswith("/journeys/self-service-2.toml/")
    assert studio.toml(JOURNEY)["key"] == KEY


# -- safe by default ---------------------------------------------------------------------------


@pytest.mark.parametrize("origin", ["https://evil.example", "http://127.0.0.1:1", "null", None])
def test_a_write_from_elsewhere_is_refused(studio: Studio, origin: str | None) -> None:
    before = studio.text(JOURNEY)
    headers = {"Origin": origin} if origin else {}
    answer = requests.post(
        f"{studio.base}{STUDIO}/journeys/{JOURNEY}/steps/1/move",
        data={"seen": studio.seen(f"/journeys/{JOURNEY}/"), "direction": "up"},
        headers=headers,
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 403
    assert "studio's own page" in answer.text
    assert studio.text(JOURNEY) == before


def test_a_foreign_host_name_is_refused_even_for_reading(studio: Studio) -> None:
    """DNS rebinding: a site whose name now points here sends its own name."""
    answer = studio.get("/", headers={"Host": "attacker.example:80"})
    assert answer.status_code == 403
    assert "does not answer to the name 'attacker.example'" in answer.text
    assert studio.get("/", headers={"Host": "localhost"}).status_code == 200


@pytest.mark.parametrize(
    "name", ["..%2Fkeylight.toml", "%2E%2E", "notes.txt", "Self-Service.toml", "link.toml"]
)
def test_no_path_outside_the_folder(studio: Studio, name: str) -> None:
    outside = studio.root / "outside.toml"
    outside.write_text('name = "Outside"\n', encoding="utf-8")
    (studio.journeys / "link.toml").symlink_to(outside)
    try:
        assert studio.get(f"/journeys/{name}/").status_code == 404
        answer = studio.post(f"/journeys/{name}/", {"seen": "", "name": "Hacked"})
        assert answer.status_code in (404, 409, 422)
        assert outside.read_text(encoding="utf-8") == 'name = "Outside"\n'
    finally:
        (studio.journeys / "link.toml").unlink()


def test_a_product_picture_uploaded_with_the_product(studio: Studio) -> None:
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" width="120" height="80"></svg>'
    form = {
        "seen": studio.seen("/catalog/"),
        "form_id": "products-0",
        "id": "starter",
        "name": "Starter",
        "price": "9.90",
        "billing": "monthly",
        "tax_rate": "19",
    }
    answer = studio.post("/products/0", form, files={"picture": ("photo.svg", svg)})
    assert answer.status_code == 303, answer.text
    image = studio.toml("catalog.toml")["products"][0]["image"]
    assert re.fullmatch(r"images/starter-[0-9a-f]{8}\.svg", image)
    assert (studio.journeys / image).read_bytes() == svg
    page = (studio.root / "site" / KEY / "product-selection" / "index.html").read_text("utf-8")
    assert 'width="120" height="80"' in page
    # A picture that is not one is refused, and not kept.
    form["seen"] = studio.seen("/catalog/")
    wrong = studio.post("/products/0", form, files={"picture": ("notes.txt", b"hello")})
    assert wrong.status_code == 422
    assert "Picture: expected a .svg, .png" in wrong.text
    assert len(list((studio.journeys / "images").iterdir())) == 1


# -- how a journey performs ---------------------------------------------------------------


def test_the_journey_page_shows_its_funnel(studio: Studio) -> None:
    """The figures come from the backend's report (exact figures: tests/klcheckout/
    test_funnel.py); here, that the studio shows them for both windows."""
    today = datetime.now(UTC).date()
    old = today - timedelta(days=20)
    rows = [("product-selection", today, 10), ("cart", today, 6), ("product-selection", old, 5)]
    with closing(sqlite3.connect(studio.root / "instance" / "keylight.sqlite3")) as db:
        db.execute("DELETE FROM step_views")
        db.executemany(
            "INSERT INTO step_views (journey_key, step_id, day, visitors) VALUES (?, ?, ?, ?)",
            [(KEY, step, day.isoformat(), count) for step, day, count in rows],
        )
        db.commit()
    try:
        page = studio.get(f"/journeys/{JOURNEY}/").text
        seven = page[page.index('data-studio-funnel="7"') : page.index('data-studio-funnel="30"')]
        assert "<dt>Visitors</dt><dd>10</dd>" in seven
        assert "<dt>Orders</dt><dd>0</dd>" in seven
        assert "Product selection: 10 visitors, 4 left here" in seven
        thirty = page[page.index('data-studio-funnel="30"') :]
        assert "<dt>Visitors</dt><dd>15</dd>" in thirty
        assert 'role="img" aria-label="Funnel: 15 visitors at Product selection' in thirty
        row = re.search(r"<tr><th scope=\"row\">Cart</th>(.*?)</tr>", page)
        assert row and row.group(1) == "<td>6</td><td>6</td><td>6</td><td>6</td>"
    finally:
        with closing(sqlite3.connect(studio.root / "instance" / "keylight.sqlite3")) as db:
            db.execute("DELETE FROM step_views")
            db.commit()


def test_a_broken_file_is_named_not_hidden(studio: Studio) -> None:
    (studio.journeys / "catalog.toml").write_text("[[products]\nid = 1\n", encoding="utf-8")
    page = studio.get("/catalog/")
    assert page.status_code == 422
    assert "catalog.toml is not valid TOML" in page.text
    assert "fix it in a text editor" in page.text
    # The files' own mistake is shown on every page, and the studio still answers.
    assert "mistake" in studio.get("/").text


def test_a_shop_of_two_languages_gets_a_box_per_language(studio: Studio) -> None:
    shop = studio.text("keylight.toml").replace('locale = "en-US"', 'locales = ["en-US", "de-DE"]')
    (studio.journeys / "keylight.toml").write_text(shop, encoding="utf-8")
    page = f"/journeys/{JOURNEY}/"
    form = studio.get(page).text
    assert 'name="name@en-US"' in form and 'name="name@de-DE"' in form
    answer = studio.post(
        f"{page}steps",
        {
            "seen": studio.seen(page),
            "name@en-US": "Notes",
            "name@de-DE": "Notizen",
            "active": "true",
            "type": "order",
        },
    )
    assert answer.status_code == 303, answer.text
    assert 'name = {en-US = "Notes", de-DE = "Notizen"}' in studio.text(JOURNEY)
    # Shown again box by box; a plain name fills the first language's box.
    edit = studio.get(f"{page}steps/7/").text
    assert 'name="name@en-US" value="Notes"' in edit
    assert 'name="name@de-DE" value="Notizen"' in edit
    first = studio.get(f"{page}steps/0/").text
    assert 'name="name@en-US" value="Product selection"' in first
    assert 'name="name@de-DE" value=""' in first
    # A language left empty is klbuild check's mistake, with its words.
    refused = studio.post(
        f"{page}steps/7/",
        {"seen": studio.seen(page), "name@en-US": "Notes", "name@de-DE": "", "type": "order"},
    )
    assert refused.status_code == 422
    assert "must not be empty" in refused.text


def test_a_subscription_journey_with_its_own_steps(studio: Studio) -> None:
    answer = studio.post(
        "/journeys",
        {
            "seen": "",
            "name": "Leave",
            "key": "leave",
            "business_entity": "acme",
            "subject": "subscription",
        },
    )
    assert answer.status_code == 303, answer.text
    page = "/journeys/leave.toml/"
    answer = studio.post(
        f"{page}steps",
        {
            "seen": studio.seen(page),
            "name": "Why are you leaving?",
            "active": "true",
            "type": "cancellation",
            "effective": "immediately",
            "pause_periods": "2",
            "first_reason-id": "too-expensive",
            "first_reason-label": "It is too expensive",
        },
    )
    assert answer.status_code == 303, answer.text
    answer = studio.post(
        f"{page}steps/0/reasons/new",
        {"seen": studio.seen(page), "id": "busy", "label": "No time now", "offer": "pause"},
    )
    assert answer.status_code == 303, answer.text
    assert answer.headers["Location"].endswith("#reasons")
    wrong = studio.post(
        f"{page}steps/0/reasons/1",
        {
            "seen": studio.seen(page),
            "form_id": "reason-1",
            "id": "busy",
            "label": "No time",
            "offer": "holiday",
        },
    )
    assert wrong.status_code == 422
    assert "&#39;holiday&#39;" in wrong.text and 'value="holiday"' in wrong.text
    for form in (
        {"name": "Take a break", "type": "pause", "durations": "3, 1"},
        {
            "name": "New plan",
            "type": "plan_change",
            "product_selection": "subscription-plans",
            "upgrade": "period_end",
            "downgrade": "period_end",
            "proration": "none",
        },
    ):
        answer = studio.post(f"{page}steps", {"seen": studio.seen(page), "active": "true", **form})
        assert answer.status_code == 303, answer.text
    written = studio.text("leave.toml")
    assert written.startswith(
        'name = "Leave"\nkey = "leave"\nbusiness_entity = "acme"\nsubject = "subscription"\n'
    )
    steps = tomllib.loads(written)["steps"]
    assert steps[0]["effective"] == "immediately" and steps[0]["pause_periods"] == 2
    assert steps[0]["reasons"] == [
        {"id": "too-expensive", "label": "It is too expensive"},
        {"id": "busy", "label": "No time now", "offer": "pause"},
    ]
    assert '\n  [[steps.reasons]]\n  id = "busy"\n' in written
    assert steps[1]["durations"] == [3, 1]
    assert (steps[2]["upgrade"], steps[2]["proration"]) == ("period_end", "none")
    # The order journey keeps its implicit subject: saving its settings adds nothing.
    before = studio.text(JOURNEY)
    answer = studio.post(
        f"/journeys/{JOURNEY}/",
        {
            "seen": studio.seen(f"/journeys/{JOURNEY}/"),
            "name": "Self-Service Shop & Checkout",
            "business_entity": "acme",
            "subject": "order",
            "order_channel": "",
            "discount": "",
            "when": "",
        },
    )
    assert answer.status_code == 303, answer.text
    assert [
        line
        for line in difflib.ndiff(before.splitlines(), studio.text(JOURNEY).splitlines())
        if line[:1] in "+-"
    ] == ['- order_channel = ""']


def test_discounts(studio: Studio) -> None:
    form = {
        "seen": studio.seen("/catalog/"),
        "form_id": "discounts-new",
        "id": "spring",
        "name": "Spring: 10 % off",
        "percent": "10",
        "amount": "5.00",
        "periods": "3",
        "products": ["starter"],
    }
    both = studio.post("/discounts/new", form)
    assert both.status_code == 422
    assert "either percent" in both.text
    form["amount"] = ""
    assert studio.post("/discounts/new", form).status_code == 303
    spring = tomllib.loads(studio.text("catalog.toml"))["discounts"][-1]
    assert spring == {
        "id": "spring",
        "name": "Spring: 10 % off",
        "percent": "10",
        "periods": 3,
        "products": ["starter"],
    }
    # A journey can now take it from its list.
    assert (
        '<option value="spring">Spring: 10 % off (spring)</option>'
        in studio.get(f"/journeys/{JOURNEY}/").text
    )


def test_a_journey_for_the_sales_team_with_a_customers_step(studio: Studio) -> None:
    page = f"/journeys/{JOURNEY}/"
    form = studio.get(page).text
    assert 'name="audience" value="customers" checked' in form  # the default, shown
    answer = studio.post(
        page,
        {
            "seen": studio.seen(page),
            "name": "Self-Service Shop & Checkout",
            "business_entity": "acme",
            "audience": ["sales", "partners"],
            "subject": "order",
        },
    )
    assert answer.status_code == 303, answer.text
    answer = studio.post(
        f"{page}steps/4/",
        {
            "seen": studio.seen(page),
            "name": "Payment method",
            "active": "true",
            "progress_bar": "true",
            "actor": "customer",
            "type": "payment_method",
        },
    )
    assert answer.status_code == 303, answer.text
    written = tomllib.loads(studio.text(JOURNEY))
    assert written["audience"] == ["sales", "partners"]
    assert written["steps"][4]["actor"] == "customer"
    assert "actor" not in written["steps"][3]
    # Back to customers alone: ticking only the default writes it, as the person said so.
    answer = studio.post(
        page,
        {
            "seen": studio.seen(page),
            "name": "Self-Service Shop & Checkout",
            "business_entity": "acme",
            "audience": ["customers"],
        },
    )
    assert answer.status_code == 303
    assert tomllib.loads(studio.text(JOURNEY))["audience"] == ["customers"]


def test_a_quote_step_for_the_sales_team(studio: Studio) -> None:
    page = f"/journeys/{JOURNEY}/"
    studio.post(
        page,
        {
            "seen": studio.seen(page),
            "name": "Self-Service Shop & Checkout",
            "business_entity": "acme",
            "audience": ["sales"],
            "subject": "order",
        },
    )
    [index] = [
        i for i, s in enumerate(studio.toml(JOURNEY)["steps"]) if s["type"] == "confirmation"
    ]
    assert 'value="quote"' in studio.get(f"{page}steps/{index}/").text
    answer = studio.post(
        f"{page}steps/{index}/",
        {
            "seen": studio.seen(page),
            "name": "Send the quote",
            "active": "true",
            "progress_bar": "true",
            "type": "confirmation",
            "confirmation_type": "quote",
            "valid_days": "14",
        },
    )
    assert answer.status_code == 303, answer.text
    step = studio.toml(JOURNEY)["steps"][index]
    assert (step["confirmation_type"], step["valid_days"]) == ("quote", 14)
