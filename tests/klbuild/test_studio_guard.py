"""Who the studio answers: this machine, by its own name, and writes only from its own page."""

from __future__ import annotations

import pytest

from klbuild.studio.guard import Guard, Refused, host_name, is_loopback


@pytest.mark.parametrize(
    ("host", "name"),
    [
        ("localhost:8000", "localhost"),
        ("LOCALHOST", "localhost"),
        ("127.0.0.1:8000", "127.0.0.1"),
        ("[::1]:8000", "::1"),
        ("[::1]", "::1"),
        ("shop.test:80", "shop.test"),
    ],
)
def test_host_name(host: str, name: str) -> None:
    assert host_name(host) == name


def test_loopback_addresses() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("127.8.9.1") and is_loopback("::1")
    assert not is_loopback("10.0.0.5") and not is_loopback("") and not is_loopback("x")


def test_reads_from_this_machine_by_its_names() -> None:
    guard = Guard("127.0.0.1")
    for host in ("localhost:8000", "127.0.0.1:8000", "[::1]:8000"):
        guard.check("GET", "127.0.0.1", host, None)


def test_another_machine_is_refused_unless_allowed() -> None:
    with pytest.raises(Refused, match="only on this machine.*--studio-remote"):
        Guard("0.0.0.0").check("GET", "192.168.1.20", "localhost:8000", None)
    remote = Guard("0.0.0.0", ["studio.lan"], remote=True)
    remote.check("GET", "192.168.1.20", "studio.lan:8000", None)
    remote.check("POST", "192.168.1.20", "studio.lan:8000", "http://studio.lan:8000")


def test_the_listening_address_is_a_name_of_this_server() -> None:
    Guard("192.168.1.5", remote=True).check("GET", "192.168.1.20", "192.168.1.5:8000", None)


def test_a_rebound_name_is_refused() -> None:
    with pytest.raises(Refused, match="does not answer to the name 'evil.example'"):
        Guard("127.0.0.1").check("GET", "127.0.0.1", "evil.example:8000", None)


@pytest.mark.parametrize(
    "origin",
    [
        None,
        "",
        "null",
        "http://evil.example",
        "http://localhost:9999",
        "file://",
        "http://127.0.0.1:8000",
    ],
)
def test_a_write_needs_this_servers_own_origin(origin: str | None) -> None:
    with pytest.raises(Refused):
        Guard("127.0.0.1").check("POST", "127.0.0.1", "localhost:8000", origin)


def test_a_write_from_the_studios_page() -> None:
    Guard("127.0.0.1").check("POST", "127.0.0.1", "localhost:8000", "http://localhost:8000")
