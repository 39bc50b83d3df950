"""The loaded journeys, in one small object the dev server can swap after a rebuild.

Requests read ``current_app.extensions["keylight"].shop`` each time instead of
keeping their own reference, so ``set_shop`` or ``reload`` takes effect on the
next request without a restart.
"""

from __future__ import annotations

import threading
from pathlib import Path

from kljourney import Shop, load

from .hooks import startup
from .settings import SettingsError


class LoadedShop:
    """Holds the current ``Shop``; swapping it is atomic (one attribute assignment)."""

    def __init__(self, root: Path | str, shop: Shop | None = None) -> None:
        self.root = Path(root)
        self._lock = threading.Lock()
        self.shop: Shop
        if shop is None and not self.root.is_dir():
            raise SettingsError(
                f"KEYLIGHT_JOURNEYS: {self.root} is not a folder; set KEYLIGHT_JOURNEYS to the "
                "journeys folder the pages were built from"
            )
        self.set_shop(shop if shop is not None else load(self.root))

    def set_shop(self, shop: Shop) -> None:
        """Serve ``shop`` from the next request on (the dev server calls this after a build).

        A shop whose Python hooks cannot run is refused with ``SettingsError`` (at start
        too), and the old one stays in service.
        """
        startup.check_functions(shop)
        self.shop = shop

    def reload(self) -> Shop:
        """Read the journeys folder again; on a ``ConfigError`` the old shop stays in service."""
        with self._lock:
            shop = load(self.root)
            self.set_shop(shop)
            return shop
