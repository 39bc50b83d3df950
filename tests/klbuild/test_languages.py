"""A shop in several languages: each journey built once per language, linked both ways."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from conftest import Workspace
from example import EXAMPLE
from pseudo import babel_words, leftovers, page_texts, pseudo_theme, shop_words

from klbuild.build import build
from kljourney import load
from kljourney.errors import ConfigError

KEY = Workspace.key


def two_languages(ws: Workspace) -> None:
    ws.edit("keylight.toml", 'locale = "en-US"', 'locales = ["de-DE", "en-GB"]')
    ws.edit(ws.journey_file, 'name = "Cart"', 'name = { de = "Warenkorb", en = "Cart" }')


def test_each_language_has_its_pages_and_the_default_keeps_the_usual_address(
    ws: Workspace,
) -> None:
    two_languages(ws)
    ws.build()
    # The step has one address in every language: its id comes from the table's first entry.
    german = (ws.site / KEY / "warenkorb" / "index.html").read_text()
    english = (ws.site / "en-gb" / KEY / "warenkorb" / "index.html").read_text()
    assert '<html lang="de-DE">' in german and "<h1>Warenkorb</h1>" in german
    assert '<html lang="en-GB">' in english and "<h1>Cart</h1>" in english
    # German words by default (the built-in catalog), English under en-gb/.
    assert "Zum Inhalt springen" in german and "Skip to content" in english
    # The stylesheet starts a field's error with the word of the page's language.
    [css] = (ws.site / "assets").glob("app.*.css")
    rules = css.read_text(encoding="utf-8")
    assert ':lang(de-DE) .field-error::before{content:"⚠ Fehler: "}' in rules
    assert ':lang(en-GB) .field-error::before{content:"⚠ Error: "}' in rules


def test_pages_name_their_other_languages_and_link_the_same_step(ws: Workspace) -> None:
    two_languages(ws)
    ws.build()
    german = (ws.site / KEY / "warenkorb" / "index.html").read_text()
    assert f'<link rel="alternate" hreflang="de-DE" href="/{KEY}/warenkorb/">' in german
    assert f'<link rel="alternate" hreflang="en-GB" href="/en-gb/{KEY}/warenkorb/">' in german
    switcher = re.search(r'<nav class="languages".*?</nav>', german, re.S)
    assert switcher is not None
    assert 'aria-current="true">Deutsch (Deutschland)</a>' in switcher.group(0)
    assert f'href="/en-gb/{KEY}/warenkorb/" hreflang="en-GB" lang="en-GB">' in switcher.group(0)
    # The English page's forms tell the backend which language to answer in.
    english = (ws.site / "en-gb" / KEY / "warenkorb" / "index.html").read_text()
    assert "?lang=en-GB" in english


def test_a_language_dropped_from_the_shop_takes_its_pages_along(ws: Workspace) -> None:
    two_languages(ws)
    ws.build()
    assert (ws.site / "en-gb").is_dir()
    ws.edit("keylight.toml", 'locales = ["de-DE", "en-GB"]', 'locales = ["de-DE"]')
    ws.edit(ws.journey_file, 'name = { de = "Warenkorb", en = "Cart" }', 'name = "Warenkorb"')
    ws.build()
    assert not (ws.site / "en-gb").exists()
    assert (ws.site / KEY / "warenkorb" / "index.html").is_file()


def test_a_shop_of_one_language_has_no_switcher(ws: Workspace) -> None:
    ws.build()
    page = (ws.site / KEY / "cart" / "index.html").read_text()
    assert 'class="languages"' not in page and "hreflang" not in page


def test_check_names_a_text_missing_for_a_language_with_file_and_line(
    ws: Workspace,
) -> None:
    ws.edit("keylight.toml", 'locale = "en-US"', 'locales = ["de-DE", "en-GB"]')
    ws.edit(ws.journey_file, 'name = "Cart"', 'name = { de = "Warenkorb" }')
    with pytest.raises(ConfigError) as caught:
        load(ws.journeys)
    line = next(
        number
        for number, text in enumerate((ws.journeys / ws.journey_file).read_text().splitlines(), 1)
        if "Warenkorb" in text
    )
    assert [str(problem) for problem in caught.value.problems] == [
        f"{ws.journey_file}:{line}: error: journey 'Self-Service Shop & Checkout', "
        "step 2 'Warenkorb', field 'name': no text for 'en-GB' (the table has de); add "
        'en = "..." or en-GB = "...", or remove \'en-GB\' from [site] locales'
    ]


def test_a_journey_key_cannot_be_a_language_folder(ws: Workspace) -> None:
    ws.edit("keylight.toml", 'locale = "en-US"', 'locales = ["de-DE", "en-GB"]')
    ws.edit(ws.journey_file, f'key = "{KEY}"', 'key = "en-gb"')
    with pytest.raises(ConfigError) as caught:
        load(ws.journeys)
    assert [problem.message for problem in caught.value.problems] == [
        "key 'en-gb' is the folder of the pages in en-GB; choose another key"
    ]


def test_every_built_page_is_in_the_pseudo_language(ws: Workspace, tmp_path: Path) -> None:
    """Every word keylight writes on the built pages of the whole example shop (every
    journey, the account page) went through gettext."""
    tmp_path = tmp_path / "pseudo"
    journeys = shutil.copytree(EXAMPLE, tmp_path / "journeys")
    shop_file = journeys / "keylight.toml"
    shop_file.write_text(shop_file.read_text().replace('locale = "en-US"', 'locale = "en-GB"'))
    theme = pseudo_theme(tmp_path / "theme")
    build(journeys, tmp_path / "site", theme)
    known = shop_words(load(journeys)) | babel_words()
    pages = sorted((tmp_path / "site").rglob("*.html"))
    assert len(pages) >= 20
    for page in pages:
        texts = page_texts(page.read_text())
        assert any("⟦" in text for text in texts), page
        assert list(leftovers(texts, known)) == [], page
