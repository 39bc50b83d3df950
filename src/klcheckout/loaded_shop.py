"""The loaded journeys, in one small object the dev server can swap after a rebuild.

Requests read ``current_app.extensions["keylight"].shop`` each time instead of
keeping their own reference, so ``set_shop`` or ``reload`` takes effect on the
next request without a restart.
"""

from __future__ import annotations

import threading
from pathlib import Path

from kljourney import Shop, i18n, load, theme
from kljourney.pages import Renderer, make_environment

from .hooks import startup
from .settings import SettingsError


class LoadedShop:
    """Holds the current ``Shop``; swapping it is atomic (one attribute assignment)."""

    def __init__(self, root: Path | str, shop: Shop | None = None, templates: str = "") -> None:
        self.root = Path(root)
        #: The theme folder the pages were built with ("" for none).
        self.templates = Path(templates) if templates else None
        #: Where templates and catalogs are looked up, the theme first.
        self.folders = tuple(theme.search_path(self.templates))
        self._lock = threading.Lock()
        self._renderer: Renderer | None = None
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
        # A new build may come with new words (the theme's catalogs): read them again.
        i18n.forget()
        self.shop = shop

    def reload(self) -> Shop:
        """Read the journeys folder again; on a ``ConfigError`` the old shop stays in service."""
        with self._lock:
            shop = load(self.root)
            self.set_shop(shop)
            return shop

    def renderer(self) -> Renderer:
        """The pages of the current shop, for a browser without JavaScript: the same
        templates and asset URLs as the built site, made again when the shop changes."""
        shop = self.shop
        renderer = self._renderer
        if renderer is None or renderer.shop is not shop:
            folders = theme.search_path(self.templates)
            assets = theme.load_assets(theme.resolve_files(folders))
            assets = theme.worded(assets, {shop.site.locale, *shop.languages}, folders)
            assets = theme.branded(assets, shop.brand, shop.root)
            assets = theme.with_product_images(assets, shop.root, shop.images)
            env = renderer.env if renderer is not None else make_environment(folders)
            renderer = Renderer(env, shop, theme.asset_urls(assets, shop.site.base_url))
            self._renderer = renderer
        return renderer
