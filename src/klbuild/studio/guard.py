"""Who may talk to the studio: this machine, by a name that means this machine.

The studio writes files, so a page on any other site must not be able to make
a browser do it. Three checks, each against one attack:

- the client's address is loopback (another machine on the network), unless the
  server was started to be reached from elsewhere (``--studio-remote``);
- the ``Host`` header names this server (a DNS rebinding page whose own name now
  points at 127.0.0.1 sends its name, not ours);
- a write's ``Origin`` is this server's own origin (a form on another site posting
  here sends that site's origin; a browser always sends Origin with a POST).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from urllib.parse import urlsplit

#: The names that always mean this machine.
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


class Refused(Exception):
    """A request the studio does not answer; ``str()`` says why, for the person."""


def host_name(host: str) -> str:
    """``localhost`` from ``localhost:8000``, ``::1`` from ``[::1]:8000``, lowercased."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address.split("%")[0]).is_loopback
    except ValueError:
        return False


class Guard:
    """Checks every request to the studio; ``check`` raises ``Refused``."""

    def __init__(self, listen_host: str, extra_hosts: Iterable[str] = (), remote: bool = False):
        self.remote = remote
        self.hosts = set(LOOPBACK_NAMES) | {host_name(h) for h in extra_hosts if h}
        if listen_host not in ("", "0.0.0.0", "::"):
            self.hosts.add(host_name(listen_host))

    def check(self, method: str, client: str, host: str, origin: str | None) -> None:
        if not self.remote and not is_loopback(client):
            raise Refused(
                "the studio answers only on this machine; start klbuild serve with "
                "--studio-remote to edit from another one"
            )
        if host_name(host) not in self.hosts:
            raise Refused(
                f"the studio does not answer to the name {host_name(host)!r}; open it as "
                "http://localhost:PORT/__klbuild/studio/ (or name the host with --allow-host)"
            )
        if method in ("GET", "HEAD"):
            return
        if not origin or origin == "null":
            raise Refused("a change must come from the studio's own page (no Origin was sent)")
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or parts.netloc.lower() != host.lower():
            raise Refused(f"a change from {origin} is not accepted; use the studio's own page")
