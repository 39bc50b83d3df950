"""The klbuild command line: messages for people, exit statuses for scripts."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from klbuild.cli import cli


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_check_a_valid_shop(ws) -> None:
    code, out, err = run("check", str(ws.journeys))
    assert code == 0
    assert out == f"{ws.journeys}: 1 journey, no problems.\n"
    assert err == ""


def test_check_reports_every_error_without_a_traceback(ws) -> None:
    ws.edit("self-service.toml", 'form = "billing"', 'form = "bill"')
    ws.edit("catalog.toml", 'billing = "monthly"', 'billing = "weekly"')
    code, out, err = run("check", str(ws.journeys))
    assert code == 1
    assert "Traceback" not in out + err
    lines = err.splitlines()
    assert lines[-1] == "2 errors; fix them and run again."
    assert any("unknown form 'bill'; did you mean 'billing'?" in line for line in lines)
    assert any(
        "'weekly' is not allowed; expected 'one_time', 'monthly' or 'yearly'" in line
        for line in lines
    )


def test_build_writes_the_site_and_says_so(ws) -> None:
    code, out, _ = run("build", str(ws.journeys), "--site", str(ws.site))
    assert code == 0
    assert out.startswith(f"Built 1 journey into {ws.site}/ in ")
    assert out.rstrip().endswith("7 pages written, 0 unchanged, 0 removed.")
    assert (ws.site / ws.key / "cart" / "index.html").is_file()


def test_build_with_errors_writes_nothing(ws) -> None:
    ws.edit("self-service.toml", 'type = "order"', 'type = "cart"')
    code, _, err = run("build", str(ws.journeys), "--site", str(ws.site))
    assert code == 1
    assert "unknown step type 'cart'" in err
    assert not ws.site.exists()


def test_warnings_are_printed_and_strict_makes_them_fatal(ws) -> None:
    ws.edit("self-service.toml", 'type = "confirmation"', 'type = "confirmation"\nactive = false')
    ws.edit(
        "self-service.toml",
        'confirmation_type = "direct"\nprogress_bar = true\nactive = true',
        'confirmation_type = "direct"\nprogress_bar = true',
    )
    code, _, err = run("check", str(ws.journeys))
    assert code == 0
    assert "warning: journey 'Self-Service Shop & Checkout': no active confirmation step" in err
    code, _, err = run("check", "--strict", str(ws.journeys))
    assert code == 1
    assert err.splitlines()[-1] == "1 warning; fix them and run again."


def test_missing_folder(tmp_path: Path) -> None:
    code, _, err = run("build", str(tmp_path / "nowhere"))
    assert code == 1
    assert "the journeys folder does not exist" in err


def test_theme_folder_must_exist(ws, tmp_path: Path) -> None:
    code, _, err = run("build", str(ws.journeys), "--templates", str(tmp_path / "theme"))
    assert code == 2
    assert "does not exist" in err
