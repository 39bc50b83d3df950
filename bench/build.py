"""How fast klbuild builds a big shop, compared with the least any build could cost.

    .venv/bin/python bench/build.py [--journeys N]

Generates N journeys of seven steps in a temporary folder and prints, from one run:
pages per second for a full build; the floor (a bare Jinja2 render-and-write of
the same pages with a minimal template) and the ratio to it; the time to rebuild
after one journey file changes, in the same ``Builder`` and in a fresh ``build()``
reading the manifest; and the process's peak memory. Nothing is asserted: the
figures are for people comparing changes.
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

from jinja2 import Environment

from klbuild import config
from klbuild.build import Builder, _write, build

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

FLOOR_TEMPLATE = "<!doctype html><title>{{ title }}</title><p>{{ body }}</p>\n"


def make_journeys(folder: Path, count: int) -> None:
    folder.mkdir()
    for name in SHARED_FILES:
        shutil.copy(REPO / "journeys" / name, folder / name)
    for index in range(count):
        text = JOURNEY.format(index=index, unique=str(index % 2 == 0).lower())
        (folder / f"journey-{index:05d}.toml").write_text(text, encoding="utf-8")


def floor(journeys: Path, site: Path) -> tuple[float, int]:
    """Render a minimal template once per page and write it: what no build can beat."""
    shop = config.load(journeys)
    template = Environment(autoescape=True).from_string(FLOOR_TEMPLATE)
    started = time.perf_counter()
    pages = 0
    for key, journey in shop.journeys.items():
        for step in journey.active_steps:
            html = template.render(title=step.name, body=journey.name)
            _write(site / key / step.id / "index.html", html.encode("utf-8"))
            pages += 1
    return time.perf_counter() - started, pages


def change_one(journeys: Path, index: int, label: str) -> None:
    path = journeys / f"journey-{index:05d}.toml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace('name = "Cart"', f'name = "{label}"\nid = "cart"', 1))


def peak_memory_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--journeys", type=int, default=1000, help="journeys to generate")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="klbuild-bench-") as tmp:
        root = Path(tmp)
        journeys = root / "journeys"
        make_journeys(journeys, args.journeys)

        started = time.perf_counter()
        config.load(journeys)
        load_seconds = time.perf_counter() - started

        # Disk writeback of earlier phases would land on later ones: start each from a
        # clean page cache, and take the better of two floor runs (before and after).
        os.sync()
        floor_seconds, pages = floor(journeys, root / "floor-1")
        os.sync()
        report = build(journeys, root / "site")
        render_seconds = report.seconds - load_seconds
        os.sync()
        floor_seconds = min(floor_seconds, floor(journeys, root / "floor-2")[0])
        os.sync()

        builder = Builder(journeys, root / "dev-site")
        builder.build()
        change_one(journeys, args.journeys // 2, "Basket")
        in_process = builder.build()
        change_one(journeys, args.journeys // 3, "Trolley")
        fresh = build(journeys, root / "dev-site")

        print(f"journeys: {args.journeys}, pages: {report.pages_written} (floor wrote {pages})")
        print(
            f"full build:          {report.seconds:7.3f} s  {pages / report.seconds:8.0f} pages/s"
        )
        print(f"  of which loading:  {load_seconds:7.3f} s  (config.load, no cache)")
        print(
            f"  render and write:  {render_seconds:7.3f} s  {pages / render_seconds:8.0f} pages/s"
        )
        print(f"floor (bare Jinja2): {floor_seconds:7.3f} s  {pages / floor_seconds:8.0f} pages/s")
        print(f"ratio full / floor:           {report.seconds / floor_seconds:5.2f}")
        print(f"ratio render+write / floor:   {render_seconds / floor_seconds:5.2f}")
        print(
            f"rebuild, same Builder: {in_process.seconds * 1000:7.1f} ms  "
            f"({in_process.pages_written} pages written, journeys {in_process.changed_journeys})"
        )
        print(
            f"rebuild, fresh build(): {fresh.seconds * 1000:6.1f} ms  "
            f"({fresh.pages_written} pages written, journeys {fresh.changed_journeys})"
        )
        print(f"peak memory (max RSS): {peak_memory_mb():.0f} MB")


if __name__ == "__main__":
    main()
