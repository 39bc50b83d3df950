"""Turn a validated journey into the HTML of its step pages.

Python decides *what* a page shows (which steps are in the progress bar and
which are done, the prices in the shop's locale, the countries in its language)
and the templates decide *how*. Everything shared by many journeys — formatted
prices, Markdown, the country list — is computed once per build and reused, so
a shop of a thousand journeys costs little more than writing its files.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template
from markupsafe import Markup

from .countries import countries
from .model import (
    FormStep,
    Journey,
    PaymentMethodStep,
    ProductSelectionStep,
    Site,
    StepBase,
)
from .money import format_price
from .shop import Shop
from .text import markdown


def make_environment(folders: list[Path]) -> Environment:
    """A Jinja2 environment over ``folders``, searched in order (the theme first).

    Templates are compiled once and never re-checked on disk: the builder makes a
    new environment when the digest of the template files changes, which saves a
    ``stat`` per include per page.
    """
    env = Environment(
        loader=FileSystemLoader([str(folder) for folder in folders]),
        autoescape=True,
        undefined=StrictUndefined,
        auto_reload=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        cache_size=-1,
    )
    env.filters["markdown"] = markdown
    return env


def step_template(step: StepBase) -> str:
    """The template that renders a step: one per step type."""
    return f"steps/{step.type}.html"


def page_path(journey: Journey, step: StepBase) -> str:
    """Where a step's page is written, relative to the site folder."""
    return journey.step_path(step) + "index.html"


@dataclass(frozen=True)
class ProgressItem:
    """One entry of the progress bar: ``state`` is ``done``, ``current`` or ``upcoming``."""

    name: str
    url: str
    state: str
    #: The step's id: the page script hides the steps the backend says are skipped.
    step: str = ""


def progress_bar(journey: Journey, current: StepBase, site: Site) -> list[ProgressItem]:
    """The active steps with ``progress_bar = true``, in journey order.

    A bar step before the current step is done, the current step is current,
    the rest are upcoming. A step that is not in the bar itself (a login step,
    say) shows the bar as it stands at its place in the journey: the bar steps
    before it are done and none is current.
    """
    return progress_bars(journey, site)[journey.active_steps.index(current)]


def progress_bars(journey: Journey, site: Site) -> list[list[ProgressItem]]:
    """The progress bar of each active step, in journey order; see ``progress_bar``.

    Made for the whole journey at once, so each entry is made in its three
    states once per journey rather than once per page.
    """
    steps = journey.active_steps
    entries = []
    for index, step in enumerate(steps):
        if step.progress_bar:
            url = site.page_url(journey, step)
            states = {state: ProgressItem(step.name, url, state, step.id) for state in _STATES}
            entries.append((index, states))
    return [
        [states[_state(index, position)] for index, states in entries]
        for position in range(len(steps))
    ]


_STATES = ("done", "current", "upcoming")


def _state(index: int, position: int) -> str:
    """The state of the bar step at ``index`` on the page of the step at ``position``."""
    if index < position:
        return "done"
    if index == position:
        return "current"
    return "upcoming"


@dataclass(frozen=True)
class ProductView:
    """A product as a page shows it: the price already formatted for the shop's locale."""

    id: str
    name: str
    description: Markup
    price: str


@lru_cache(maxsize=4096)
def formatted_price(amount: Decimal, currency: str, locale: str, billing: str) -> str:
    """``format_price``, cached: Babel's formatting is the dearest call in a product page."""
    return format_price(amount, currency, locale, billing)


class Renderer:
    """Renders the pages of one shop, reusing what journeys share.

    One renderer serves one loaded ``Shop``; it keeps the formatted products of
    each selection, so a thousand journeys showing the same plans format them once.
    """

    def __init__(self, env: Environment, shop: Shop, asset_urls: dict[str, str]) -> None:
        self.env = env
        self.shop = shop
        self.asset_urls = asset_urls
        self._templates: dict[str, Template] = {}
        self._products: dict[tuple[str, str], list[ProductView]] = {}
        self._form_fields: dict[str, Markup] = {}

    def template(self, name: str) -> Template:
        if name not in self._templates:
            self._templates[name] = self.env.get_template(name)
        return self._templates[name]

    def pages(self, journey: Journey) -> Iterator[tuple[str, str]]:
        """(path under the site folder, HTML) for each active step, in journey order."""
        for path, template, context in self.page_contexts(journey):
            yield path, self.template(template).render(context)

    def page_contexts(self, journey: Journey) -> Iterator[tuple[str, str, dict[str, Any]]]:
        """(path, template name, context) for each active step: everything but the render.

        Kept apart from ``pages`` so the benchmark can prepare the very same pages
        beforehand and time a bare Jinja2 render-and-write of them.
        """
        shared = self.journey_context(journey)
        steps = journey.active_steps
        site = self.shop.site
        urls = [site.page_url(journey, step) for step in steps]
        bars = progress_bars(journey, site)
        for index, step in enumerate(steps):
            context = dict(shared)
            context.update(self.step_context(journey, step))
            context["progress"] = bars[index]
            context["previous_url"] = urls[index - 1] if index > 0 else None
            context["next_url"] = urls[index + 1] if index + 1 < len(steps) else None
            yield page_path(journey, step), step_template(step), context

    def journey_context(self, journey: Journey) -> dict[str, Any]:
        """What every page of a journey shares, computed once for the journey."""
        site = self.shop.site
        entity = self.shop.entity(journey)
        form_steps = [
            (step, self.shop.forms[step.form])
            for step in journey.active_steps
            if isinstance(step, FormStep)
        ]
        return {
            "site": site,
            "lang": site.locale,
            "assets": self.asset_urls,
            "journey": journey,
            "entity": entity,
            "api": site.api_url.rstrip("/"),
            "journey_api": site.journey_api(journey),
            "form_steps": [
                {"step": step, "form": form, "url": site.page_url(journey, step)}
                for step, form in form_steps
            ],
        }

    def step_context(self, journey: Journey, step: StepBase) -> dict[str, Any]:
        """What one step's page needs beyond the journey's shared context and progress bar."""
        context: dict[str, Any] = {
            "step": step,
            "step_action": self.shop.site.step_action(journey, step),
            "robots": None if isinstance(step, ProductSelectionStep) else "noindex",
        }
        if isinstance(step, ProductSelectionStep):
            selection = self.shop.product_selections[step.product_selection]
            context["selection"] = selection
            context["products"] = self.products(
                step.product_selection, self.shop.entity(journey).currency
            )
        elif isinstance(step, FormStep):
            context["form"] = self.shop.forms[step.form]
            context["form_fields"] = self.form_fields(step.form)
        elif isinstance(step, PaymentMethodStep):
            context["methods"] = self.shop.offered_methods(step)
        return context

    def form_fields(self, form_id: str) -> Markup:
        """A form's fields, rendered once per build: the country list alone is 250 options."""
        if form_id not in self._form_fields:
            html = self.template("partials/form_fields.html").render(
                form=self.shop.forms[form_id], countries=countries(self.shop.site.locale)
            )
            self._form_fields[form_id] = Markup(html)
        return self._form_fields[form_id]

    def products(self, selection_id: str, currency: str) -> list[ProductView]:
        """A selection's products, formatted once per build and currency."""
        cache_key = (selection_id, currency)
        if cache_key not in self._products:
            locale = self.shop.site.locale
            self._products[cache_key] = [
                ProductView(
                    id=product.id,
                    name=product.name,
                    description=markdown(product.description),
                    price=formatted_price(product.price, currency, locale, product.billing),
                )
                for product in (
                    self.shop.products[pid]
                    for pid in self.shop.product_selections[selection_id].products
                )
            ]
        return self._products[cache_key]
