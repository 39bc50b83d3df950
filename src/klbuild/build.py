"""Build a journeys folder into ``site/``: complete, deterministic and never half-written.

- A mistake in the files (or in a theme's templates) is reported before anything
  is written, so the previous site keeps working.
- The first build goes into a staging folder next to ``site/`` that is renamed
  into place; later builds re-render only the journeys whose version or templates
  changed, write only files whose bytes differ, and replace each with a rename.
- The same files always give the same bytes: no timestamps, sorted everything.
- Each page is written as soon as it is rendered, on the same thread: memory stays
  flat however big the site. (Writer threads were tried: after every system call
  they waited for the GIL held by the rendering thread, and the build got slower.)

``Builder`` keeps what it learnt between builds (parsed files, compiled
templates, the manifest), so the dev server rebuilds one saved journey in
milliseconds; ``build()`` is the one-shot form the CLI uses.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
from jinja2 import Environment, TemplateError, TemplateSyntaxError

import kljourney
from kljourney import i18n, theme
from kljourney.errors import ConfigError, Problem
from kljourney.model import Journey, Site
from kljourney.pages import Renderer, make_environment

#: Records what was built, so the next build knows what it may skip and delete.
MANIFEST = ".klbuild.json"
MANIFEST_FORMAT = 1
#: Cache rules for Netlify and Cloudflare Pages. Assets are named by their content,
#: so they may be kept forever; pages must be checked on every visit.
HEADERS_FILE = "_headers"
HEADERS = """\
/assets/*
  Cache-Control: public, max-age=31536000, immutable

/:journey/:step/
  Cache-Control: public, max-age=0, must-revalidate

/:journey/:step/index.html
  Cache-Control: public, max-age=0, must-revalidate
"""
STAGING_SUFFIX = ".klbuild-tmp"


class BuildError(click.ClickException):
    """The build could not write its output (a full disk, a read-only folder...)."""


@dataclass
class BuildReport:
    """What a build did, for the CLI's summary line and the dev server's reload decision."""

    pages_written: int = 0
    pages_unchanged: int = 0
    pages_removed: int = 0
    #: Keys of the journeys whose pages were rendered, sorted.
    journeys_rendered: list[str] = field(default_factory=list)
    #: Keys of the journeys that are gone, their pages deleted, sorted.
    journeys_removed: list[str] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    seconds: float = 0.0
    #: The shop that was built; the dev server hands it to the checkout backend.
    shop: kljourney.Shop | None = None

    @property
    def changed_journeys(self) -> list[str]:
        """Journeys whose pages may look different now: what a browser showing them reloads."""
        return sorted(set(self.journeys_rendered) | set(self.journeys_removed))

    @property
    def changed(self) -> bool:
        return bool(self.pages_written or self.pages_removed)

    def describe(self, site: Path) -> str:
        """The CLI's summary line."""
        journeys = len(self.shop.journeys) if self.shop else 0
        return (
            f"Built {journeys} journey{'s' if journeys != 1 else ''} into {site}/ "
            f"in {self.seconds:.2f} s: {self.pages_written} pages written, "
            f"{self.pages_unchanged} unchanged, {self.pages_removed} removed."
        )


def build(journeys: Path, site: Path, templates: Path | None = None) -> BuildReport:
    """Build once: what ``klbuild build`` runs. Reads the manifest a previous build left."""
    return Builder(journeys, site, templates).build()


def local_site(site: Site) -> Site:
    """The site as the dev server serves it: pages at ``/``, the backend at its path.

    A shop published to ``https://shop.example.com/`` with its backend on another
    host still previews on one local origin, with nothing fetched from production.
    """
    local = site.model_copy(update={"base_url": "/", "api_url": site.api_path or "/api"})
    local._prefix = site.language_folder
    return local


class Builder:
    """Builds the same journeys folder into the same site again and again.

    Between builds it keeps the loader's cache, the compiled templates (recompiled
    only when a template file changes) and the manifest of the last build.
    """

    def __init__(
        self,
        journeys: Path,
        site: Path,
        templates: Path | None = None,
        *,
        preview: bool = False,
        processes: int | None = None,
    ) -> None:
        self.journeys = Path(journeys)
        #: For the dev server: pages and backend on its own origin, whatever the site says.
        self.preview = preview
        #: Processes that render a full build: None to choose, 1 to stay in this one.
        self.processes = processes
        self.site = Path(site)
        self.templates = Path(templates) if templates is not None else None
        self.load_cache = kljourney.LoadCache()
        self._env: Environment | None = None
        self._env_digest = ""
        self._manifest: dict[str, Any] | None = None
        self._renderer: Renderer | None = None
        self._renderer_key: tuple[str, str, tuple[str, ...]] = ("", "", ())
        self._theme: tuple[str, dict[str, theme.Asset]] = ("", {})
        self._theme_signature: tuple[tuple[str, int, int, int], ...] | None = None

    def build(self, changed: Iterable[Path] | None = None) -> BuildReport:
        """Load, render and write; raises ``ConfigError`` (nothing written) on any mistake.

        ``changed`` is for a caller that knows which files changed since the last
        build, as the dev server's watcher does: the loader then takes the other
        journey files as they were instead of looking at each one (it still lists
        the folder, so added and removed files are noticed). ``None`` checks all.
        """
        started = time.perf_counter()
        if changed is not None:
            self.load_cache.trust_unchanged(changed)
        shop = kljourney.load(self.journeys, assign_keys=True, cache=self.load_cache)
        if self.preview:
            for each in {id(each): each for each in (shop, *shop.languages.values())}.values():
                each.site = local_site(each.site)
        files = theme.resolve_files(theme.search_path(self.templates))
        self._check_theme(files)
        digest, shared = self.read_theme(files)
        shared = theme.worded(
            shared, {shop.site.locale, *shop.languages}, theme.search_path(self.templates)
        )
        shared = theme.branded(shared, shop.brand, shop.root)
        shared = theme.with_product_images(shared, shop.root, shop.images)
        renderer = self.renderer(shop, digest, shared)
        report = BuildReport(warnings=list(shop.warnings), shop=shop)
        if _is_empty(self.site):
            self._full_build(shop.journeys, renderer, digest, shared, report)
        else:
            self._update(shop.journeys, renderer, digest, shared, report)
        report.seconds = time.perf_counter() - started
        return report

    def read_theme(self, files: dict[str, Path]) -> tuple[str, dict[str, theme.Asset]]:
        """The templates' digest and the shared assets, read again only when a file changed.

        Reading every template to digest it cost more than rendering a saved
        journey's pages; each file's modification time, size and inode tell whether
        it changed, as they do for the journey files.
        """
        signature = theme.files_signature(files)
        if signature != self._theme_signature:
            i18n.forget()  # the catalogs (locale/) are among the theme's files
            self._theme = (theme.templates_digest(files), theme.load_assets(files))
            self._theme_signature = signature
        return self._theme

    def environment(self, digest: str) -> Environment:
        """The compiled templates, made anew only when a template file changed."""
        if self._env is None or digest != self._env_digest:
            self._env = make_environment(theme.search_path(self.templates))
            self._env_digest = digest
        return self._env

    def renderer(
        self, shop: kljourney.Shop, digest: str, shared: dict[str, theme.Asset]
    ) -> Renderer:
        """A renderer for ``shop``, keeping what it formatted while shared files are unchanged.

        Formatted products and rendered forms depend only on the templates and the
        shared files (shop, catalog, forms), so a saved journey reuses them.
        """
        # The brand's files are read on each build: a new logo is a new address too.
        key = (digest, shop.shared_digest, tuple(sorted(a.path for a in shared.values())))
        if self._renderer is None or key != self._renderer_key:
            urls = theme.asset_urls(shared, shop.site.base_url)
            self._renderer = Renderer(self.environment(digest), shop, urls)
            self._renderer_key = key
        else:
            self._renderer.shop = shop
        return self._renderer

    def _check_theme(self, files: dict[str, Path]) -> None:
        if self.templates is not None and not self.templates.is_dir():
            raise ConfigError([Problem(str(self.templates), "the templates folder does not exist")])
        missing = [name for name in theme.ASSET_NAMES if f"assets/{name}" not in files]
        if missing:
            raise ConfigError(
                [Problem(str(self.templates or "templates"), f"missing assets/{missing[0]}")]
            )

    # -- the first build: everything into a staging folder, renamed into place -------

    def _full_build(
        self,
        journeys: dict[str, Journey],
        renderer: Renderer,
        digest: str,
        shared: dict[str, theme.Asset],
        report: BuildReport,
    ) -> None:
        self.site.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(
            tempfile.mkdtemp(dir=self.site.parent, prefix=f".{self.site.name}.", suffix=".staging")
        )
        try:
            os.chmod(staging, 0o755)
            manifest = _new_manifest(digest, shared)
            manifest["languages"] = _language_folders(renderer)
            ordered = [journeys[key] for key in sorted(journeys)]
            written = None
            processes = _processes(self.processes, len(ordered))
            if processes > 1:
                # The first journey here: the templates it compiles and what it formats
                # are inherited by the children and kept for the next rebuild.
                first = _render_into(renderer, ordered[:1], staging)
                rest = _render_forked(renderer, ordered[1:], staging, processes)
                written = None if rest is None else first + rest
            if written is None:
                written = _render_into(renderer, ordered, staging)
            report.pages_written = written
            for journey in ordered:
                manifest["journeys"][journey.key] = _manifest_entry(journey)
                report.journeys_rendered.append(journey.key)
            for path, html in renderer.shared_pages():
                _write(staging / path, html.encode("utf-8"))
                manifest["pages"].append(path)
                report.pages_written += 1
            for asset in shared.values():
                _write(staging / asset.path, asset.content)
            _write(staging / HEADERS_FILE, HEADERS.encode())
            _write(staging / MANIFEST, _dump_manifest(manifest))
            if self.site.is_dir():
                self.site.rmdir()  # empty: checked by the caller
            os.replace(staging, self.site)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        self._manifest = manifest

    # -- later builds: only what changed, each file replaced by a rename --------------

    def _update(
        self,
        journeys: dict[str, Journey],
        renderer: Renderer,
        digest: str,
        shared: dict[str, theme.Asset],
        report: BuildReport,
    ) -> None:
        old = self._manifest if self._manifest is not None else _read_manifest(self.site)
        manifest = _new_manifest(digest, shared)
        manifest["languages"] = _language_folders(renderer)
        # The pages link the assets by names carrying their digest: a changed asset (a
        # new [brand] at the end of the stylesheet) changes every page, as templates do.
        same_templates = old.get("templates") == digest and old.get("assets") == manifest["assets"]
        staging = self.site / f".staging{STAGING_SUFFIX}"
        shutil.rmtree(staging, ignore_errors=True)
        #: (staged file, path under the site): staged flat, so no folder is made or removed.
        pending: list[tuple[Path, str]] = []
        try:
            for key in sorted(journeys):
                journey = journeys[key]
                previous = old["journeys"].get(key)
                if same_templates and previous and previous["version"] == journey.version:
                    # the version covers the steps too: the pages are as they were
                    manifest["journeys"][key] = previous
                    continue
                manifest["journeys"][key] = _manifest_entry(journey)
                report.journeys_rendered.append(key)
                for path, html in _render(renderer, journey):
                    data = html.encode("utf-8")
                    if _read(self.site / path) == data:
                        report.pages_unchanged += 1
                        continue
                    staged = staging / f"{len(pending)}.html"
                    _write(staged, data)
                    pending.append((staged, path))
            # Everything rendered: now move it into place, one rename per file.
            for staged, path in pending:
                target = self.site / path
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(staged, target)
                report.pages_written += 1
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        report.journeys_removed = sorted(set(old["journeys"]) - set(journeys))
        self._remove_stale(old, manifest, report)
        for folder in sorted(set(old.get("languages", [])) - set(manifest["languages"])):
            if folder:  # a language the shop no longer speaks: its whole folder goes
                shutil.rmtree(self.site / folder, ignore_errors=True)
        for path, html in renderer.shared_pages():
            manifest["pages"].append(path)
            if _write_if_changed(self.site / path, html.encode("utf-8")):
                report.pages_written += 1
        for stale in sorted(set(old.get("pages", [])) - set(manifest["pages"])):
            (self.site / stale).unlink(missing_ok=True)
            _remove_empty((self.site / stale).parent, self.site)
        for asset in shared.values():
            _write_if_changed(self.site / asset.path, asset.content)
        for stale in sorted(set(old.get("assets", [])) - set(manifest["assets"])):
            (self.site / stale).unlink(missing_ok=True)
        _write_if_changed(self.site / HEADERS_FILE, HEADERS.encode())
        if manifest != old or not (self.site / MANIFEST).is_file():  # encoding it is not free
            _write_if_changed(self.site / MANIFEST, _dump_manifest(manifest))
        self._manifest = manifest

    def _remove_stale(self, old: dict[str, Any], new: dict[str, Any], report: BuildReport) -> None:
        """Delete the pages of removed journeys and of steps that are gone or inactive.

        Only journeys that were rendered or removed can have lost a page.
        """
        for key in sorted(set(report.journeys_rendered) | set(report.journeys_removed)):
            entry = old["journeys"].get(key, {})
            kept = set(new["journeys"].get(key, {}).get("steps", []))
            for step_id in entry.get("steps", []):
                if step_id in kept:
                    continue
                for folder in old.get("languages", [""]):
                    page = self.site / folder / key / step_id / "index.html"
                    if page.exists():
                        page.unlink()
                        report.pages_removed += 1
                    _remove_empty(page.parent, self.site)


def _render(renderer: Renderer, journey: Journey) -> Iterator[tuple[str, str]]:
    """The journey's pages; a template mistake becomes a ``ConfigError`` naming the file."""
    try:
        yield from renderer.pages(journey)
    except TemplateSyntaxError as exc:
        raise ConfigError(
            [Problem(exc.filename or exc.name or "template", exc.message or str(exc), exc.lineno)]
        ) from None
    except TemplateError as exc:
        raise ConfigError(
            [
                Problem(
                    "templates",
                    f"cannot render {journey.source}: {exc.message or exc}",
                    journey=journey.name,
                )
            ]
        ) from None


def _render_into(renderer: Renderer, journeys: list[Journey], folder: Path) -> int:
    """Render and write the pages of ``journeys`` under ``folder``; return how many."""
    written = 0
    for journey in journeys:
        for path, html in _render(renderer, journey):
            _write(folder / path, html.encode("utf-8"))
            written += 1
    return written


# -- a full build on several cores --------------------------------------------------------

#: Fewer journeys than this render in-process: starting processes would cost more.
PARALLEL_MIN_JOURNEYS = 200
#: At most this many processes: past a few, the disk is the limit, not the cores.
PARALLEL_MAX_PROCESSES = 4


def _processes(requested: int | None, journeys: int) -> int:
    """How many processes render a full build; 1 unless forking is safe and worth it."""
    if requested == 1 or not _fork_is_safe():
        return 1
    if requested is None:
        if journeys < PARALLEL_MIN_JOURNEYS:
            return 1
        requested = min(_cpu_count(), PARALLEL_MAX_PROCESSES)
    return max(1, min(requested, journeys))


def _fork_is_safe() -> bool:
    """Only a process running one thread may fork.

    A forked child gets a copy of the calling thread alone; a lock another thread
    held (a logging handler, the dev server's event queue) would stay locked in
    it forever. So the dev server, whose watcher thread runs the rebuilds, always
    renders in-process.
    """
    return (
        "fork" in multiprocessing.get_all_start_methods()
        and threading.current_thread() is threading.main_thread()
        and threading.active_count() == 1
    )


def _cpu_count() -> int:
    """The cores this process may run on, which a container may limit below the machine's."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _render_forked(
    renderer: Renderer, journeys: list[Journey], folder: Path, processes: int
) -> int | None:
    """Render ``journeys`` in forked processes, each writing a run of them under ``folder``.

    The children inherit the loaded shop and compiled templates, so nothing is
    sent to them; each sends back its page count or the problems of the first
    journey it could not render. Every page's bytes depend only on its journey,
    so the output is the same as in-process. A mistake in the files is raised as
    the ``ConfigError`` an in-process build would raise first. Any other failure
    (fork refused, a child killed or failing) returns None, and the caller renders
    everything in-process, where a real problem such as a full disk shows as itself.
    """
    context = multiprocessing.get_context("fork")
    size = -(-len(journeys) // processes)
    runs = [journeys[start : start + size] for start in range(0, len(journeys), size)]
    children: list[tuple[Any, Any]] = []
    outcomes: list[tuple[str, Any]] = []
    try:
        for run in runs:
            receiver, sender = context.Pipe(duplex=False)
            child = context.Process(
                target=_render_child, args=(renderer, run, folder, sender), daemon=True
            )
            children.append((child, receiver))
            child.start()
            sender.close()
        for child, receiver in children:
            try:
                outcomes.append(receiver.recv())
            except EOFError:
                outcomes.append(("failed", "exited without a word"))
            child.join()
    except OSError:
        return None
    finally:
        for child, receiver in children:
            receiver.close()
            if child.is_alive():
                child.terminate()
                child.join()
    for kind, value in outcomes:  # runs are in key order, as an in-process build goes
        if kind == "problems":
            raise ConfigError(value)
        if kind != "written":
            return None
    return sum(value for _, value in outcomes)


def _render_child(renderer: Renderer, journeys: list[Journey], folder: Path, sender: Any) -> None:
    """In a forked process: render and write ``journeys``, then say how it went."""
    try:
        sender.send(("written", _render_into(renderer, journeys, folder)))
    except ConfigError as exc:
        sender.send(("problems", exc.problems))
    except BaseException as exc:
        sender.send(("failed", f"{type(exc).__name__}: {exc}"))
    finally:
        sender.close()


def _language_folders(renderer: Renderer) -> list[str]:
    """The folder of each language's pages ("" for the default language's, at the top)."""
    return [each.shop.site.language_folder for each in renderer.in_each_language()]


def _new_manifest(digest: str, shared: dict[str, theme.Asset]) -> dict[str, Any]:
    return {
        "format": MANIFEST_FORMAT,
        "templates": digest,
        "assets": sorted(asset.path for asset in shared.values()),
        "journeys": {},
        #: The shop's own pages (the account page), by path under the site folder.
        "pages": [],
    }


def _manifest_entry(journey: Journey) -> dict[str, Any]:
    return {"version": journey.version, "steps": [step.id for step in journey.active_steps]}


def _read_manifest(site: Path) -> dict[str, Any]:
    """The last build's manifest; an unreadable one means "rebuild everything"."""
    empty: dict[str, Any] = {"journeys": {}}
    try:
        data = json.loads((site / MANIFEST).read_bytes())
    except (OSError, ValueError):
        return empty
    if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT:
        return empty
    if not isinstance(data.get("journeys"), dict):
        return empty
    return data


def _dump_manifest(manifest: dict[str, Any]) -> bytes:
    return (json.dumps(manifest, sort_keys=True, separators=(",", ":")) + "\n").encode()


def _is_empty(site: Path) -> bool:
    """True when there is nothing to keep: the site folder is missing or empty."""
    if not site.exists():
        return True
    if not site.is_dir():
        raise BuildError(f"{site} is a file; the site must be written into a folder")
    with os.scandir(site) as entries:  # stops at the first entry; iterdir lists them all
        return next(entries, None) is None


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def _write(path: Path, data: bytes) -> None:
    """Write a new file (in a folder no one reads yet), creating its folder."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


def _write_if_changed(path: Path, data: bytes) -> bool:
    """Replace ``path`` by a rename, and only when its bytes differ."""
    if _read(path) == data:
        return False
    tmp = path.with_name(f".{path.name}{STAGING_SUFFIX}")
    try:
        _write(tmp, data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return True


def _remove_empty(folder: Path, stop: Path) -> None:
    """Remove ``folder`` and its parents up to ``stop`` while they are empty."""
    while folder != stop and folder.is_dir() and next(folder.iterdir(), None) is None:
        folder.rmdir()
        folder = folder.parent
