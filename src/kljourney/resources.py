"""Files keylight ships besides its code: the built-in templates.

``templates/`` holds every page, partial, asset and email a customer sees. The
pages (``klbuild``) and the emails (``klcheckout``) are rendered from it, so it
belongs to neither: it is packaged with the core.
"""

from __future__ import annotations

from pathlib import Path


def templates_folder() -> Path:
    """The built-in templates: packaged in a wheel, or at the top of a source checkout."""
    packaged = Path(__file__).parent / "templates"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "templates"
