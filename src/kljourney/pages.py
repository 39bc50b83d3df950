"""Turn a validated journey into the HTML of its step pages.

Python decides *what* a page shows (which steps are in the progress bar and
which are done, the prices in the shop's locale, the countries in its language)
and the templates decide *how*. Everything shared by many journeys — formatted
prices, Markdown, the country list — is computed once per build and reused, so
a shop of a thousand journeys costs little more than writing its files.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

from babel import Locale
from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template
from markupsafe import Markup

from . import i18n
from .countries import countries
from .model import (
    AuthenticationStep,
    ConfirmationStep,
    CustomerLookupStep,
    FormStep,
    Journey,
    PaymentMethodStep,
    ProductSelectionStep,
    Site,
    StepBase,
    with_query,
)
from .money import format_money, with_billing
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
    i18n.install(env)
    return env


def step_template(step: StepBase) -> str:
    """The template that renders a step: one per step type."""
    return f"steps/{step.type}.html"


#: Where the account page is written, relative to the site folder.
ACCOUNT_PAGE = "account/index.html"
#: Where the staff sign-in page is written, relative to the site folder.
STAFF_PAGE = "staff/index.html"
#: The page a customer reads, accepts or declines a quote on (``confirmation_type = "quote"``).
QUOTE_PAGE = "quote/index.html"


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
    return progress_bars(journey, STATIC.urls(site, journey))[journey.active_steps.index(current)]


def progress_bars(journey: Journey, url_of: Callable[[StepBase], str]) -> list[list[ProgressItem]]:
    """The progress bar of each active step, in journey order; see ``progress_bar``.

    Made for the whole journey at once, so each entry is made in its three
    states once per journey rather than once per page.
    """
    steps = journey.active_steps
    entries = []
    for index, step in enumerate(steps):
        if step.progress_bar:
            url = url_of(step)
            states = {state: ProgressItem(step.name, url, state, step.id) for state in _STATES}
            entries.append((index, states))
    return [
        [states[_state(index, position)] for index, states in entries]
        for position in range(len(steps))
    ]


_STATES = ("done", "current", "upcoming")


@dataclass(frozen=True)
class Links:
    """Where a page's links lead and its forms send: the static pages, or the pages the
    backend renders for a browser without JavaScript (whose forms say so)."""

    backend: bool
    #: Added to every form's action.
    form_query: str

    def urls(self, site: Site, journey: Journey) -> Callable[[StepBase], str]:
        if self.backend:
            return lambda step: site.backend_page_url(journey, step)
        return lambda step: site.page_url(journey, step)


STATIC = Links(backend=False, form_query="")
BACKEND = Links(backend=True, form_query="?page=backend")


@dataclass(frozen=True)
class Visitor:
    """What the backend knows of one customer, for a page it renders itself.

    The static pages are rendered without one and filled in by the page script
    from the state endpoint; a browser without JavaScript gets the same template
    rendered with the same state by the backend. The fields are the state's
    (``docs/pages-and-backend.md``).
    """

    csrf_token: str
    cart: Mapping[str, Any]
    customer: Mapping[str, Any] | None = None
    values: Mapping[str, Any] = field(default_factory=dict)
    shown: Mapping[str, str] = field(default_factory=dict)
    errors: Mapping[str, str] = field(default_factory=dict)
    messages: Sequence[str] = ()
    payment: Mapping[str, Any] | None = None
    order: Mapping[str, Any] | None = None
    skipped: Sequence[str] = ()
    #: A new random token for the confirmation form (one page view confirms once).
    confirm_token: str = ""
    #: The subscription a subscription journey acts on, with what the step offers.
    subscription: Mapping[str, Any] | None = None
    #: The account page's state (``API/account``), on that page.
    account: Mapping[str, Any] | None = None
    #: The staff page's state (``API/staff/state``), on that page.
    staff: Mapping[str, Any] | None = None
    #: On a member of staff's page of a step the customer completes: the step's
    #: hand-over to the customer (the state's ``handover``).
    handover: Mapping[str, Any] | None = None
    #: The quote page's state (``API/quote/<token>``), on that page.
    quote: Mapping[str, Any] | None = None

    @property
    def signed_in(self) -> bool:
        return bool(self.customer and self.customer.get("signed_in"))

    @property
    def in_cart(self) -> set[str]:
        return {line["product"] for line in self.cart.get("lines", [])}


def _state(index: int, position: int) -> str:
    """The state of the bar step at ``index`` on the page of the step at ``position``."""
    if index < position:
        return "done"
    if index == position:
        return "current"
    return "upcoming"


@dataclass(frozen=True)
class Picture:
    """A product's picture as a page links it, with its size (nothing moves as it loads)."""

    url: str
    width: int
    height: int


@dataclass(frozen=True)
class ProductView:
    """A product as a page shows it: the price already formatted for the shop's locale."""

    id: str
    name: str
    description: Markup
    price: str
    image: Picture | None = None


@dataclass(frozen=True)
class Alternate:
    """The page a customer is on, in one of the shop's languages."""

    locale: str
    #: The language's name in itself ("Deutsch"), as a switcher offers it.
    name: str
    url: str
    current: bool


@lru_cache(maxsize=64)
def language_name(locale: str) -> str:
    """``de-DE`` as its speakers call it: "Deutsch (Deutschland)"."""
    parsed = Locale.parse(locale.replace("-", "_"))
    name = parsed.get_display_name(parsed) or locale
    return name[:1].upper() + name[1:]


@lru_cache(maxsize=4096)
def formatted_money(amount: Decimal, currency: str, locale: str) -> str:
    """``format_money``, cached: Babel's formatting is the dearest call in a product page."""
    return format_money(amount, currency, locale)


def formatted_price(amount: Decimal, currency: str, locale: str, billing: str) -> str:
    """A product's price with its billing period, in the current language."""
    return with_billing(formatted_money(amount, currency, locale), billing)


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
        #: The renderers of the shop's other languages, made when first needed.
        self._languages: dict[str, Renderer] = {}
        #: Where the catalogs of the words in the templates are: the templates' folders.
        self.folders = tuple(Path(folder) for folder in getattr(env.loader, "searchpath", ()))

    def picture(self, relative: str) -> Picture | None:
        """A product's picture, published under ``assets/`` with the other assets."""
        if not relative:
            return None
        width, height = self.shop.images[relative]
        return Picture(self.asset_urls[relative], width, height)

    def template(self, name: str) -> Template:
        if name not in self._templates:
            self._templates[name] = self.env.get_template(name)
        return self._templates[name]

    def speaking(self) -> AbstractContextManager[None]:
        """Words inside the block are in the language of this renderer's shop."""
        return i18n.speaking(self.shop.site.locale, self.folders)

    def render(self, template: str, context: dict[str, Any]) -> str:
        """``template`` filled in with ``context``, in the language of this renderer's shop."""
        with self.speaking():
            return self.template(template).render(context)

    def in_language(self, locale: str) -> Renderer:
        """The renderer of the shop's pages in ``locale`` (this one for its own language)."""
        shop = self.shop.in_language(locale)
        if shop is self.shop:
            return self
        renderer = self._languages.get(locale)
        if renderer is None:
            renderer = Renderer(self.env, shop, self.asset_urls)
            renderer._templates = self._templates
            self._languages[locale] = renderer
        renderer.shop = shop
        return renderer

    def in_each_language(self) -> list[Renderer]:
        """A renderer per language of the shop, the default first."""
        return [self.in_language(locale) for locale in self.shop.site.languages]

    def pages(self, journey: Journey) -> Iterator[tuple[str, str]]:
        """(path under the site folder, HTML) for each active step, in journey order,
        in each of the shop's languages."""
        for renderer in self.in_each_language():
            localized = renderer.shop.journeys[journey.key]
            for path, template, context in renderer.page_contexts(localized):
                yield path, renderer.render(template, context)

    def page_contexts(self, journey: Journey) -> Iterator[tuple[str, str, dict[str, Any]]]:
        """(path, template name, context) for each active step: everything but the render.

        Kept apart from ``pages`` so the benchmark can prepare the very same pages
        beforehand and time a bare Jinja2 render-and-write of them.
        """
        with self.speaking():
            shared = self.journey_context(journey, STATIC)
        url_of = STATIC.urls(self.shop.site, journey)
        bars = progress_bars(journey, url_of)
        for index, step in enumerate(journey.active_steps):
            with self.speaking():
                context = {**shared, **self.step_context(journey, step, STATIC)}
            context.update(self.neighbours(journey, index, url_of))
            context["progress"] = bars[index]
            context["languages"] = self.alternates(
                lambda site, step=step: site.page_url(journey, step)
            )
            path = self.shop.site.language_folder + page_path(journey, step)
            yield path, step_template(step), context

    def shared_pages(self) -> Iterator[tuple[str, str]]:
        """(path, HTML) of the pages of the shop rather than of a journey: the customer's
        account page, when ``[account]`` names the journeys behind it, and the staff
        sign-in page, when a journey is for staff (its ``audience``)."""
        staff = any(journey.audience != ["customers"] for journey in self.shop.journeys.values())
        for renderer in self.in_each_language() if self.shop.account or staff else []:
            folder = renderer.shop.site.language_folder
            if self.shop.account:
                yield folder + ACCOUNT_PAGE, renderer.account_page(None)
            if staff:
                yield folder + STAFF_PAGE, renderer.staff_page(None)
            if staff and sends_quotes(self.shop):
                yield folder + QUOTE_PAGE, renderer.quote_page(None)

    def staff_page(self, visitor: Visitor | None) -> str:
        """The staff sign-in page: static (filled in by the page script), or as the backend
        renders it for ``visitor`` (no JavaScript), with the staff state in ``visitor.staff``."""
        return self.shop_page(
            "staff.html",
            visitor,
            "staff_api",
            lambda site: site.staff_api,
            lambda site: site.staff_url,
        )

    def quote_page(self, visitor: Visitor | None, token: str = "") -> str:
        """The customer's quote page: static (filled in by the page script from the token
        in its address), or as the backend renders it for ``visitor`` (no JavaScript),
        with the quote's state in ``visitor.quote``: its URLs then carry the ``token``."""
        return self.shop_page(
            "quote.html",
            visitor,
            "quote_api",
            lambda site: f"{site.quote_api}/{token}" if token else site.quote_api,
            lambda site: site.quote_url,
        )

    def alternates(self, url_of: Callable[[Site], str]) -> list[Alternate]:
        """The same page in each of the shop's languages, for ``hreflang`` links and the
        language switcher; none for a shop of one language."""
        here = self.shop.site.locale
        return [
            Alternate(
                locale=shop.site.locale,
                name=language_name(shop.site.locale),
                url=url_of(shop.site),
                current=shop.site.locale == here,
            )
            for shop in self.shop.languages.values()
        ]

    def account_page(self, visitor: Visitor | None) -> str:
        """The account page: static (filled in by the page script), or as the backend
        renders it for ``visitor`` (no JavaScript)."""
        return self.shop_page(
            "account.html",
            visitor,
            "account_api",
            lambda site: site.account_api,
            lambda site: site.account_url,
        )

    def shop_page(
        self,
        template: str,
        visitor: Visitor | None,
        api_name: str,
        api_of: Callable[[Site], str],
        url_of: Callable[[Site], str],
    ) -> str:
        """A page of the shop's own rather than of a journey (the account page, the staff
        sign-in): its backend URLs under ``api_of(site)`` (given to the template as
        ``api_name``), its static page at ``url_of(site)``, the backend's rendering of it
        at ``api_of(site)/page``."""
        site = self.shop.site
        links = BACKEND if visitor is not None else STATIC
        context = {
            "site": site,
            "lang": site.locale,
            "assets": self.asset_urls,
            "api": site.api_url.rstrip("/"),
            api_name: api_of(site),
            # The page belongs to the shop, not to one seller: the first one signs it.
            "entity": next(iter(self.shop.business_entities.values())),
            "form_query": with_query(links.form_query, site.language_query),
            "backend_page": links.backend,
            "robots": "noindex",
            "visitor": visitor,
            "error_list": [],
            "previous_url": None,
            "languages": self.alternates(
                lambda other: (
                    with_query(api_of(other) + "/page", other.language_query)
                    if visitor is not None
                    else url_of(other)
                )
            ),
        }
        return self.render(template, context)

    def page_for(self, journey: Journey, step: StepBase, visitor: Visitor) -> str:
        """One step's page as the backend renders it for ``visitor`` (no JavaScript):
        the static page's template, filled in, linking to the backend's pages."""
        url_of = BACKEND.urls(self.shop.site, journey)
        index = journey.active_steps.index(step)
        with self.speaking():
            context = {
                **self.journey_context(journey, BACKEND),
                **self.step_context(journey, step, BACKEND),
            }
        context.update(self.neighbours(journey, index, url_of))
        bar = progress_bars(journey, url_of)[index]
        context["progress"] = [item for item in bar if item.step not in visitor.skipped]
        context["visitor"] = visitor
        context["error_list"] = error_list(self.shop, step, visitor)
        context["languages"] = self.alternates(lambda site: site.backend_page_url(journey, step))
        if isinstance(step, FormStep):
            context["form_fields"] = self.form_fields(step.form, visitor)
        return self.render(step_template(step), context)

    @staticmethod
    def neighbours(
        journey: Journey, index: int, url_of: Callable[[StepBase], str]
    ) -> dict[str, Any]:
        steps = journey.active_steps
        return {
            "previous_url": url_of(steps[index - 1]) if index > 0 else None,
            "next_url": url_of(steps[index + 1]) if index + 1 < len(steps) else None,
        }

    def journey_context(self, journey: Journey, links: Links) -> dict[str, Any]:
        """What every page of a journey shares, computed once for the journey."""
        site = self.shop.site
        url_of = links.urls(site, journey)
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
                {"step": step, "form": form, "url": url_of(step)} for step, form in form_steps
            ],
            "form_query": with_query(links.form_query, site.language_query),
            "backend_page": links.backend,
            "visitor": None,
            "error_list": [],
            "languages": [],
        }

    def step_context(self, journey: Journey, step: StepBase, links: Links) -> dict[str, Any]:
        """What one step's page needs beyond the journey's shared context and progress bar."""
        site = self.shop.site
        context: dict[str, Any] = {
            "step": step,
            "step_action": site.step_action(journey, step),
            # Without JavaScript the page takes the customer to the backend's own pages.
            "backend_page_url": site.backend_page_url(journey, step),
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

    def form_fields(self, form_id: str, visitor: Visitor | None = None) -> Markup:
        """A form's fields: with a visitor's answers and errors, or (for the static pages)
        empty, then rendered once per build: the country list alone is 250 options."""
        if visitor is None and form_id in self._form_fields:
            return self._form_fields[form_id]
        html = Markup(
            self.render(
                "partials/form_fields.html",
                {
                    "form": self.shop.forms[form_id],
                    "countries": countries(self.shop.site.locale),
                    "visitor": visitor,
                },
            )
        )
        if visitor is None:
            self._form_fields[form_id] = html
        return html

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
                    image=self.picture(product.image),
                )
                for product in (
                    self.shop.products[pid]
                    for pid in self.shop.product_selections[selection_id].products
                )
            ]
        return self._products[cache_key]


#: Where the errors of the built-in steps stand, in page order: (name, element id).
_PAYMENT_FIELDS = (("holder", "field-holder"), ("iban", "field-iban"), ("mandate", "field-mandate"))
_ACCOUNT_FIELDS = ("email", "password")


def error_list(shop: Shop, step: StepBase, visitor: Visitor) -> list[tuple[str, str | None]]:
    """The visitor's errors as the error summary lists them: (message, id of the field it
    links to, or None), in the order of the page, the step's own message first."""
    errors = dict(visitor.errors)
    places: list[tuple[str, str | None]] = [("_form", None), ("action", None)]
    if isinstance(step, FormStep):
        places += [(f.name, f"field-{f.name}") for f in shop.forms[step.form].fields]
    elif isinstance(step, PaymentMethodStep):
        first = next(iter(shop.offered_methods(step)), "")
        places += [("method", f"method-{first}"), *_PAYMENT_FIELDS]
    elif isinstance(step, ConfirmationStep):
        places.append(("accept_terms", "field-accept-terms"))
    elif isinstance(step, CustomerLookupStep):
        places.append(("email", "field-email"))
    elif isinstance(step, AuthenticationStep):
        form = visitor.values.get("action") or "login"
        places += [(name, f"{form}-{name}") for name in _ACCOUNT_FIELDS]
    listed = [(errors.pop(name), anchor) for name, anchor in places if name in errors]
    return listed + [(message, None) for message in errors.values()]


def sends_quotes(shop: Shop) -> bool:
    """Whether a journey of the shop sends quotes (a ``confirmation_type = "quote"`` step)."""
    return any(
        getattr(step, "confirmation_type", "") == "quote"
        for journey in shop.journeys.values()
        for step in journey.active_steps
    )
