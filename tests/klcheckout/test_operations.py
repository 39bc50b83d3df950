"""What an operator meets: settings that are missing, files that must stay private, forks."""

from __future__ import annotations

import os
import shutil
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from checkout_helpers import Backend, base_config, close_app, database
from click.testing import CliRunner
from serving import free_port, gunicorn, postgres_schema, stop
from sqlalchemy import text

from klcheckout import create_app, db, settings
from klcheckout.cli import cli


def production_env(tmp_path: Path, journeys: Path) -> dict[str, str]:
    return {
        "KEYLIGHT_ENV": "production",
        "KEYLIGHT_JOURNEYS": str(journeys),
        "KEYLIGHT_INSTANCE": str(tmp_path / "instance"),
        "KEYLIGHT_SECRET_KEYS": "s" * 48,
        "KEYLIGHT_SMTP_HOST": "127.0.0.1",
        "KEYLIGHT_SMTP_FROM": "Shop <shop@example.com>",
    }


def test_a_production_command_without_a_database_says_what_to_set(
    tmp_path: Path, journeys_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not an empty SQLite file made where the command ran, answering "No orders yet"."""
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["orders", "list"], env=production_env(tmp_path, journeys_dir))
    assert result.exit_code == 1
    assert "KEYLIGHT_DATABASE_URL is not set" in result.output
    assert "No orders yet" not in result.output and "Traceback" not in result.output
    assert not list(tmp_path.rglob("*.sqlite3"))


def test_a_missing_journeys_folder_names_its_variable(tmp_path: Path) -> None:
    env = {
        **production_env(tmp_path, tmp_path / "nowhere"),
        "KEYLIGHT_DATABASE_URL": f"sqlite:///{tmp_path / 'k.sqlite3'}",
    }
    result = CliRunner().invoke(cli, ["orders", "list"], env=env)
    assert result.exit_code == 1
    assert "KEYLIGHT_JOURNEYS" in result.output and "nowhere" in result.output


def test_the_sqlite_file_and_its_folder_are_private(tmp_path: Path, journeys_dir: Path) -> None:
    folder = tmp_path / "data"
    config = base_config(tmp_path, journeys_dir, f"sqlite:///{folder / 'k.sqlite3'}")
    del config["KEYLIGHT_SECRET_KEYS"]  # development: a secret is made in the instance folder
    app = create_app(config)
    try:
        with db.writing(app.extensions["keylight_db"]) as connection:  # makes the -wal file
            connection.execute(text("CREATE TABLE probe (x INTEGER)"))
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        for name in ("k.sqlite3", "k.sqlite3-wal"):
            assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600, name
        assert stat.S_IMODE((tmp_path / "instance").stat().st_mode) == 0o700
        assert stat.S_IMODE((tmp_path / "instance" / "dev-secret").stat().st_mode) == 0o600
    finally:
        close_app(app)


def test_pages_on_another_origin_need_allowed_origins_in_production(
    tmp_path: Path, journeys_dir: Path
) -> None:
    journeys = tmp_path / "journeys"
    shutil.copytree(journeys_dir, journeys)
    shop_file = journeys / "keylight.toml"
    site = shop_file.read_text()
    assert 'base_url = "/"' in site and 'api_url = "/api"' in site
    site = site.replace('base_url = "/"', 'base_url = "https://shop.example.com/"')
    shop_file.write_text(
        site.replace('api_url = "/api"', 'api_url = "https://api.example.com/api"')
    )
    config = base_config(tmp_path, journeys, f"sqlite:///{tmp_path / 'k.sqlite3'}")
    config["KEYLIGHT_ENV"] = "production"
    config["KEYLIGHT_SMTP_HOST"] = "127.0.0.1"
    config["KEYLIGHT_SMTP_FROM"] = "Shop <shop@example.com>"
    with pytest.raises(settings.SettingsError, match="KEYLIGHT_ALLOWED_ORIGINS=https://shop"):
        create_app(config)
    app = create_app({**config, "KEYLIGHT_ALLOWED_ORIGINS": ["https://shop.example.com"]})
    close_app(app)


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_a_forked_worker_opens_its_own_connections(
    kind: str, tmp_path: Path, journeys_dir: Path
) -> None:
    """gunicorn --preload forks after create_app: parent and child must not share a
    connection (on PostgreSQL that is one socket for two processes)."""
    with database(kind, tmp_path) as url:
        app = create_app(base_config(tmp_path, journeys_dir, url))
        engine = app.extensions["keylight_db"]
        try:
            with engine.connect() as connection:  # the pool now holds a connection
                connection.execute(text("SELECT 1"))
            pid = os.fork()
            if pid == 0:  # the child: use the database, then leave without cleanup
                code = 1
                try:
                    with engine.connect() as connection:
                        for _ in range(50):
                            connection.execute(text("SELECT 1")).scalar_one()
                    code = 0
                finally:
                    os._exit(code)
            for _ in range(50):
                with engine.connect() as connection:
                    assert connection.execute(text("SELECT 2")).scalar_one() == 2
            _, status = os.waitpid(pid, 0)
            assert os.waitstatus_to_exitcode(status) == 0
            with engine.connect() as connection:  # the parent's pool still works
                assert connection.execute(text("SELECT 3")).scalar_one() == 3
        finally:
            engine.dispose()


def test_durable_transactions_set_synchronous_commit_on(backend: Backend) -> None:
    if backend.kind != "postgresql":
        assert db.check_durability(backend.engine)["synchronous"] in (2, 3)
        return
    assert db.check_durability(backend.engine)["synchronous_commit"] == "on"
    with db.writing(backend.engine) as connection:
        assert connection.execute(text("SHOW synchronous_commit")).scalar() == "on"
    with db.writing(backend.engine, durable=False) as connection:
        assert connection.execute(text("SHOW synchronous_commit")).scalar() == "off"


def test_gunicorn_preload_workers_share_no_connection(tmp_path: Path, journeys_dir: Path) -> None:
    """``--preload`` opens the database in the master (migrations), then forks the workers."""
    with postgres_schema() as url:
        port = free_port()
        env = {
            "KEYLIGHT_JOURNEYS": str(journeys_dir),
            "KEYLIGHT_INSTANCE": str(tmp_path / "instance"),
            "KEYLIGHT_DATABASE_URL": url,
            "KEYLIGHT_SECRET_KEYS": "s" * 48,
        }
        process = gunicorn(env, port, "--preload", "--workers", "2", "--threads", "4")
        try:
            with ThreadPoolExecutor(8) as pool:
                answers = list(
                    pool.map(
                        lambda _: (
                            requests.get(
                                f"http://127.0.0.1:{port}/api/healthz",
                                headers={"Connection": "close"},
                                timeout=10,
                            ).status_code
                        ),
                        range(80),
                    )
                )
        finally:
            errors = stop(process)
        assert answers == [200] * 80, errors


def test_production_wants_the_shops_address_for_the_account_pages_links(
    tmp_path: Path, journeys_dir: Path
) -> None:
    # A sign-in link built from a request's Host would go wherever the request said.
    config = base_config(tmp_path, journeys_dir, f"sqlite:///{tmp_path / 'k.sqlite3'}")
    config.update(
        KEYLIGHT_ENV="production",
        KEYLIGHT_SMTP_HOST="127.0.0.1",
        KEYLIGHT_SMTP_FROM="Shop <shop@example.com>",
    )
    with pytest.raises(settings.SettingsError, match="base_url must be the shop's absolute"):
        create_app(config)
