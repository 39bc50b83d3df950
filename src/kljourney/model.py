"""The journey model: one typed, validated object graph for the pages and the backend.

Each class mirrors a table of the journey format (``shared/journey-format.md``).
Validation that needs only the value itself lives here; checks that need the
whole shop (references between files, duplicate ids) live in ``config``.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import PurePosixPath
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from babel import Locale, UnknownLocaleError
from babel.numbers import get_currency_name
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    PrivateAttr,
    StrictBool,
    field_validator,
    model_validator,
)
from pydantic_core import core_schema

from . import colors, expressions, patterns

#: The three files of a shop that are not journeys; every other file is one journey.
SHOP_FILE = "keylight.toml"
CATALOG_FILE = "catalog.toml"
FORMS_FILE = "forms.toml"

ID_PATTERN = r"^[a-z0-9][a-z0-9_-]*$"
#: The longest step id: its page is a folder of the site, and a file name has 255 bytes
#: at most on every common file system; well within it, an address a person can read.
MAX_STEP_ID = 100
ID_HINT = "lowercase letters, digits, '-' and '_', starting with a letter or digit"

Billing = Literal["one_time", "monthly", "yearly"]
FieldType = Literal[
    "text", "email", "tel", "textarea", "select", "checkbox", "date", "country", "number"
]
FormTarget = Literal["sold_to_account", "ship_to", "order_notes"]
PaymentKind = Literal["invoice", "sepa_debit"]

#: Every step type the format knows, in the order a journey usually has them.
STEP_TYPES = (
    "product_selection",
    "order",
    "authentication",
    "optional_authentication",
    "customer_lookup",
    "form",
    "payment_method",
    "plan_change",
    "cancellation",
    "pause",
    "confirmation",
    "order_done",
)
#: The step types that act on the subscription a journey is about.
SUBSCRIPTION_STEP_TYPES = ("plan_change", "cancellation", "pause")

#: Who may walk a journey (its ``audience``): customers on their own, the shop's sales
#: team, its partners. An admin of the shop's staff may walk every journey.
Audience = Literal["customers", "sales", "partners"]
#: The staff role that each audience other than "customers" admits.
AUDIENCE_OF_ROLE = {"sales": "sales", "partner": "partners"}
#: Who completes a step (its ``actor``): anyone walking the journey, only the customer,
#: or only a member of staff.
StepActor = Literal["any", "customer", "staff"]


class Strict(BaseModel):
    """Refuse unknown keys: in a hand-written file they are almost always typos."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _decimal(value: Any, what: str) -> Decimal:
    """Accept decimal strings and integers; refuse floats, which TOML rounds silently."""
    if isinstance(value, bool) or isinstance(value, float):
        raise ValueError(f'write {what} as a quoted decimal string, e.g. "9.90", not {value!r}')
    if isinstance(value, int):
        return Decimal(value)
    if not isinstance(value, str):
        raise ValueError(f'expected a decimal string such as "9.90", got {value!r}')
    try:
        number = Decimal(value.strip())
    except InvalidOperation:
        raise ValueError(f'expected a decimal string such as "9.90", got {value!r}') from None
    if not number.is_finite():
        raise ValueError(f'expected a decimal string such as "9.90", got {value!r}')
    return number


def language_tag(value: str) -> str:
    """``value`` if Babel knows it as a locale (``de-DE``, ``de``), else a ValueError."""
    try:
        Locale.parse(value.replace("-", "_"))
    except (ValueError, UnknownLocaleError):
        raise ValueError(
            f"unknown locale {value!r}; use a language tag such as 'en-US' or 'de-DE'"
        ) from None
    return value


def _same_language(tag: str) -> str:
    """``de-DE``, ``de_de`` and ``DE-de`` name one language: compare them as ``de-de``."""
    return tag.replace("_", "-").lower()


class Text(str):
    """Words a customer reads: a string, or a table of strings by language.

    ``name = { de = "Warenkorb", en = "Cart" }`` is a ``Text`` equal to its first
    entry, with the whole table in ``by_language``; the loader hands out a shop in
    each of the site's languages with every table replaced by its entry, so the
    code that reads a name never asks which language it is in.
    """

    by_language: dict[str, str]

    def __new__(cls, value: str, by_language: dict[str, str] | None = None) -> Text:
        text = super().__new__(cls, value)
        text.by_language = by_language or {}
        return text

    def entry(self, locale: str) -> str | None:
        """The table's entry for ``locale`` (``de-DE`` takes ``de-DE``, else ``de``), or
        None; a plain string serves every language."""
        if not self.by_language:
            return str(self)
        wanted = _same_language(locale)
        for tag in (wanted, wanted.split("-")[0]):
            for key, value in self.by_language.items():
                if _same_language(key) == tag:
                    return value
        return None

    def in_language(self, locale: str) -> str:
        """The entry for ``locale``, or the first one (``klbuild check`` reports the gap)."""
        found = self.entry(locale)
        return str(self) if found is None else found

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(
            cls._validate,
            serialization=core_schema.plain_serializer_function_ser_schema(
                lambda text: dict(text.by_language) if text.by_language else str(text)
            ),
        )

    @classmethod
    def _validate(cls, value: Any) -> Text:
        if isinstance(value, Text):
            return value
        if isinstance(value, str):
            return cls(value)
        if isinstance(value, dict) and value:
            for key, entry in value.items():
                language_tag(key)
                if not isinstance(entry, str):
                    raise ValueError(f"expected a text for {key!r}, got {entry!r}")
            return cls(next(iter(value.values())), dict(value))
        raise ValueError(
            "expected a text, or a table of texts by language such as "
            f'{{ de = "Warenkorb", en = "Cart" }}; got {value!r}'
        )


def _filled(value: Text) -> Text:
    if not value or any(not entry for entry in value.by_language.values()):
        raise ValueError("must not be empty")
    return value


#: A customer-facing name: never empty, in any of its languages.
Name = Annotated[Text, AfterValidator(_filled)]


def _not_empty(message: str) -> AfterValidator:
    """Refuse an empty list or string with ``message``, which says what to write.

    Pydantic's own ("List should have at least 1 item after validation, not 0") is
    read by marketers in the studio, and tells them neither what is missing nor how
    to add it.
    """

    def check(value: Any) -> Any:
        if not value:
            raise ValueError(message)
        return value

    return AfterValidator(check)


def _matching(pattern: str, expected: str) -> AfterValidator:
    """Refuse a string that does not match ``pattern`` with what was ``expected``, in words.

    Pydantic's own message quotes the regular expression, which only a developer reads.
    """
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise ValueError(f"expected {expected}, got {value!r}")
        return value

    return AfterValidator(check)


def _absolute_url(value: str, example: str) -> str:
    """An empty value, or an absolute http(s) URL (``example`` shows one in the message)."""
    if value and not re.match(r"^https?://[^/\s]+\S*$", value):
        raise ValueError(f"expected an absolute http(s) URL such as {example!r}, got {value!r}")
    return value


class Site(Strict):
    title: Text
    base_url: str = "/"
    api_url: str = "/api"
    locale: str = "en-US"
    #: The shop's languages, the default first; each journey is built once per language.
    locales: list[str] = []

    #: Where this language's pages live under ``base_url`` ("" for the default language).
    _prefix: str = PrivateAttr(default="")

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        if not (value.startswith("/") or re.match(r"^https?://[^/]+", value)):
            raise ValueError(
                f"expected '/' or an absolute http(s) URL such as "
                f"'https://shop.example.com/', got {value!r}"
            )
        return value if value.endswith("/") else value + "/"

    @field_validator("api_url")
    @classmethod
    def _api_url(cls, value: str) -> str:
        if not (value.startswith("/") or re.match(r"^https?://[^/]+", value)):
            raise ValueError(
                f"expected a path such as '/api' or an absolute http(s) URL, got {value!r}"
            )
        return value.rstrip("/") or "/"

    @field_validator("locale")
    @classmethod
    def _locale(cls, value: str) -> str:
        return language_tag(value)

    @field_validator("locales")
    @classmethod
    def _locales(cls, value: list[str]) -> list[str]:
        seen = [_same_language(language_tag(tag)) for tag in value]
        twice = sorted({tag for tag in seen if seen.count(tag) > 1})
        if twice:
            raise ValueError(f"each language once; {', '.join(map(repr, twice))} repeats")
        return value

    @model_validator(mode="after")
    def _default_language(self) -> Site:
        if not self.locales:
            return self
        if "locale" in self.model_fields_set and self.locale != self.locales[0]:
            raise ValueError(
                f"locale = {self.locale!r} but locales starts with {self.locales[0]!r}: "
                "the first of locales is the default; leave locale out"
            )
        object.__setattr__(self, "locale", self.locales[0])
        return self

    @model_validator(mode="after")
    def _pages_findable_from_the_backend(self) -> Site:
        api = _origin(self.api_url)
        if api is not None and _origin(self.base_url) is None:
            raise ValueError(
                f"api_url is on its own origin ({api}), so base_url must be the absolute URL "
                "of the pages, such as 'https://shop.example.com/': the backend sends "
                f"customers back to the pages by it, and {self.base_url!r} would send them "
                f"to {api}{self.base_url}, where no page is"
            )
        return self

    @property
    def babel_locale(self) -> str:
        return self.locale.replace("-", "_")

    @property
    def languages(self) -> list[str]:
        """Every language the shop is built in, the default first."""
        return self.locales or [self.locale]

    def in_language(self, locale: str) -> Site:
        """This site as the pages in ``locale`` see it: the default language at
        ``base_url``, each other one under its own folder (``en-gb/``)."""
        site = self.model_copy(update={"locale": locale})
        site._prefix = "" if locale == self.languages[0] else _same_language(locale) + "/"
        return site

    @property
    def language_folder(self) -> str:
        """This language's folder in the built site: "" for the default, else ``en-gb/``."""
        return self.__pydantic_private__["_prefix"]  # type: ignore[index]

    @property
    def pages_url(self) -> str:
        """Where this language's pages start: ``base_url``, or a folder under it."""
        return self.base_url + self.__pydantic_private__["_prefix"]  # type: ignore[index]

    @property
    def language_query(self) -> str:
        """What the backend's URLs carry so that it answers in this language: ``lang=en-GB``
        ("" for the default language, which it speaks unasked)."""
        prefix = self.__pydantic_private__["_prefix"]  # type: ignore[index]
        return f"lang={self.locale}" if prefix else ""

    @property
    def api_path(self) -> str:
        """The path part of ``api_url``, without a trailing slash: where a server that
        holds the backend mounts it ("" when the backend has a host of its own)."""
        if "://" in self.api_url:
            return urlsplit(self.api_url).path.rstrip("/")
        return self.api_url.rstrip("/")

    def page_url(self, journey: Journey, step: StepBase) -> str:
        """A step's page, where the pages are published (``base_url`` may be absolute)."""
        return self.pages_url + journey.step_path(step)

    def journey_api(self, journey: Journey) -> str:
        """The backend's URLs for a journey start here: ``API/KEY``."""
        return f"{self.api_url.rstrip('/')}/{journey.key}"

    def backend_page_url(self, journey: Journey, step: StepBase) -> str:
        """The same page, rendered by the backend for a browser without JavaScript."""
        return with_query(f"{self.journey_api(journey)}/pages/{step.id}/", self.language_query)

    @property
    def account_url(self) -> str:
        """The customer's account page, where the pages are published."""
        return self.pages_url + "account/"

    @property
    def account_api(self) -> str:
        """The backend's URLs for the account page start here."""
        return f"{self.api_url.rstrip('/')}/account"

    @property
    def staff_url(self) -> str:
        """The staff sign-in page, where the pages are published (``site/staff/``)."""
        return self.pages_url + "staff/"

    @property
    def staff_api(self) -> str:
        """The backend's URLs for staff sign-in start here."""
        return f"{self.api_url.rstrip('/')}/staff"

    @property
    def quote_url(self) -> str:
        """The customer's quote page, where the pages are published (``site/quote/``)."""
        return self.pages_url + "quote/"

    @property
    def quote_api(self) -> str:
        """The backend's URLs for quotes start here (``API/quote/<token>``)."""
        return f"{self.api_url.rstrip('/')}/quote"

    def step_action(self, journey: Journey, step: StepBase) -> str:
        """Where a step's form is sent: ``API/KEY/steps/STEP``."""
        return f"{self.journey_api(journey)}/steps/{step.id}"


def with_query(url: str, query: str) -> str:
    """``url`` with ``query`` (``notice=x``) added to whatever query it has."""
    if not query:
        return url
    return f"{url}{'&' if '?' in url else '?'}{query}"


def _origin(url: str) -> str | None:
    """'https://shop.example.com' for an absolute URL; None for a path."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower() if parts.scheme and parts.netloc else None


class BusinessEntity(Strict):
    id: Annotated[str, Field(pattern=ID_PATTERN)]
    name: str
    currency: str
    address: str = ""
    vat_id: str = ""
    sepa_creditor_id: str = ""
    #: The seller's legal pages, linked on the confirmation step and in the order email.
    terms_url: str = ""
    withdrawal_url: str = ""
    privacy_url: str = ""

    @field_validator("terms_url", "withdrawal_url", "privacy_url")
    @classmethod
    def _page_url(cls, value: str) -> str:
        return _absolute_url(value, "https://shop.example.com/terms")

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        code = value.upper()
        if not re.fullmatch(r"[A-Z]{3}", code) or get_currency_name(code) == code:
            raise ValueError(f"unknown currency {value!r}; use an ISO 4217 code such as 'EUR'")
        return code


class PaymentMethod(Strict):
    label: Text


class Product(Strict):
    id: Annotated[str, Field(pattern=ID_PATTERN)]
    name: Text
    description: Text = Text("")
    price: Decimal
    billing: Billing
    tax_rate: Decimal
    #: A picture of the product on its selection page: a file in the journeys folder.
    image: str = ""

    @field_validator("image")
    @classmethod
    def _image(cls, value: str) -> str:
        return image_file(value) if value else ""

    @field_validator("price", mode="before")
    @classmethod
    def _price(cls, value: Any) -> Decimal:
        price = _decimal(value, "the price")
        if price < 0:
            raise ValueError(f"a price cannot be negative, got {value!r}")
        return price

    @field_validator("tax_rate", mode="before")
    @classmethod
    def _tax_rate(cls, value: Any) -> Decimal:
        rate = _decimal(value, "the tax rate")
        if not 0 <= rate < 100:
            raise ValueError(f"expected a percentage from 0 to below 100, got {value!r}")
        return rate


class ProductSelection(Strict):
    id: Annotated[str, Field(pattern=ID_PATTERN)]
    name: Text
    products: Annotated[list[str], _not_empty("choose at least one product")]


class Discount(Strict):
    """A price reduction for retention offers, win-back and campaign journeys.

    ``periods`` counts billing periods charged at the reduced price (the first
    one ordered included); None: for as long as the subscription runs.
    """

    id: Annotated[str, Field(pattern=ID_PATTERN)]
    name: Name
    percent: Decimal | None = None
    amount: Decimal | None = None
    periods: Annotated[int, Field(ge=1, le=120)] | None = None
    #: The products it reduces; None: every recurring product.
    products: list[str] | None = None

    @field_validator("percent", mode="before")
    @classmethod
    def _percent(cls, value: Any) -> Decimal | None:
        if value is None:
            return None
        percent = _decimal(value, "the percentage")
        if not 0 < percent <= 100:
            raise ValueError(f"expected a percentage above 0 and at most 100, got {value!r}")
        return percent

    @field_validator("amount", mode="before")
    @classmethod
    def _amount(cls, value: Any) -> Decimal | None:
        if value is None:
            return None
        amount = _decimal(value, "the amount")
        if amount <= 0:
            raise ValueError(f"a discount amount must be above 0, got {value!r}")
        return amount

    @model_validator(mode="after")
    def _one_kind(self) -> Discount:
        if (self.percent is None) == (self.amount is None):
            raise ValueError('give either percent = "20" or amount = "5.00", not both or neither')
        return self

    def applies_to(self, product: Product) -> bool:
        if product.billing == "one_time":
            return False
        return self.products is None or product.id in self.products


class FormField(Strict):
    name: Annotated[
        str,
        _matching(
            r"[A-Za-z_][A-Za-z0-9_]*",
            "a name of letters, digits and '_', not starting with a digit, such as 'vat_id'",
        ),
    ]
    label: Text
    type: FieldType = "text"
    required: StrictBool = False
    autocomplete: str = ""
    help: Text = Text("")
    placeholder: Text = Text("")
    min_length: Annotated[int, Field(ge=0)] | None = None
    max_length: Annotated[int, Field(ge=1)] | None = None
    pattern: str | None = None
    options: list[str] = []
    default: str | bool | int | None = None

    @field_validator("pattern")
    @classmethod
    def _pattern(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression ({exc})") from None
            problem = patterns.browser_problem(value)
            if problem:
                raise ValueError(problem)
        return value

    @model_validator(mode="after")
    def _consistent(self) -> FormField:
        if self.type == "select" and not self.options:
            raise ValueError('a select field needs options, e.g. options = ["Mr", "Ms"]')
        if self.options and self.type != "select":
            raise ValueError(f'options are only for type = "select", not {self.type!r}')
        if (
            self.min_length is not None
            and self.max_length is not None
            and self.min_length > self.max_length
        ):
            raise ValueError(
                f"min_length ({self.min_length}) is larger than max_length ({self.max_length})"
            )
        return self

    @property
    def profile_key(self) -> str:
        """Where a customer's answer to this field is kept for auto-fill: by its
        autocomplete token (shared by every form that asks the same thing), else by name."""
        return self.autocomplete or f"name:{self.name}"

    @property
    def effective_max_length(self) -> int:
        """Every text answer is bounded, so a form can never carry a megabyte of text."""
        if self.max_length is not None:
            return self.max_length
        return 2000 if self.type == "textarea" else 200


class Form(Strict):
    id: Annotated[str, Field(pattern=ID_PATTERN)]
    name: Text
    fields: list[FormField] = []

    @model_validator(mode="after")
    def _unique_names(self) -> Form:
        seen: set[str] = set()
        for form_field in self.fields:
            if form_field.name in seen:
                raise ValueError(f"two fields are named {form_field.name!r}; names must be unique")
            seen.add(form_field.name)
        return self


def _condition(value: str) -> str:
    """Parse a condition now, so a typo is a ``klbuild check`` error with its column."""
    try:
        expressions.parse(value)
    except expressions.ExpressionError as exc:
        raise ValueError(str(exc)) from None
    return value.strip()


#: An expression of the condition language (see ``kljourney.expressions``).
Condition = Annotated[str, AfterValidator(_condition)]

HookEvent = Literal[
    "step_completed",
    "account_created",
    "signed_in",
    "order_placed",
    "subscription_created",
    "subscription_changed",
    "subscription_change_scheduled",
    "subscription_renewed",
    "subscription_cancel_scheduled",
    "subscription_cancelled",
    "subscription_reactivated",
    "subscription_paused",
    "subscription_resumed",
    "quote_sent",
    "quote_accepted",
    "quote_declined",
    "quote_expired",
    "handover_sent",
    "handover_completed",
]
HOOK_TYPES = ("webhook", "validate", "email", "python")


class Rule(Strict):
    """Refuses a step's input with ``message`` when ``when`` is true."""

    when: Condition
    message: Annotated[
        str, _not_empty("a rule needs a message: the words the customer reads when it refuses")
    ]
    #: The form field the message belongs next to; empty: the message is about the step.
    field: str = ""


class HookBase(Strict):
    #: Run the hook only when this condition holds.
    when: Condition | None = None


def _http_url(value: str) -> str:
    if not value:
        raise ValueError("expected an absolute http(s) URL such as 'https://example.com/hooks'")
    return _absolute_url(value, "https://example.com/hooks")


HttpUrl = Annotated[str, AfterValidator(_http_url)]
#: The environment variable holding a hook's signing secret; never the secret itself,
#: which does not belong in files kept in version control.
SecretEnv = Annotated[
    str,
    _matching(
        r"[A-Z_][A-Z0-9_]*",
        "the name of an environment variable in capitals, such as 'KEYLIGHT_WEBHOOK_SECRET' "
        "(the secret itself goes into that variable, never into this file)",
    ),
]


class WebhookHook(HookBase):
    """POSTs a signed JSON event, delivered at least once from the outbox."""

    type: Literal["webhook"]
    event: HookEvent
    url: HttpUrl
    secret_env: SecretEnv = "KEYLIGHT_WEBHOOK_SECRET"


class ValidateHook(HookBase):
    """Asks a receiver, synchronously, whether a step's input is acceptable."""

    type: Literal["validate"]
    url: HttpUrl
    secret_env: SecretEnv = "KEYLIGHT_WEBHOOK_SECRET"
    timeout: Annotated[float, Field(gt=0, le=30)] = 3.0
    #: What a timeout, an error or an answer of the wrong shape means.
    on_error: Literal["accept", "refuse"] = "refuse"


class EmailHook(HookBase):
    """An email to the customer, from templates/emails/<template>.html and .txt."""

    type: Literal["email"]
    event: HookEvent = "order_placed"
    template: Annotated[
        str,
        _matching(
            ID_PATTERN,
            "the name of a template in templates/emails/ without .html, such as "
            f"'order_placed' ({ID_HINT})",
        ),
    ] = "order_placed"
    subject: Annotated[
        str, _not_empty('the email needs a subject, e.g. subject = "Your order {order_number}"')
    ] = "Your order {order_number}"


class PythonHook(HookBase):
    """A function registered by a package under the ``keylight.hooks`` entry point group."""

    type: Literal["python"]
    event: HookEvent
    function: Annotated[
        str,
        _not_empty(
            "name the function, as its package registers it in the keylight.hooks entry points"
        ),
    ]


Hook = Annotated[WebhookHook | ValidateHook | EmailHook | PythonHook, Field(discriminator="type")]


class StepBase(Strict):
    #: One of ``STEP_TYPES``; each step class narrows it to its own.
    type: str
    name: Name
    #: What the customer reads as the page's heading and title ("Where shall we send
    #: the invoice?"), when it should differ from the name the progress bar and the
    #: shop's people use ("Billing").
    title: Text = Text("")
    active: StrictBool = True
    progress_bar: StrictBool = False
    id: Annotated[str, Field(pattern=ID_PATTERN)] = ""
    #: The step is skipped (and hidden from the progress bar) when this is false.
    when: Condition | None = None
    #: Who completes the step: "customer" steps are refused to staff (they will hand them
    #: over with a link), "staff" steps to customers; "any" to nobody who may walk it.
    actor: StepActor = "any"
    rules: list[Rule] = []
    hooks: list[Hook] = []

    def completed_by(self, staff: bool) -> bool:
        """Whether a member of staff (``staff``) or a customer may complete this step."""
        return self.actor == "any" or self.actor == ("staff" if staff else "customer")

    @property
    def heading(self) -> str:
        """The page's heading: the step's ``title``, else its name."""
        return self.title or self.name

    @model_validator(mode="after")
    def _default_id(self) -> StepBase:
        if not self.id:
            slug = slugify(self.name)
            if not slug:
                raise ValueError(
                    f'cannot make a URL from the name {self.name!r}; set id = "..." ({ID_HINT})'
                )
            if len(slug) > MAX_STEP_ID:
                raise ValueError(
                    f"the name {self.name[:40]!r}… makes a page address of {len(slug)} "
                    f"characters, more than the {MAX_STEP_ID} a step's may have (a folder "
                    "name on every disk): give the step a shorter name, and its page a "
                    "longer title if the customer should read more"
                )
            object.__setattr__(self, "id", slug)
        elif len(self.id) > MAX_STEP_ID:
            raise ValueError(
                f"the id has {len(self.id)} characters; a step's page address may have "
                f"{MAX_STEP_ID} at most (a folder name on every disk)"
            )
        return self


class ProductSelectionStep(StepBase):
    type: Literal["product_selection"]
    product_selection: str
    unique_selection: StrictBool = False


class OrderStep(StepBase):
    type: Literal["order"]


class AuthenticationStep(StepBase):
    type: Literal["authentication", "optional_authentication"]

    @property
    def guest_allowed(self) -> bool:
        return self.type == "optional_authentication"


class CustomerLookupStep(StepBase):
    """Staff find the customer the order is for by email, or create them: the rest of the
    journey then runs with that customer's saved answers, and the order is theirs.

    Only staff complete it (its ``actor`` is "staff", the default here, and no other is
    accepted): a customer ordering for someone else would be a sign-in without a password.
    """

    type: Literal["customer_lookup"]
    actor: StepActor = "staff"

    @field_validator("actor")
    @classmethod
    def _staff_only(cls, value: str) -> str:
        if value != "staff":
            raise ValueError(
                f'a customer lookup is completed by staff; got actor = "{value}": '
                'leave actor out (or write actor = "staff")'
            )
        return value


class FormStep(StepBase):
    type: Literal["form"]
    form: str
    form_target: FormTarget


class PaymentMethodStep(StepBase):
    type: Literal["payment_method"]
    methods: (
        Annotated[
            list[str],
            _not_empty(
                'name at least one payment method, e.g. methods = ["invoice"], or leave '
                "methods out to offer every payment method of the shop"
            ),
        ]
        | None
    ) = None


class PlanChangeStep(StepBase):
    """Offers the plans of a product selection instead of the subscription's current one.

    A higher price per month is an upgrade; ``upgrade`` and ``downgrade`` say when
    each takes effect, ``proration`` what an immediate change charges or credits.
    On a cancelled subscription it orders the chosen plan anew (win-back).
    """

    type: Literal["plan_change"]
    product_selection: str
    upgrade: Literal["immediately", "period_end"] = "immediately"
    downgrade: Literal["period_end", "immediately"] = "period_end"
    proration: Literal["daily", "none"] = "daily"


OFFER_PATTERN = r"^(pause|discount:[a-z0-9][a-z0-9_-]*|plan:[a-z0-9][a-z0-9_-]*)$"


def _offer(value: str) -> str:
    """A cancellation reason's offer, or a ValueError that spells the three kinds out."""
    if re.fullmatch(OFFER_PATTERN, value):
        return value
    message = (
        "expected 'pause', 'discount:<id of a discount>' or 'plan:<id of a product>', "
        f"got {value!r}"
    )
    written = re.sub(r"\s*:\s*", ":", value.strip().lower())
    if written != value and re.fullmatch(OFFER_PATTERN, written):
        message += f" (did you mean {written!r}?)"
    raise ValueError(message)


class CancellationReason(Strict):
    id: Annotated[str, Field(pattern=ID_PATTERN)]
    label: Name
    #: What the customer is offered instead of leaving: discount:<id>, pause or plan:<product>.
    offer: Annotated[str, AfterValidator(_offer)] | None = None
    #: A free-text field goes with this reason.
    comment: StrictBool = False


class CancellationStep(StepBase):
    type: Literal["cancellation"]
    effective: Literal["period_end", "immediately"] = "period_end"
    reasons: Annotated[
        list[CancellationReason],
        _not_empty(
            "at least one reason is needed: add a [[steps.reasons]] table with an id and a label"
        ),
    ]
    #: The billing periods a pause offered instead lasts (an offer = "pause").
    pause_periods: Annotated[int, Field(ge=1, le=24)] = 1

    @model_validator(mode="after")
    def _unique_reasons(self) -> CancellationStep:
        ids = [reason.id for reason in self.reasons]
        twice = sorted({x for x in ids if ids.count(x) > 1})
        if twice:
            raise ValueError(f"reason ids must be unique; {', '.join(map(repr, twice))} repeats")
        return self

    def reason(self, reason_id: str) -> CancellationReason | None:
        return next((reason for reason in self.reasons if reason.id == reason_id), None)


class PauseStep(StepBase):
    type: Literal["pause"]
    #: The numbers of billing periods the customer may choose from.
    durations: Annotated[
        list[Annotated[int, Field(ge=1, le=24)]],
        _not_empty(
            "at least one duration is needed, e.g. durations = [1, 2, 3]; "
            "or leave durations out for 1, 2 or 3 billing periods"
        ),
    ] = [1, 2, 3]

    @field_validator("durations")
    @classmethod
    def _unique(cls, value: list[int]) -> list[int]:
        if len(set(value)) != len(value):
            raise ValueError(f"each duration once, got {value}")
        return sorted(value)


class ConfirmationStep(StepBase):
    type: Literal["confirmation"]
    #: "direct" places the order; "quote" sends the customer a quote they accept (or
    #: decline) first, which only staff do (``klbuild check`` says so otherwise).
    confirmation_type: Literal["direct", "quote"] = "direct"
    #: How many days a quote can be accepted for (only with ``confirmation_type = "quote"``).
    valid_days: Annotated[int, Field(ge=1, le=365)] | None = None
    #: The buyer ticks "I accept the terms and conditions" before the order is placed
    #: (the business entity's ``terms_url`` is linked beside it).
    accept_terms: StrictBool = False
    #: The order button's words; by default "Order and pay" in the page's language,
    #: which says that ordering obliges to pay (§ 312j (3) BGB).
    button: Text = Text("")

    @model_validator(mode="after")
    def _valid_days_of_a_quote(self) -> ConfirmationStep:
        if self.valid_days is not None and self.confirmation_type != "quote":
            raise ValueError(
                'valid_days says how long a quote can be accepted; add confirmation_type = "quote" '
                "or leave valid_days out"
            )
        return self

    @property
    def sends_quote(self) -> bool:
        return self.confirmation_type == "quote"

    @property
    def quote_days(self) -> int:
        """How many days the quote this step sends is valid (30 unless ``valid_days``)."""
        return self.valid_days if self.valid_days is not None else DEFAULT_QUOTE_DAYS


#: A quote's validity when its step gives no ``valid_days``.
DEFAULT_QUOTE_DAYS = 30


class OrderDoneStep(StepBase):
    type: Literal["order_done"]
    external_url: str = ""
    message_title: Text = Text("")
    message_body: Text = Text("")

    @field_validator("external_url")
    @classmethod
    def _external_url(cls, value: str) -> str:
        return _absolute_url(value, "https://example.com/thanks")


Step = Annotated[
    ProductSelectionStep
    | OrderStep
    | AuthenticationStep
    | CustomerLookupStep
    | FormStep
    | PaymentMethodStep
    | PlanChangeStep
    | CancellationStep
    | PauseStep
    | ConfirmationStep
    | OrderDoneStep,
    Field(discriminator="type"),
]


#: Journey keys taken by pages of the shop itself (``site/account/``, ``API/account``).
RESERVED_KEYS = {
    "account": "account page",
    "assets": "stylesheet and script",
    "staff": "staff sign-in page",
}


class Journey(Strict):
    model_config = ConfigDict(extra="forbid", frozen=False)

    name: Name
    key: Annotated[str, Field(pattern=r"^([a-z0-9][a-z0-9_-]*)?$")] = ""

    @field_validator("key")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value in RESERVED_KEYS:
            raise ValueError(
                f"{value!r} is the address of the shop's own {RESERVED_KEYS[value]}; "
                "choose another key"
            )
        return value

    business_entity: Annotated[
        str,
        _not_empty("name the business entity that sells: the id of one in keylight.toml"),
    ]
    order_channel: str = ""
    #: "order": a new purchase; "subscription": the journey acts on one existing
    #: subscription, entered with ``?subscription=<id>``.
    subject: Literal["order", "subscription"] = "order"
    #: A discount (its id in catalog.toml) on what is ordered in this journey.
    discount: str = ""
    #: The journey is open only when this holds (a win-back: cancelled, and not long ago).
    when: Condition | None = None
    #: Who may walk it: "customers" on their own, and staff of the roles named (an
    #: admin may walk every journey). A journey without "customers" refuses them.
    audience: list[Audience] = ["customers"]
    #: Empty only while a journey is being made (the studio writes the file before its
    #: first step): it has no pages then, and ``klbuild check`` warns.
    steps: list[Step] = []
    #: Hooks on events anywhere in the journey.
    hooks: list[Hook] = []

    #: The file this journey was read from, relative to the journeys folder.
    _source: str = PrivateAttr(default="")
    #: A digest of everything a page of this journey shows; see ``config.journey_version``.
    _version: str = PrivateAttr(default="")

    # Read the private values directly: pydantic's attribute fallback is slow enough
    # to show up in a rebuild of a thousand journeys.
    @property
    def source(self) -> str:
        return self.__pydantic_private__["_source"]  # type: ignore[index]

    @property
    def version(self) -> str:
        return self.__pydantic_private__["_version"]  # type: ignore[index]

    @property
    def active_steps(self) -> list[StepBase]:
        return [step for step in self.steps if step.active]

    @property
    def form_steps(self) -> list[FormStep]:
        """The active form steps, in journey order: a later one's answers win over an earlier's."""
        return [step for step in self.active_steps if isinstance(step, FormStep)]

    @property
    def summary(self) -> dict[str, str]:
        """The journey as events and conditions show it."""
        return {"key": self.key, "name": self.name, "order_channel": self.order_channel}

    @property
    def about_subscription(self) -> bool:
        return self.subject == "subscription"

    @property
    def for_customers(self) -> bool:
        """Whether a customer (or an anonymous visitor) may walk this journey."""
        return "customers" in self.audience

    @property
    def staff_walk(self) -> bool:
        """Whether members of staff other than admins walk this journey (its audience)."""
        return any(name != "customers" for name in self.audience)

    def admits(self, role: str) -> bool:
        """Whether someone of ``role`` may walk it: "customer", or a staff role ("admin",
        "sales", "partner"). An admin may walk every journey."""
        if role == "customer":
            return self.for_customers
        return role == "admin" or AUDIENCE_OF_ROLE.get(role) in self.audience

    @field_validator("audience")
    @classmethod
    def _audience_once(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError(
                'name who walks this journey: "customers", "sales" or "partners" '
                "(leave audience out for customers alone)"
            )
        repeated = sorted({name for name in value if value.count(name) > 1})
        if repeated:
            raise ValueError(f"{repeated[0]!r} is named twice in the audience; name it once")
        return value

    def step_path(self, step: StepBase) -> str:
        """A step's page relative to the site's root: ``KEY/STEP/``."""
        return f"{self.key}/{step.id}/"

    def step(self, step_id: str) -> StepBase | None:
        """The active step with this id, or None: inactive steps do not exist for customers."""
        for step in self.active_steps:
            if step.id == step_id:
                return step
        return None


#: The image files a logo, a product's picture and an icon may be, by suffix: what every
#: browser shows.
IMAGE_TYPES = (".svg", ".png", ".jpg", ".jpeg", ".webp", ".gif")
ICON_TYPES = (".svg", ".png", ".ico")


def image_file(value: str, types: tuple[str, ...] = IMAGE_TYPES) -> str:
    """A file in the journeys folder, named relative to it, of one of ``types``."""
    path = PurePosixPath(value)
    if path.is_absolute() or ".." in path.parts or "\\" in value:
        raise ValueError(
            f"expected a file in the journeys folder, named relative to it such as "
            f"'brand/logo.svg', got {value!r}"
        )
    if path.suffix.lower() not in types:
        raise ValueError(f"expected a {', '.join(types)} file, got {value!r}")
    return path.as_posix()


class Brand(Strict):
    """How the shop's pages look its own (``[brand]`` in keylight.toml).

    Both colours must stay readable: white text on them (a button) and them as text
    on the white page (a link) need WCAG AA's 4.5:1 (``colors``).
    """

    #: Buttons that go on, and the current step of the progress bar: white text on it.
    color: str = ""
    #: Links, the other buttons' outlines and text, done steps, notices' edges.
    accent: str = ""
    #: The shop's logo in the pages' header (its ``alt`` is the site's title), and the
    #: icon browsers show in the tab: files in the journeys folder, published under
    #: ``assets/`` with a digest in their names like the stylesheet.
    logo: str = ""
    favicon: str = ""

    @field_validator("logo")
    @classmethod
    def _logo(cls, value: str) -> str:
        return image_file(value, IMAGE_TYPES) if value else ""

    @field_validator("favicon")
    @classmethod
    def _favicon(cls, value: str) -> str:
        return image_file(value, ICON_TYPES) if value else ""

    @field_validator("color")
    @classmethod
    def _color(cls, value: str) -> str:
        return colors.readable_on_white(value, "the brand colour") if value else ""

    @field_validator("accent")
    @classmethod
    def _accent(cls, value: str) -> str:
        return colors.readable_on_white(value, "the accent colour") if value else ""

    def stylesheet(self) -> str:
        """The CSS that sets the colours given, over the stylesheet's own."""
        chosen = {"--brand": self.color, "--accent": self.accent}
        declarations = ";".join(f"{name}:{value}" for name, value in chosen.items() if value)
        return f":root{{{declarations}}}" if declarations else ""


class Account(Strict):
    """The journeys behind the customer's account page (journey keys or file names)."""

    change_journey: str = ""
    cancel_journey: str = ""
    pause_journey: str = ""
    winback_journey: str = ""

    def named(self) -> dict[str, str]:
        """The journeys set, by what they do: {"change": "change-plan", ...}."""
        found = {
            "change": self.change_journey,
            "cancel": self.cancel_journey,
            "pause": self.pause_journey,
            "winback": self.winback_journey,
        }
        return {action: name for action, name in found.items() if name}


#: The staff roles (``klcheckout staff add --role``), as ``[quotes] discount_limits`` names them.
StaffRole = Literal["sales", "partner", "admin"]


class Quotes(Strict):
    """How quotes are made (``[quotes]`` in keylight.toml): the largest discount, in
    percent, each staff role may give on a quote. A role not named gives none."""

    discount_limits: dict[StaffRole, Decimal] = {}

    @field_validator("discount_limits", mode="before")
    @classmethod
    def _limits(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        found = {}
        for role, limit in value.items():
            percent = _decimal(limit, f"the discount limit of {role!r}")
            if not 0 <= percent <= 100:
                raise ValueError(
                    f"expected the discount limit of {role!r} as a percentage from 0 to 100, "
                    f"such as {role} = 15, got {limit!r}"
                )
            found[role] = percent
        return found

    def limit_of(self, role: str) -> Decimal:
        """The largest discount ``role`` may give, in percent (0: none)."""
        return self.discount_limits.get(role, Decimal(0))  # type: ignore[call-overload]


@lru_cache(maxsize=1024)
def slugify(text: str) -> str:
    """A URL segment from a step name: 'Confirm Order' becomes 'confirm-order'.

    Cached: a thousand journeys name their steps alike, and every load slugs them all.
    """
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower())
    return slug.strip("-")
