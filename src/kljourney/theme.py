"""Where templates come from, and the stylesheet and script every page shares.

``templates/`` holds every page, partial, asset and email a customer sees. The
static pages (``klbuild``) and what the backend renders (``klcheckout``: pages
for browsers without JavaScript, emails) come from it, so it ships with the core.

A shop's theme folder is searched before the built-in templates, file by file:
a theme overrides ``steps/form.html`` or ``assets/app.css`` by having a file of
that name and inherits everything else. The assets are published under a name
carrying a digest of their content, so a CDN may cache them forever and a
changed stylesheet is a new URL.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import rcssmin
import rjsmin

from . import i18n
from .model import Brand


def templates_folder() -> Path:
    """The built-in templates: packaged in a wheel, or at the top of a source checkout."""
    packaged = Path(__file__).parent / "templates"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "templates"


#: The shared files every page links, by their name under ``assets/``.
ASSET_NAMES = ("app.css", "app.js")
#: The files a shop's ``[brand]`` may add, by the field naming them.
BRAND_FILES = ("logo", "favicon")

#: Characters of the SHA-256 hex digest in an asset's file name.
HASH_LENGTH = 8


def search_path(theme: Path | None = None) -> list[Path]:
    """The folders templates and assets are looked up in, the theme first."""
    folders = [templates_folder()]
    if theme is not None:
        folders.insert(0, Path(theme))
    return folders


def resolve_files(folders: list[Path]) -> dict[str, Path]:
    """Every template and asset name, mapped to the file that wins for it.

    Sorted by name so that anything computed from it is the same on every run.
    """
    found: dict[str, Path] = {}
    for folder in folders:
        if not folder.is_dir():
            continue
        for path in folder.rglob("*"):
            if path.is_file() and not path.name.startswith("."):
                found.setdefault(path.relative_to(folder).as_posix(), path)
    return dict(sorted(found.items()))


def templates_digest(files: dict[str, Path]) -> str:
    """A digest of every template and asset in use: when it changes, every page may have."""
    digest = hashlib.sha256()
    for name, path in files.items():
        digest.update(name.encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:16]


def files_signature(files: dict[str, Path]) -> tuple[tuple[str, int, int, int], ...]:
    """(name, modification time, size, inode) of each file: cheap to compare between builds."""
    signature = []
    for name, path in files.items():
        stat = path.stat()
        signature.append((name, stat.st_mtime_ns, stat.st_size, stat.st_ino))
    return tuple(signature)


@dataclass(frozen=True)
class Asset:
    """One shared file, as published: ``assets/app.1a2b3c4d.css``."""

    name: str
    content: bytes

    @property
    def hashed_name(self) -> str:
        stem, _, suffix = self.name.rpartition(".")
        short = hashlib.sha256(self.content).hexdigest()[:HASH_LENGTH]
        return f"{stem}.{short}.{suffix}"

    @property
    def path(self) -> str:
        """Where the asset is written, relative to the site folder."""
        return f"assets/{self.hashed_name}"


def load_assets(files: dict[str, Path]) -> dict[str, Asset]:
    """The shared assets, each read from the folder that wins for it, as published:
    without comments and needless white space (the sources keep them for people; a
    page and its assets stay under 14 KB gzipped, the first round trip's worth)."""
    return {
        name: Asset(name, minified(name, files[f"assets/{name}"].read_bytes()))
        for name in ASSET_NAMES
    }


def minified(name: str, content: bytes) -> bytes:
    """A stylesheet or script as it is published."""
    if name.endswith(".css"):
        return rcssmin.cssmin(content)  # type: ignore[no-any-return]
    if name.endswith(".js"):
        return rjsmin.jsmin(content)  # type: ignore[no-any-return]
    return content


def branded(assets: dict[str, Asset], brand: Brand, root: Path) -> dict[str, Asset]:
    """The assets with the shop's ``[brand]``: its colours at the end of app.css (the
    pages keep one stylesheet, and a new brand is a new URL like any changed asset),
    its logo and icon (files in the journeys folder ``root``) as ``logo.*`` and
    ``favicon.*``."""
    found = dict(assets)
    stylesheet = brand.stylesheet()
    if stylesheet:
        css = assets["app.css"]
        rule = f"\n{stylesheet}\n".encode()
        found["app.css"] = Asset(css.name, css.content + rule)
    for role in BRAND_FILES:
        relative = getattr(brand, role)
        if relative:
            name = role + PurePosixPath(relative).suffix.lower()
            found[name] = Asset(name, (root / relative).read_bytes())
    return found


#: What a field's error starts with, written by the stylesheet (translated where used).
ERROR_WORD = i18n.N_("Error:")


def worded(
    assets: dict[str, Asset], locales: Iterable[str], folders: tuple[Path, ...] | list[Path]
) -> dict[str, Asset]:
    """The assets with app.css ending in the word each of the shop's ``locales`` starts a
    field's error with ("Fehler:" for a page in German): the error is said in words, not
    in colour alone, and in the page's language."""
    rules = []
    for locale in sorted(set(locales)):
        with i18n.speaking(locale, folders):
            word = i18n.gettext(ERROR_WORD).replace("\\", "\\\\").replace('"', '\\"')
        rules.append(f':lang({locale}) .field-error::before{{content:"⚠ {word} "}}')
    css = assets["app.css"]
    return {**assets, "app.css": Asset(css.name, css.content + ("\n".join(rules) + "\n").encode())}


def product_image(root: Path, relative: str) -> Asset:
    """A product's picture as published (``assets/starter.1a2b3c4d.png``), from its file
    in the journeys folder ``root``."""
    return Asset(PurePosixPath(relative).name, (root / relative).read_bytes())


def with_product_images(
    assets: dict[str, Asset], root: Path, images: dict[str, tuple[int, int]]
) -> dict[str, Asset]:
    """The assets and the products' pictures (``Shop.images``), by their files."""
    return {**assets, **{relative: product_image(root, relative) for relative in images}}


def asset_urls(assets: dict[str, Asset], base_url: str) -> dict[str, str]:
    """Each asset's URL as the pages reference it: under ``base_url``, absolute or rooted.

    Keyed ``css`` and ``js`` for the shared files, ``logo`` and ``favicon`` for the brand's,
    and by their file in the journeys folder for the products' pictures.
    """
    urls = {}
    for name, asset in assets.items():
        stem, _, suffix = name.rpartition(".")
        if name in ASSET_NAMES:
            urls[suffix] = base_url + asset.path
        elif stem in BRAND_FILES:
            urls[stem] = base_url + asset.path
        else:
            urls[name] = base_url + asset.path
    return urls
