import hashlib
from pathlib import Path

from kljourney import theme
from kljourney.theme import templates_folder


def test_builtin_templates_are_found_in_a_source_checkout():
    folder = templates_folder()
    assert (folder / "base.html").is_file()
    assert (folder / "assets" / "app.css").is_file()
    assert (folder / "assets" / "app.js").is_file()


def test_theme_is_searched_first(tmp_path: Path):
    assert theme.search_path(tmp_path) == [tmp_path, templates_folder()]
    assert theme.search_path(None) == [templates_folder()]


def test_a_theme_file_wins_over_the_builtin_one(tmp_path: Path):
    (tmp_path / "assets").mkdir()
    (tmp_path / "assets" / "app.css").write_text("body { color: red }")
    files = theme.resolve_files(theme.search_path(tmp_path))
    assert files["assets/app.css"] == tmp_path / "assets" / "app.css"
    assert files["base.html"] == templates_folder() / "base.html"
    assert list(files) == sorted(files)


def test_asset_names_carry_a_short_content_hash():
    asset = theme.Asset("app.css", b"body{}")
    short = hashlib.sha256(b"body{}").hexdigest()[:8]
    assert asset.hashed_name == f"app.{short}.css"
    assert asset.path == f"assets/app.{short}.css"
    assert theme.Asset("app.css", b"body{ }").hashed_name != asset.hashed_name


def test_asset_urls_follow_the_base_url():
    shared = {"app.css": theme.Asset("app.css", b"a"), "app.js": theme.Asset("app.js", b"b")}
    local = theme.asset_urls(shared, "/")
    assert local["css"].startswith("/assets/app.") and local["css"].endswith(".css")
    remote = theme.asset_urls(shared, "https://shop.example.com/")
    assert remote["js"] == "https://shop.example.com/" + shared["app.js"].path


def test_digest_changes_with_any_template_and_is_stable(tmp_path: Path):
    folder = tmp_path / "theme"
    folder.mkdir()
    folders = theme.search_path(folder)
    before = theme.templates_digest(theme.resolve_files(folders))
    assert before == theme.templates_digest(theme.resolve_files(folders))
    (folder / "base.html").write_text("{% block content %}{% endblock %}")
    assert theme.templates_digest(theme.resolve_files(folders)) != before


def test_dot_files_are_not_templates(tmp_path: Path):
    (tmp_path / ".base.html.swp").write_text("editor junk")
    assert ".base.html.swp" not in theme.resolve_files([tmp_path])
