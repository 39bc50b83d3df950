"""Settings: safe defaults, refusals in production, and docs that list every variable."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from checkout_helpers import head_revision

from klcheckout import create_app, db, settings

REPO = Path(__file__).resolve().parents[2]


def test_every_variable_is_documented() -> None:
    documented = (REPO / "docs" / "checkout-config.md").read_text()
    for name in settings.VARIABLES:
        assert f"`KEYLIGHT_{name}`" in documented, f"KEYLIGHT_{name} is missing from the docs"
        assert f"KEYLIGHT_{name}" in settings.__doc__


def test_production_refuses_to_start_without_a_real_secret(tmp_path: Path) -> None:
    config = settings.from_env({"KEYLIGHT_ENV": "production", "KEYLIGHT_INSTANCE": str(tmp_path)})
    with pytest.raises(settings.SettingsError, match="SECRET_KEYS is not set"):
        settings.finish(config)
    config["KEYLIGHT_SECRET_KEYS"] = ["short"]
    with pytest.raises(settings.SettingsError, match="at least 32 characters"):
        settings.finish(config)


def test_production_keeps_real_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The clock file is read by the process (``clock``), so it is refused from the process's
    # environment, whatever the configuration passed in says.
    monkeypatch.setenv("KEYLIGHT_CLOCK_FILE", str(tmp_path / "offset"))
    env = {"KEYLIGHT_ENV": "production", "KEYLIGHT_SECRET_KEYS": "s" * 48}
    config = settings.from_env({**env, "KEYLIGHT_DATABASE_URL": "sqlite:///x.sqlite3"})
    with pytest.raises(settings.SettingsError, match="CLOCK_FILE moves the clock"):
        settings.finish(config)
    monkeypatch.delenv("KEYLIGHT_CLOCK_FILE")
    settings.finish(config)


def test_answers_are_not_deleted_while_their_cart_is_valid(tmp_path: Path) -> None:
    env = {"KEYLIGHT_INSTANCE": str(tmp_path), "KEYLIGHT_CHECKOUT_RETENTION": "3600"}
    config = settings.from_env(env)
    with pytest.raises(settings.SettingsError, match="CHECKOUT_RETENTION.*CART_MAX_AGE"):
        settings.finish(config)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"KEYLIGHT_ENV": "staging"}, "expected 'development' or 'production'"),
        ({"KEYLIGHT_MAX_QUANTITY": "many"}, "expected a whole number"),
        ({"KEYLIGHT_MAX_QUANTITY": "0"}, "expected at least 1"),
    ],
)
def test_bad_settings_are_explained(env: dict[str, str], message: str) -> None:
    with pytest.raises(settings.SettingsError, match=message):
        settings.from_env(env)


def test_development_defaults_keep_a_generated_secret(tmp_path: Path) -> None:
    env = {"KEYLIGHT_INSTANCE": str(tmp_path), "KEYLIGHT_SECRET_KEYS": "new,old"}
    config = settings.from_env(env)
    settings.finish(config)
    assert (config["SECRET_KEY"], config["SECRET_KEY_FALLBACKS"]) == ("new", ["old"])
    first = settings.from_env({"KEYLIGHT_INSTANCE": str(tmp_path)})
    settings.finish(first)
    second = settings.from_env({"KEYLIGHT_INSTANCE": str(tmp_path)})
    settings.finish(second)
    assert first["SECRET_KEY"] == second["SECRET_KEY"] and len(first["SECRET_KEY"]) > 40
    assert first["KEYLIGHT_DATABASE_URL"] == f"sqlite:///{tmp_path / 'keylight.sqlite3'}"


def test_an_unreachable_database_is_explained_without_its_password(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"postgresql+psycopg://shop:hunter2secret@127.0.0.1:{port}/shop"
    with pytest.raises(settings.SettingsError) as info:
        db.open_database(url)
    message = str(info.value)
    assert message.startswith(
        f"cannot use the database postgresql+psycopg://shop:***@127.0.0.1:{port}/shop:"
    )
    assert "Check KEYLIGHT_DATABASE_URL and that the database server is running." in message
    assert "hunter2secret" not in message


def test_sqlite_is_durable_and_the_shop_can_be_swapped(tmp_path: Path) -> None:
    app = create_app(
        {
            "KEYLIGHT_INSTANCE": str(tmp_path),
            "KEYLIGHT_JOURNEYS": str(REPO / "journeys"),
            "KEYLIGHT_DATABASE_URL": f"sqlite:///{tmp_path / 'k.sqlite3'}",
        }
    )
    engine = app.extensions["keylight_db"]
    try:
        found = db.check_durability(engine)
        assert found == {
            "journal_mode": "wal",
            "synchronous": 2,
            "busy_timeout": db.BUSY_TIMEOUT_MS,
        }
        assert db.current_revision(engine) == head_revision()
        holder = app.extensions["keylight"]
        shop = holder.reload()
        holder.set_shop(shop)
        assert app.extensions["keylight"].shop is shop
    finally:
        engine.dispose()
