"""Building a site: determinism, atomicity, incremental rebuilds, themes, headers."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from example import EXAMPLE

from klbuild import build as klbuild_build
from klbuild.build import HEADERS_FILE, MANIFEST, Builder, build
from kljourney.errors import ConfigError


def test_first_build_writes_pages_assets_headers_and_manifest(ws):
    report = ws.build()
    assert report.pages_written == 7
    assert report.pages_unchanged == 0
    assert report.journeys_rendered == [ws.key]
    assert report.changed_journeys == [ws.key]
    files = ws.snapshot()
    assets = sorted(name for name in files if name.startswith("assets/"))
    # The stylesheet, the script, and the example's three product pictures.
    assert sorted(Path(a).suffix for a in assets) == [".css", ".js", ".svg", ".svg", ".svg"]
    for name in assets:
        assert len(Path(name).stem.split(".")[1]) == 8
    manifest = json.loads(files[MANIFEST])
    assert manifest["journeys"][ws.key]["steps"][0] == "product-selection"
    # no staging folder is left next to the site
    assert sorted(p.name for p in ws.root.iterdir()) == ["journeys", "site"]


def test_headers_cache_assets_forever_and_pages_never(built):
    headers = (built.site / HEADERS_FILE).read_text()
    blocks = {block.split("\n")[0]: block for block in headers.strip().split("\n\n")}
    assert "Cache-Control: public, max-age=31536000, immutable" in blocks["/assets/*"]
    assert "Cache-Control: public, max-age=0, must-revalidate" in blocks["/:journey/:step/"]
    assert "immutable" not in blocks["/:journey/:step/index.html"]


def test_pages_link_assets_under_the_base_url(ws):
    ws.build()
    css = next(p.name for p in (ws.site / "assets").glob("*.css"))
    assert f'href="/assets/{css}"' in ws.page("cart")
    ws.edit("keylight.toml", 'base_url = "/"', 'base_url = "https://shop.example.com/"')
    ws.build()
    html = ws.page("cart")
    assert f'href="https://shop.example.com/assets/{css}"' in html
    assert 'href="https://shop.example.com/k9uscs7vr7/product-selection/"' in html


def test_two_builds_are_byte_identical(ws, tmp_path):
    ws.build()
    first = ws.snapshot()
    other = tmp_path / "other-site"
    build(ws.journeys, other)
    second = {
        p.relative_to(other).as_posix(): p.read_bytes() for p in other.rglob("*") if p.is_file()
    }
    assert first == second


def test_a_rebuild_without_changes_writes_nothing(built):
    before = {p: p.stat().st_mtime_ns for p in built.site.rglob("*") if p.is_file()}
    report = built.build()
    assert report.pages_written == 0 and report.pages_removed == 0
    assert report.journeys_rendered == [] and not report.changed
    assert {p: p.stat().st_mtime_ns for p in built.site.rglob("*") if p.is_file()} == before


def test_a_broken_journey_leaves_the_previous_site_untouched(built):
    before = built.snapshot()
    built.edit(built.journey_file, 'type = "order"', 'type = "ordr"')
    with pytest.raises(ConfigError) as info:
        built.build()
    assert "ordr" in info.value.format_message()
    assert built.snapshot() == before


def test_a_broken_first_build_writes_nothing(ws):
    ws.edit("catalog.toml", 'price = "9.90"', "price = 9.90")
    with pytest.raises(ConfigError):
        ws.build()
    assert not ws.site.exists()
    assert sorted(p.name for p in ws.root.iterdir()) == ["journeys"]


def test_a_template_error_writes_nothing(built, tmp_path):
    theme = tmp_path / "theme"
    (theme / "steps").mkdir(parents=True)
    (theme / "steps" / "order.html").write_text(
        "{% extends 'base.html' %}{% block content %}{{ no_such_thing }}{% endblock %}"
    )
    before = built.snapshot()
    with pytest.raises(ConfigError) as info:
        built.build(templates=theme)
    assert "no_such_thing" in info.value.format_message()
    assert built.snapshot() == before
    (theme / "steps" / "order.html").write_text("{% if %}")
    with pytest.raises(ConfigError) as info:
        built.build(templates=theme)
    assert "order.html" in info.value.format_message()
    assert built.snapshot() == before


def test_changing_one_journey_rewrites_only_its_pages(ws):
    other = ws.add_journey("second", "Second journey")
    ws.build()
    before = {p: (p.stat().st_mtime_ns, p.stat().st_ino) for p in ws.site.rglob("*") if p.is_file()}
    ws.edit(other, 'name = "Cart"', 'name = "Your basket"\nid = "cart"')
    report = ws.build()
    assert report.journeys_rendered == ["second"]
    assert report.changed_journeys == ["second"]
    # the name shows in every page's progress bar: all seven pages of "second" change
    assert report.pages_written == 7
    after = {p: (p.stat().st_mtime_ns, p.stat().st_ino) for p in ws.site.rglob("*") if p.is_file()}
    changed = sorted(p.relative_to(ws.site).as_posix() for p in after if after[p] != before.get(p))
    assert changed == [MANIFEST] + sorted(
        f"second/{s}/index.html"
        for s in (
            "cart",
            "confirm-order",
            "customer-information",
            "login-or-create-an-account",
            "order-done",
            "payment-method",
            "product-selection",
        )
    )
    assert "Your basket" in ws.page("cart", "second")
    assert "Your basket" not in ws.page("cart")


def test_only_pages_whose_bytes_differ_are_written(ws, tmp_path):
    ws.build()
    theme = tmp_path / "theme"
    (theme / "steps").mkdir(parents=True)
    (theme / "steps" / "order_done.html").write_text(
        "{% extends 'base.html' %}{% block content %}<p>Thanks!</p>{% endblock %}\n"
    )
    before = {p: p.stat().st_mtime_ns for p in ws.site.rglob("index.html")}
    report = ws.build(templates=theme)
    assert report.journeys_rendered == [ws.key]  # the templates changed: all are rendered
    assert report.pages_written == 1  # but only the order-done page differs
    assert report.pages_unchanged == 6
    assert "<p>Thanks!</p>" in ws.page("order-done")
    after = {p: p.stat().st_mtime_ns for p in ws.site.rglob("index.html")}
    assert [p.parent.name for p in after if after[p] != before[p]] == ["order-done"]


def test_inactive_steps_are_not_built_and_their_pages_go(ws):
    ws.build()
    ws.edit(
        ws.journey_file,
        'type = "payment_method"\nprogress_bar = true\nactive = true',
        'type = "payment_method"\nprogress_bar = true\nactive = false',
    )
    report = ws.build()
    assert report.pages_removed == 1
    assert not (ws.site / ws.key / "payment-method").exists()
    assert "Payment method" not in ws.page("customer-information")
    assert len(ws.pages()) == 6
    # and a fresh build of the same files never creates it
    fresh = ws.root / "fresh"
    build(ws.journeys, fresh)
    assert not (fresh / ws.key / "payment-method").exists()


def test_a_removed_journey_loses_its_pages(ws):
    other = ws.add_journey("second", "Second journey")
    ws.build()
    (ws.journeys / other).unlink()
    report = ws.build()
    assert report.journeys_removed == ["second"]
    assert report.changed_journeys == ["second"]
    assert report.pages_removed == 7
    assert not (ws.site / "second").exists()
    assert len(ws.pages()) == 7


def test_a_template_change_rerenders_every_journey(ws, tmp_path):
    ws.add_journey("second", "Second journey")
    ws.build()
    theme = tmp_path / "theme"
    (theme / "partials").mkdir(parents=True)
    (theme / "partials" / "footer.html").write_text("<footer>Our own footer</footer>\n")
    report = ws.build(templates=theme)
    assert report.journeys_rendered == ["k9uscs7vr7", "second"]
    assert report.pages_written == 14
    assert all("Our own footer" in html for html in ws.pages().values())


def test_theme_overrides_templates_and_assets(ws, tmp_path):
    theme = tmp_path / "theme"
    (theme / "steps").mkdir(parents=True)
    (theme / "assets").mkdir()
    (theme / "steps" / "order.html").write_text(
        "{% extends 'base.html' %}{% block content %}<p>Themed cart</p>{% endblock %}\n"
    )
    (theme / "assets" / "app.css").write_text("body { font-family: serif; }\n")
    ws.build(templates=theme)
    assert "<p>Themed cart</p>" in ws.page("cart")
    assert "Themed cart" not in ws.page("product-selection")
    css = list((ws.site / "assets").glob("*.css"))
    # Published minified, and ending in the word a field's error starts with.
    assert [p.read_text() for p in css] == [
        'body{font-family:serif}:lang(en-US) .field-error::before{content:"⚠ Error: "}\n'
    ]
    assert f"/assets/{css[0].name}" in ws.page("cart")


def test_changed_assets_replace_the_old_ones(ws, tmp_path):
    ws.build()
    old_css = {p.name for p in (ws.site / "assets").glob("*.css")}
    theme = tmp_path / "theme"
    (theme / "assets").mkdir(parents=True)
    (theme / "assets" / "app.css").write_text("body { color: #000; }\n")
    ws.build(templates=theme)
    new_css = {p.name for p in (ws.site / "assets").glob("*.css")}
    assert new_css.isdisjoint(old_css) and len(new_css) == 1


def test_a_missing_theme_folder_is_an_error(ws, tmp_path):
    with pytest.raises(ConfigError):
        ws.build(templates=tmp_path / "nope")
    assert not ws.site.exists()


def test_builder_rebuilds_in_process(ws):
    builder = Builder(ws.journeys, ws.site)
    assert builder.build().pages_written == 7
    assert builder.build().changed_journeys == []
    ws.edit(ws.journey_file, 'name = "Cart"', 'name = "Basket"\nid = "cart"')
    report = builder.build()
    assert report.changed_journeys == [ws.key]
    assert report.pages_written == 7
    assert "Basket" in ws.page("cart")
    # the manifest on disk agrees with what the builder remembers
    assert build(ws.journeys, ws.site).pages_written == 0


def test_builder_told_what_changed_rebuilds_that_journey(ws):
    other = ws.add_journey("second", "Second journey")
    builder = Builder(ws.journeys, ws.site)
    builder.build()
    ws.edit(other, 'name = "Cart"', 'name = "Basket"\nid = "cart"')
    report = builder.build(changed={ws.journeys / other})
    assert report.changed_journeys == ["second"]
    assert report.pages_written == 7
    assert "Basket" in ws.page("cart", "second")
    assert builder.build(changed=set()).changed_journeys == []


def test_builder_told_what_changed_still_notices_added_and_removed_files(ws):
    builder = Builder(ws.journeys, ws.site)
    builder.build()
    other = ws.add_journey("second", "Second journey")
    assert builder.build(changed=set()).changed_journeys == ["second"]
    assert "second" in {page.split("/")[0] for page in ws.pages()}
    (ws.journeys / other).unlink()
    report = builder.build(changed=set())
    assert report.journeys_removed == ["second"]
    assert not (ws.site / "second").exists()


def test_a_template_change_is_noticed_whatever_the_builder_is_told(ws, tmp_path):
    theme = tmp_path / "theme"
    (theme / "partials").mkdir(parents=True)
    footer = theme / "partials" / "footer.html"
    footer.write_text("<footer>One</footer>\n")
    builder = Builder(ws.journeys, ws.site, theme)
    builder.build()
    footer.write_text("<footer>Two, longer</footer>\n")
    report = builder.build(changed=set())
    assert report.pages_written == 7
    assert all("Two, longer" in html for html in ws.pages().values())


def test_a_lost_manifest_rebuilds_without_rewriting_equal_pages(built):
    (built.site / MANIFEST).unlink()
    report = built.build()
    assert report.journeys_rendered == [built.key]
    assert report.pages_written == 0 and report.pages_unchanged == 7
    assert (built.site / MANIFEST).exists()


def test_builds_into_an_existing_empty_folder(ws):
    ws.site.mkdir()
    assert ws.build().pages_written == 7
    assert oct(ws.site.stat().st_mode & 0o777) == oct(0o755 & ~_umask())


def test_warnings_are_reported(ws):
    ws.edit(
        ws.journey_file,
        'type = "confirmation"\nconfirmation_type = "direct"\nprogress_bar = true\nactive = true',
        'type = "confirmation"\nconfirmation_type = "direct"\nprogress_bar = true\nactive = false',
    )
    report = ws.build()
    assert any("no active confirmation step" in w.message for w in report.warnings)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# -- a full build on several cores ----------------------------------------------------------


@pytest.fixture
def forking(request, monkeypatch):
    """Record what each forked render returned.

    A process running other threads never forks (see ``_fork_is_safe``), and the
    whole suite leaves some behind; there the test runs again in a fresh process,
    which must pass, and the fixture gives None so the test body stops.
    """
    if not klbuild_build._fork_is_safe():
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", request.node.nodeid],
            cwd=request.config.rootpath,
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return None
    results = []
    real = klbuild_build._render_forked

    def spy(*args, **kwargs):
        results.append(real(*args, **kwargs))
        return results[-1]

    monkeypatch.setattr(klbuild_build, "_render_forked", spy)
    return results


def test_a_parallel_build_writes_the_same_bytes(ws, tmp_path, forking):
    if forking is None:
        return  # it ran, and passed, in a fresh process
    for index in range(5):
        ws.add_journey(f"j{index}", f"Journey {index}")
    report = Builder(ws.journeys, ws.site, processes=2).build()
    assert forking == [35]  # the first journey is rendered before forking
    assert report.pages_written == 42
    in_process = tmp_path / "in-process"
    Builder(ws.journeys, in_process, processes=1).build()
    assert ws.snapshot() == {
        p.relative_to(in_process).as_posix(): p.read_bytes()
        for p in sorted(in_process.rglob("*"))
        if p.is_file()
    }


def test_a_template_error_in_a_parallel_build_writes_nothing(ws, tmp_path, forking):
    if forking is None:
        return  # it ran, and passed, in a fresh process
    ws.add_journey("second", "Second journey")
    theme = tmp_path / "theme"
    (theme / "steps").mkdir(parents=True)
    # only the second journey fails: it is rendered in a child, after forking
    (theme / "steps" / "order.html").write_text(
        '{% if journey.key == "second" %}{{ no_such_variable }}{% endif %}\n'
    )
    with pytest.raises(ConfigError) as info:
        Builder(ws.journeys, ws.site, theme, processes=2).build()
    message = info.value.format_message()
    assert "cannot render second.toml: 'no_such_variable' is undefined" in message
    assert sorted(p.name for p in ws.root.iterdir()) == ["journeys", "theme"]


def test_a_failed_child_falls_back_to_rendering_in_process(ws, monkeypatch, forking):
    if forking is None:
        return  # it ran, and passed, in a fresh process
    ws.add_journey("second", "Second journey")

    def crash(*args):
        os._exit(3)

    monkeypatch.setattr(klbuild_build, "_render_child", crash)
    report = Builder(ws.journeys, ws.site, processes=2).build()
    assert forking == [None]
    assert report.pages_written == 14
    assert len(ws.pages()) == 14


def test_builds_from_another_thread_stay_in_process():
    counts = []
    thread = threading.Thread(target=lambda: counts.append(klbuild_build._processes(2, 1000)))
    thread.start()
    thread.join()
    assert counts == [1]
    assert klbuild_build._processes(None, klbuild_build.PARALLEL_MIN_JOURNEYS - 1) == 1


def _stylesheet(ws) -> tuple[str, str]:  # noqa: ANN001
    """The stylesheet a page links, and its content."""
    page = ws.page("cart")
    href = page.split('<link rel="stylesheet" href="', 1)[1].split('"', 1)[0]
    return href, (ws.site / href.lstrip("/")).read_text(encoding="utf-8")


def test_the_brand_colours_end_the_stylesheet_and_a_new_brand_is_a_new_url(ws) -> None:  # noqa: ANN001
    ws.build()
    plain_href, plain = _stylesheet(ws)
    assert "#0b5f4a" not in plain
    with (ws.journeys / "keylight.toml").open("a") as file:
        file.write('\n[brand]\ncolor = "#0b5f4a"\naccent = "#1a4fa0"\n')
    ws.build()
    href, css = _stylesheet(ws)
    assert href != plain_href  # cached forever by a CDN: a new brand is a new address
    assert css.startswith(plain) and css.rstrip().endswith(
        ":root{--brand:#0b5f4a;--accent:#1a4fa0}"
    )
    assert not (ws.site / plain_href.lstrip("/")).exists()  # the old one is gone
    assert all(href in html for html in ws.pages().values())


def test_the_logo_and_icon_are_published_with_digests(ws) -> None:  # noqa: ANN001
    with (ws.journeys / "keylight.toml").open("a") as file:  # the example's own files
        file.write('\n[brand]\nlogo = "brand/logo.svg"\nfavicon = "brand/icon.svg"\n')
    ws.build()
    published = {p.name.split(".")[0]: p for p in (ws.site / "assets").iterdir()}
    assert published["logo"].read_bytes() == (EXAMPLE / "brand" / "logo.svg").read_bytes()
    assert re.fullmatch(r"logo\.[0-9a-f]{8}\.svg", published["logo"].name)
    assert re.fullmatch(r"favicon\.[0-9a-f]{8}\.svg", published["favicon"].name)
    page = ws.page("cart")
    assert f'<img class="site-logo" src="/assets/{published["logo"].name}" alt="Acme Shop"' in page
    assert f'<link rel="icon" href="/assets/{published["favicon"].name}">' in page


def test_a_new_logo_is_published_and_linked_by_the_next_build(ws) -> None:  # noqa: ANN001
    """The dev server's builder keeps its renderer between saves: a changed image file
    (keylight.toml unchanged) still reaches every page."""
    with (ws.journeys / "keylight.toml").open("a") as file:
        file.write('\n[brand]\nlogo = "brand/logo.svg"\n')
    builder = Builder(ws.journeys, ws.site)
    builder.build()
    before = ws.page("cart")
    logo = ws.journeys / "brand" / "logo.svg"
    logo.write_text(logo.read_text().replace("Acme", "Acme Inc"))
    builder.build(changed={logo})
    [published] = (ws.site / "assets").glob("logo.*.svg")
    assert "Acme Inc" in published.read_text()
    assert f"/assets/{published.name}" in ws.page("cart") and ws.page("cart") != before


def test_assets_are_published_without_comments_and_still_whole(ws) -> None:  # noqa: ANN001
    """The sources keep their comments for people; the published files are smaller."""
    ws.build()
    templates = EXAMPLE.parent / "templates" / "assets"
    for published in (ws.site / "assets").glob("app.*"):
        source = (templates / ("app" + published.suffix)).read_text(encoding="utf-8")
        text = published.read_text(encoding="utf-8")
        assert "/*" in source and "/*" not in text
        assert len(text) < len(source) * 0.9
    js = next((ws.site / "assets").glob("app.*.js")).read_text(encoding="utf-8")
    # Strings and expressions survive, such as the state request's address.
    assert '"/state?step="' in js and "keptForThisPage" in js
