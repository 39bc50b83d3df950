"""The ``klbuild`` command: wiring only; each command's work lives in its own module."""

from __future__ import annotations

from pathlib import Path

import click

import kljourney
from kljourney.errors import ConfigError, Problem, summary

journeys_argument = click.argument(
    "journeys",
    default="journeys",
    type=click.Path(path_type=Path, file_okay=True, dir_okay=True),
)
site_option = click.option(
    "--site",
    default="site",
    type=click.Path(path_type=Path, file_okay=False),
    help="Where to write the pages (default: ./site).",
)
templates_option = click.option(
    "--templates",
    type=click.Path(path_type=Path, exists=True, file_okay=False),
    help="A theme folder; its templates replace the built-in ones of the same name.",
)
strict_option = click.option(
    "--strict/--no-strict",
    default=False,
    help="Treat warnings as errors (exit status 1).",
)


@click.group()
@click.version_option(package_name="keylight-journeys")
def cli() -> None:
    """Build Order Journeys, written as TOML files, into static pages."""


@cli.command()
@journeys_argument
@strict_option
def check(journeys: Path, strict: bool) -> None:
    """Validate the journey files in JOURNEYS (default: ./journeys) and report every problem."""
    shop = _load(journeys, assign_keys=False, strict=strict)
    count = len(shop.journeys)
    click.echo(f"{journeys}: {count} journey{'s' if count != 1 else ''}, {summary(shop.warnings)}.")


@cli.command()
@journeys_argument
@site_option
@templates_option
@strict_option
def build(journeys: Path, site: Path, templates: Path | None, strict: bool) -> None:
    """Build the journeys in JOURNEYS (default: ./journeys) into static pages."""
    from .build import build as run_build

    if strict:
        _load(journeys, assign_keys=False, strict=True)
    report = run_build(journeys, site, templates)
    _show_warnings(report.warnings)
    click.echo(report.describe(site))


@cli.command()
@journeys_argument
@site_option
@templates_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", default=8000, show_default=True, help="Port to listen on; 0 picks a free one."
)
@click.option(
    "--open/--no-open",
    "open_browser",
    default=None,
    help="Open the list of journeys in the browser (default: when a display exists).",
)
@click.option(
    "--poll",
    is_flag=True,
    help="Poll for changes instead of waiting for file events (network mounts, containers).",
)
@click.option(
    "--studio/--no-studio",
    default=True,
    help="Serve the studio, which edits the journey files, at /__klbuild/studio/ (default: on).",
)
@click.option(
    "--studio-remote",
    is_flag=True,
    help="Let the studio answer other machines too (it answers only this one by default).",
)
@click.option(
    "--allow-host",
    "allow_hosts",
    multiple=True,
    metavar="NAME",
    help="A host name the studio answers to besides localhost (repeatable).",
)
def serve(
    journeys: Path,
    site: Path,
    templates: Path | None,
    host: str,
    port: int,
    open_browser: bool | None,
    poll: bool,
    studio: bool,
    studio_remote: bool,
    allow_hosts: tuple[str, ...],
) -> None:
    """Build JOURNEYS, serve the pages with the checkout backend, and reload on every save."""
    from .serve import serve as run_serve

    run_serve(
        journeys,
        site,
        templates,
        host=host,
        port=port,
        open_browser=open_browser,
        poll=poll,
        studio=studio,
        studio_remote=studio_remote,
        allow_hosts=allow_hosts,
    )


def _load(journeys: Path, *, assign_keys: bool, strict: bool) -> kljourney.Shop:
    shop = kljourney.load(journeys, assign_keys=assign_keys)
    if strict and shop.warnings:
        raise ConfigError(shop.warnings)
    _show_warnings(shop.warnings)
    return shop


def _show_warnings(warnings: list[Problem]) -> None:
    for warning in warnings:
        click.echo(str(warning), err=True)
