"""How fast klbuild builds a big shop, compared with the least any build could cost.

    .venv/bin/python bench/build.py [--journeys N]

Generates N journeys of seven steps in a temporary folder and prints, from one run:

- pages per second for a full build (the better of two, each into an empty folder),
  as ``klbuild build`` runs it (rendering in forked processes, one per core) and
  in-process (``Builder(processes=1)``, what the dev server does);
- the floor: a bare Jinja2 render-and-write of the same pages — the same step
  templates, in an environment made the same way, with every page's context
  prepared beforehand (outside the timing), each page written with open/write on
  one thread — and the ratio of the full build to it. The floor's files are
  compared with the build's, so both wrote the same bytes;
- for reference, the old floor: a one-line template per page, which measures the
  disk and the size of the templates rather than klbuild;
- the time to rebuild after one journey file changes, in the same ``Builder``
  (told which file changed, as the dev server does, and not told) and in a fresh
  ``build()`` reading the manifest;
- peak memory (max RSS) right after the first full build: this process's, and the
  largest of the rendering processes it forked.

Nothing is asserted: the figures are for people comparing changes.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from jinja2 import Environment, Template

import kljourney
from klbuild.build import Builder, _write, build
from kljourney import theme
from kljourney.pages import Renderer, make_environment

REPO = Path(__file__).resolve().parents[1]
SHARED_FILES = ("keylight.toml", "catalog.toml", "forms.toml")

JOURNEY = """\
name = "Journey {index}"
key = "j{index:05d}"
business_entity = "acme"

[[steps]]
name = "Choose a plan"
type = "product_selection"
product_selection = "plans"
unique_selection = {unique}
progress_bar = true

[[steps]]
name = "Cart"
type = "order"
progress_bar = true

[[steps]]
name = "Sign in"
type = "optional_authentication"

[[steps]]
name = "Your details"
type = "form"
form = "billing"
form_target = "sold_to_account"
progress_bar = true

[[steps]]
name = "Payment"
type = "payment_method"
progress_bar = true

[[steps]]
name = "Confirm"
type = "confirmation"
progress_bar = true

[[steps]]
name = "Done"
type = "order_done"
message_title = "Thank you, journey {index}"
message_body = "We have received your order. **Journey {index}** will email you."
progress_bar = true
"""

MINIMAL_TEMPLATE = "<!doctype html><title>{{ title }}</title><p>{{ body }}</p>\n"


def make_journeys(folder: Path, count: int) -> None:
    folder.mkdir()
    for name in SHARED_FILES:
        shutil.copy(REPO / "journeys" / name, folder / name)
    for index in range(count):
        text = JOURNEY.format(index=index, unique=str(index % 2 == 0).lower())
        (folder / f"journey-{index:05d}.toml").write_text(text, encoding="utf-8")


def prepare_pages(journeys: Path) -> list[tuple[str, Template, dict[str, Any]]]:
    """Every page the build writes, with its compiled template and finished context.

    The contexts come from klbuild's own ``Renderer`` (formatted prices, rendered
    form fields and all), so timing their render measures Jinja2 and nothing else.
    """
    shop = kljourney.load(journeys)
    folders = theme.search_path()
    shared = theme.load_assets(theme.resolve_files(folders))
    env = make_environment(folders)
    renderer = Renderer(env, shop, theme.asset_urls(shared, shop.site.base_url))
    pages = []
    for key in sorted(shop.journeys):
        for path, name, context in renderer.page_contexts(shop.journeys[key]):
            pages.append((path, env.get_template(name), context))
    return pages


def floor(pages: list[tuple[str, Template, dict[str, Any]]], site: Path) -> float:
    """Render each prepared page and write it, the simplest way: what no build can beat."""
    started = time.perf_counter()
    for path, template, context in pages:
        data = template.render(context).encode("utf-8")
        target = os.path.join(site, path)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "wb") as handle:
            handle.write(data)
    return time.perf_counter() - started


def same_pages(floor_site: Path, site: Path, pages: list[tuple[str, Any, Any]]) -> bool:
    """The floor wrote exactly the pages, byte for byte, that the build wrote."""
    built = sorted(p.relative_to(site).as_posix() for p in site.rglob("index.html"))
    if built != sorted(path for path, _, _ in pages):
        return False
    return all((floor_site / path).read_bytes() == (site / path).read_bytes() for path in built)


def minimal_floor(journeys: Path, site: Path) -> float:
    """The old floor: a one-line template per page. Measures the disk, not klbuild."""
    shop = kljourney.load(journeys)
    template = Environment(autoescape=True).from_string(MINIMAL_TEMPLATE)
    started = time.perf_counter()
    for key, journey in shop.journeys.items():
        for step in journey.active_steps:
            html = template.render(title=step.name, body=journey.name)
            _write(site / key / step.id / "index.html", html.encode("utf-8"))
    return time.perf_counter() - started


def change_one(journeys: Path, index: int, label: str) -> Path:
    """Rename one journey's cart step, as a marketer saving a file would; return the file."""
    path = journeys / f"journey-{index:05d}.toml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace('name = "Cart"', f'name = "{label}"\nid = "cart"', 1))
    return path


def peak_memory_mb(who: int = resource.RUSAGE_SELF) -> float:
    peak = resource.getrusage(who).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def in_process(journeys: Path, site: Path) -> Any:
    """A full build that renders in this process only."""
    return Builder(journeys, site, processes=1).build()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--journeys", type=int, default=1000, help="journeys to generate")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="klbuild-bench-") as tmp:
        root = Path(tmp)
        journeys = root / "journeys"
        make_journeys(journeys, args.journeys)

        started = time.perf_counter()
        kljourney.load(journeys)
        load_seconds = time.perf_counter() - started

        # Disk writeback of earlier phases would land on later ones: start each from a
        # clean page cache, alternate builds and floors, and take the better of two each.
        os.sync()
        first = build(journeys, root / "site")
        memory = peak_memory_mb()
        children_memory = peak_memory_mb(resource.RUSAGE_CHILDREN)
        os.sync()
        pages = prepare_pages(journeys)
        floor_seconds = floor(pages, root / "floor-1")
        os.sync()
        single = [in_process(journeys, root / "single-1")]
        os.sync()
        floor_seconds = min(floor_seconds, floor(pages, root / "floor-2"))
        identical = same_pages(root / "floor-2", root / "site", pages)
        del pages
        os.sync()
        second = build(journeys, root / "site-2")
        os.sync()
        single.append(in_process(journeys, root / "single-2"))
        os.sync()
        minimal_seconds = minimal_floor(journeys, root / "minimal")
        os.sync()
        report = min(first, second, key=lambda r: r.seconds)
        alone = min(single, key=lambda r: r.seconds)
        count = report.pages_written

        builder = Builder(journeys, root / "dev-site")
        builder.build()
        path = change_one(journeys, args.journeys // 2, "Basket")
        told = builder.build(changed={path})
        path = change_one(journeys, args.journeys // 4, "Bag")
        untold = builder.build()
        nothing = builder.build(changed=set())
        change_one(journeys, args.journeys // 3, "Trolley")
        fresh = build(journeys, root / "dev-site")

        def ms(report: Any) -> str:
            return (
                f"{report.seconds * 1000:7.1f} ms  ({report.pages_written} pages written, "
                f"journeys {report.changed_journeys})"
            )

        print(f"journeys: {args.journeys}, pages: {count}")
        print(
            f"full build:          {report.seconds:7.3f} s  {count / report.seconds:8.0f} pages/s"
        )
        print(f"  config.load (cold): {load_seconds:6.3f} s")
        print(
            f"floor (same pages):  {floor_seconds:7.3f} s  {count / floor_seconds:8.0f} pages/s"
            f"  (bare Jinja2 render + open/write; same bytes as the build: "
            f"{'yes' if identical else 'NO'})"
        )
        print(f"ratio full build / floor:     {report.seconds / floor_seconds:5.2f}")
        print(
            f"full build in-process: {alone.seconds:5.3f} s  {count / alone.seconds:8.0f} pages/s"
            f"  (ratio to the floor {alone.seconds / floor_seconds:.2f})"
        )
        print(
            f"minimal-template floor: {minimal_seconds:5.3f} s  (one-line template per page, "
            f"for reference; ratio {report.seconds / minimal_seconds:.2f})"
        )
        print(f"rebuild, same Builder, told what changed: {ms(told)}")
        print(f"rebuild, same Builder, not told:          {ms(untold)}")
        print(f"rebuild, same Builder, nothing changed:   {ms(nothing)}")
        print(f"rebuild, fresh build():                   {ms(fresh)}")
        print(
            f"peak memory after the first full build (max RSS): {memory:.0f} MB, "
            f"largest rendering process {children_memory:.0f} MB"
        )


if __name__ == "__main__":
    main()
