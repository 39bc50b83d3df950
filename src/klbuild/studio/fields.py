"""What the studio's forms ask for, and how each answer is written into a TOML table.

One list of ``Field`` per kind of table (a journey, each step type, a product…)
drives both the form a person sees and the keys written into the file, so the
two cannot drift apart. Only the keys a form shows are touched: anything else
in the table (hooks, rules, a comment) stays as the person who wrote it left it.
Values are written as the journey format spells them (decimals as strings,
booleans as booleans); the model then judges them with ``klbuild check``'s
messages.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import tomlkit
from tomlkit.items import String, StringType, Table

from kljourney.model import STEP_TYPES

from .documents import StudioError

Kind = Literal[
    "text", "textarea", "check", "select", "multi", "number", "numbers", "color", "lines"
]


@dataclass(frozen=True)
class Choices:
    """The ids a form can pick from, read from the shop's files as they are now."""

    business_entities: list[tuple[str, str]] = field(default_factory=list)
    product_selections: list[tuple[str, str]] = field(default_factory=list)
    forms: list[tuple[str, str]] = field(default_factory=list)
    payment_methods: list[tuple[str, str]] = field(default_factory=list)
    products: list[tuple[str, str]] = field(default_factory=list)
    discounts: list[tuple[str, str]] = field(default_factory=list)
    #: The shop's languages when it has several: words customers read get one box each.
    languages: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Field:
    key: str
    label: str
    kind: Kind = "text"
    #: (value, label) pairs for a select or a set of checkboxes.
    choices: Callable[[Choices], list[tuple[str, str]]] | None = None
    help: str = ""
    #: Words customers read: one box per language in a shop of several.
    customer_text: bool = False
    #: Written even when empty or false, as the guide's journeys spell them out.
    always: bool = False
    required: bool = False
    #: The format's default: not written into a table that does not say it already,
    #: and shown for a table that does not.
    default: Any = None

    def options(self, choices: Choices) -> list[tuple[str, str]]:
        return self.choices(choices) if self.choices else []


def _fixed(*pairs: tuple[str, str]) -> Callable[[Choices], list[tuple[str, str]]]:
    return lambda _choices: list(pairs)


_LABELS = {
    "product_selection": "Product Selection",
    "order": "Order (cart)",
    "authentication": "Authentication",
    "optional_authentication": "Optional Authentication (guests allowed)",
    "form": "Form",
    "payment_method": "Payment Method",
    "plan_change": "Plan change",
    "cancellation": "Cancellation",
    "pause": "Pause",
    "confirmation": "Confirmation",
    "order_done": "Order Done",
    "customer_lookup": "Customer lookup (staff)",
}
#: Every step type the model knows, by the name the guide gives it (a type added to the
#: model later is offered under its own name until it gets one here).
STEP_TYPE_LABELS = {
    kind: _LABELS.get(kind, kind.replace("_", " ").capitalize()) for kind in STEP_TYPES
}
ADDABLE_STEP_TYPES = list(STEP_TYPES)

JOURNEY_FIELDS = [
    Field("name", "Name", customer_text=True, required=True),
    Field(
        "order_channel",
        "Order channel",
        help="Optional: recorded on every order of this journey (e.g. web, partner).",
    ),
    Field(
        "business_entity",
        "Business entity",
        "select",
        choices=lambda c: c.business_entities,
        required=True,
    ),
    Field(
        "subject",
        "About",
        "select",
        choices=_fixed(
            ("order", "A new order"),
            ("subscription", "A subscription the customer has (from the account page)"),
        ),
        default="order",
    ),
    Field(
        "audience",
        "Who may walk it",
        "multi",
        choices=_fixed(
            ("customers", "Customers"),
            ("sales", "The sales team"),
            ("partners", "Partners"),
        ),
        default=["customers"],
        help="Staff sign in on the staff page; an admin may walk every journey.",
    ),
    Field(
        "discount",
        "Discount",
        "select",
        choices=lambda c: c.discounts,
        help="Optional: a discount on what is ordered in this journey (a win-back, a campaign).",
    ),
    Field(
        "when",
        "Open only when",
        help="Optional: a condition, e.g. subscription.status == 'cancelled'.",
    ),
]

STEP_COMMON = [
    Field("name", "Name", customer_text=True, required=True, help="Shown in the progress bar."),
    Field(
        "title",
        "Page title",
        customer_text=True,
        help="Optional: the page's heading when it should differ from the name.",
    ),
    Field("active", "Active", "check", always=True),
    Field("progress_bar", "Progress Bar", "check", always=True),
    Field(
        "actor",
        "Completed by",
        "select",
        choices=_fixed(
            ("any", "Whoever walks the journey"),
            ("customer", "The customer"),
            ("staff", "A member of staff"),
        ),
        default="any",
    ),
    Field(
        "when",
        "Condition",
        help="Optional: the step is skipped unless this holds, e.g. cart.total > 100.",
    ),
]

STEP_FIELDS: dict[str, list[Field]] = {
    "product_selection": [
        Field(
            "product_selection",
            "Product selection",
            "select",
            choices=lambda c: c.product_selections,
            required=True,
        ),
        Field(
            "unique_selection",
            "Unique Selection",
            "check",
            always=True,
            help="The customer may order only one product.",
        ),
    ],
    "form": [
        Field(
            "form_target",
            "Form target",
            "select",
            choices=_fixed(
                ("sold_to_account", "Sold To Account"),
                ("ship_to", "Ship To"),
                ("order_notes", "Order notes"),
            ),
            required=True,
        ),
        Field("form", "Form", "select", choices=lambda c: c.forms, required=True),
    ],
    "payment_method": [
        Field(
            "methods",
            "Payment methods",
            "multi",
            choices=lambda c: c.payment_methods,
            help="None ticked: every payment method of the shop.",
        ),
    ],
    "plan_change": [
        Field(
            "product_selection",
            "Plans to choose from",
            "select",
            choices=lambda c: c.product_selections,
            required=True,
        ),
        Field(
            "upgrade",
            "An upgrade takes effect",
            "select",
            choices=_fixed(("immediately", "Immediately"), ("period_end", "At the period's end")),
            always=True,
        ),
        Field(
            "downgrade",
            "A downgrade takes effect",
            "select",
            choices=_fixed(("period_end", "At the period's end"), ("immediately", "Immediately")),
            always=True,
        ),
        Field(
            "proration",
            "An immediate change charges or credits",
            "select",
            choices=_fixed(("daily", "The days left in the period"), ("none", "Nothing")),
            always=True,
        ),
    ],
    "cancellation": [
        Field(
            "effective",
            "The cancellation takes effect",
            "select",
            choices=_fixed(("period_end", "At the period's end"), ("immediately", "Immediately")),
            always=True,
        ),
        Field(
            "pause_periods",
            "A pause offered instead lasts (billing periods)",
            "number",
        ),
    ],
    "pause": [
        Field(
            "durations",
            "Durations the customer may choose (billing periods)",
            "numbers",
            help="Whole numbers, separated by commas: e.g. 1, 2, 3.",
        ),
    ],
    "confirmation": [
        Field(
            "confirmation_type",
            "Confirmation type",
            "select",
            choices=_fixed(
                ("direct", "Direct Confirmation"),
                ("quote", "Quote: staff send it, the customer accepts"),
            ),
            always=True,
        ),
        Field(
            "valid_days",
            "A quote can be accepted for (days)",
            "number",
            help="Only for a quote: 1 to 365; 30 when empty.",
        ),
        Field("accept_terms", "The buyer ticks to accept the terms", "check"),
    ],
    "order_done": [
        Field(
            "external_url",
            "External URL",
            help="Optional: where the customer is sent once the order is placed.",
        ),
        Field("message_title", "Message title", customer_text=True),
        Field("message_body", "Message body", "textarea", customer_text=True),
    ],
}

PRODUCT_FIELDS = [
    Field("id", "Id", required=True, help="Lowercase letters, digits, '-' and '_'."),
    Field("name", "Name", customer_text=True, required=True),
    Field("description", "Description", "textarea", customer_text=True, help="Markdown."),
    Field("price", "Price", required=True, help='A decimal such as "9.90".'),
    Field(
        "billing",
        "Billing",
        "select",
        choices=_fixed(("one_time", "Once"), ("monthly", "Monthly"), ("yearly", "Yearly")),
        required=True,
    ),
    Field("tax_rate", "Tax rate (%)", required=True, help='A percentage such as "19".'),
    Field("image", "Picture", help="A file in the journeys folder, e.g. images/starter.png."),
]

SELECTION_FIELDS = [
    Field("id", "Id", required=True, help="Lowercase letters, digits, '-' and '_'."),
    Field("name", "Name", customer_text=True, required=True),
    Field("products", "Products", "multi", choices=lambda c: c.products, always=True),
]

DISCOUNT_FIELDS = [
    Field("id", "Id", required=True, help="Lowercase letters, digits, '-' and '_'."),
    Field("name", "Name", customer_text=True, required=True, help="What customers read."),
    Field("percent", "Percent off", help='Either this, e.g. "20" …'),
    Field("amount", "Amount off", help='… or this, e.g. "5.00", per billing period.'),
    Field(
        "periods", "For how many billing periods", "number", help="Empty: for as long as it runs."
    ),
    Field(
        "products",
        "Products",
        "multi",
        choices=lambda c: c.products,
        help="None ticked: every recurring product.",
    ),
]

FORM_FIELDS = [
    Field("id", "Id", required=True, help="Lowercase letters, digits, '-' and '_'."),
    Field("name", "Name", customer_text=True, required=True),
]

FORM_FIELD_FIELDS = [
    Field("name", "Field name", required=True, help="Letters, digits and '_': e.g. vat_id."),
    Field("label", "Label", customer_text=True, required=True),
    Field(
        "type",
        "Type",
        "select",
        choices=_fixed(
            *(
                (kind, kind)
                for kind in (
                    "text",
                    "email",
                    "tel",
                    "textarea",
                    "select",
                    "checkbox",
                    "date",
                    "country",
                    "number",
                )
            )
        ),
        always=True,
    ),
    Field("required", "Required", "check"),
    Field(
        "autocomplete",
        "Autocomplete",
        help="What browsers fill in and returning customers find filled: e.g. email.",
    ),
    Field("help", "Help text", customer_text=True),
    Field("max_length", "Longest answer (characters)", "number"),
    Field("options", "Options", "lines", help="For a select field: one option per line."),
]

REASON_FIELDS = [
    Field("id", "Id", required=True, help="Lowercase letters, digits, '-' and '_'."),
    Field("label", "Label", customer_text=True, required=True),
    Field(
        "offer",
        "Offer instead",
        help="Optional: pause, discount:<discount id> or plan:<product id>.",
    ),
    Field("comment", "A free-text field goes with this reason", "check"),
]

BRAND_FIELDS = [
    Field("color", "Brand colour", "color", help="Buttons that go on, and the current step."),
    Field("accent", "Accent colour", "color", help="Links, other buttons, done steps."),
]


def step_fields(step_type: str) -> list[Field]:
    return STEP_COMMON + STEP_FIELDS.get(step_type, [])


def every_step_field_key() -> set[str]:
    return {f.key for fields in STEP_FIELDS.values() for f in fields}


# -- reading -----------------------------------------------------------------------------


def values_of(table: Mapping[str, Any], fields: list[Field]) -> dict[str, Any]:
    """The current values of ``fields`` in a TOML table, as the form shows them."""
    found: dict[str, Any] = {}
    for spec in fields:
        value = table.get(spec.key, spec.default)
        if hasattr(value, "unwrap"):
            value = value.unwrap()
        if spec.kind == "check":
            default = spec.key in ("active",)
            found[spec.key] = bool(value) if value is not None else default
        elif spec.kind == "multi":
            found[spec.key] = list(value) if isinstance(value, list) else []
        elif spec.kind == "lines":
            found[spec.key] = "\n".join(value) if isinstance(value, list) else ""
        elif spec.kind == "numbers":
            found[spec.key] = ", ".join(map(str, value)) if isinstance(value, list) else ""
        elif isinstance(value, dict):
            found[spec.key] = {str(k): str(v) for k, v in value.items()}
        else:
            found[spec.key] = "" if value is None else str(value)
    return found


def values_from(form: Any, fields: list[Field], languages: list[str]) -> dict[str, Any]:
    """What a posted form says for ``fields`` (``form`` is werkzeug's MultiDict).

    A customer text in a shop of several languages arrives as ``name@de``,
    ``name@en``: it becomes a table by language, as the format writes it.
    """
    found: dict[str, Any] = {}
    for spec in fields:
        if spec.kind == "check":
            found[spec.key] = spec.key in form
        elif spec.kind == "multi":
            found[spec.key] = [v for v in form.getlist(spec.key) if v]
        elif spec.kind == "lines":
            lines = form.get(spec.key, "").splitlines()
            found[spec.key] = [line.strip() for line in lines if line.strip()]
        elif spec.customer_text and len(languages) > 1:
            found[spec.key] = {tag: _text(form, f"{spec.key}@{tag}") for tag in languages}
            if not any(found[spec.key].values()):
                found[spec.key] = ""
        else:
            found[spec.key] = _text(form, spec.key)
    return found


def _text(form: Any, name: str) -> str:
    """A text box's answer with the line breaks the files use (LF).

    Browsers send a text area's line breaks as CR LF, whatever the system (HTML says
    so): written as sent, every one would be an escaped CR in the file.
    """
    value: str = form.get(name, "")
    return value.replace("\r\n", "\n").replace("\r", "\n").strip()


# -- writing -----------------------------------------------------------------------------


def apply(table: Table | Any, fields: list[Field], values: Mapping[str, Any]) -> None:
    """Write ``values`` into ``table``: set what was given, remove what was emptied.

    A key left empty is removed rather than written as "" (the format's default
    for every optional key), unless the field is one the format spells out.
    """
    for spec in fields:
        if spec.key not in values:
            continue
        value = values[spec.key]
        if spec.kind == "number":
            value = _number(value, spec)
        elif spec.kind == "numbers":
            value = [_number(part.strip(), spec) for part in str(value).split(",") if part.strip()]
        elif spec.kind == "multi" and isinstance(value, list):
            value = _in_written_order(table.get(spec.key), value)
        if spec.default is not None and value == spec.default and spec.key not in table:
            continue  # the default goes without saying
        if _empty(value) and not spec.always:
            if spec.key in table:
                del table[spec.key]
            continue
        if isinstance(value, dict):
            inline = tomlkit.inline_table()
            inline.update(value)
            value = inline
        elif isinstance(value, list):
            array = tomlkit.array()
            array.extend(value)
            value = array
        elif isinstance(value, str) and "\n" in value:
            value = _multiline(value)
        _set(table, spec.key, value)


def _in_written_order(current: Any, ticked: list[str]) -> list[str]:
    """``ticked`` (in the form's order) in the order the file has them, new ones last.

    The order can mean something (the product shown first); the checkboxes cannot
    say it, so ticking boxes must not undo it.
    """
    written = current.unwrap() if hasattr(current, "unwrap") else current
    if not isinstance(written, list):
        return ticked
    kept = [value for value in written if value in ticked]
    return kept + [value for value in ticked if value not in written]


def _multiline(value: str) -> String:
    """A text of several lines as a TOML multi-line string, its first line below the key.

    On one line, with its line breaks escaped, it could not be read as the paragraphs
    it is. TOML drops a line break right after the opening quotes: the value is the same.
    """
    plain = tomlkit.string(value, multiline=True)
    return String(StringType.MLB, value, "\n" + plain.as_string()[3:-3], plain.trivia)


def remove(table: Table | Any, keys: set[str]) -> None:
    for key in keys:
        if key in table:
            del table[key]


def _set(table: Any, key: str, value: Any) -> None:
    current = table.get(key)
    if hasattr(current, "unwrap") and current.unwrap() == (
        value.unwrap() if hasattr(value, "unwrap") else value
    ):
        return  # untouched: keeps its quoting, its comment and its place
    table[key] = value


def _empty(value: Any) -> bool:
    return value in ("", None, False) or value == []


def _number(value: Any, spec: Field) -> int | str:
    if value in ("", None):
        return ""
    if isinstance(value, str) and re.fullmatch(r"[0-9]{1,9}", value):
        return int(value)
    raise StudioError(f"{spec.label}: expected a whole number such as 60, got {value!r}")
