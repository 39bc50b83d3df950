"""Messages for people: turn what went wrong into what to do about it."""

from __future__ import annotations

import difflib
import re
from typing import Any

from pydantic import BaseModel

from .model import HOOK_TYPES, STEP_TYPES, Journey

#: ``price = 9,90``: a decimal comma, which TOML reads as two values.
_DECIMAL_COMMA = re.compile(r"=\s*-?[0-9]+,[0-9]+\s*(#.*)?$")


def toml_hint(text: str, line: int | None) -> str:
    """What a person most likely meant by the line TOML could not read ("" if no idea)."""
    lines = text.splitlines()
    if line is None or not 0 < line <= len(lines):
        return ""
    if _DECIMAL_COMMA.search(lines[line - 1]):
        return (
            "; a decimal number takes a point, and prices are quoted decimal strings: "
            'price = "9.90"'
        )
    return ""


def unknown(kind: str, found: object, known: Any) -> str:
    """ "unknown product selection 'plan'; known: plans, add-ons" with a suggestion if close."""
    names = [str(k) for k in known]
    message = f"unknown {kind} {found!r}; "
    close = difflib.get_close_matches(str(found), names, 1, 0.6)
    if close:
        message += f"did you mean {close[0]!r}? "
    return message + (f"known: {', '.join(names)}" if names else f"no {kind} is defined")


#: The discriminated unions of the format, by the list they appear in.
UNION_TAGS: dict[str, tuple[str, ...]] = {"steps": STEP_TYPES, "hooks": HOOK_TYPES}


def without_union_tags(loc: tuple) -> tuple:
    """Drop the union member pydantic puts in a location: ('steps', 2, 'form', 'form')."""
    kept: list[Any] = []
    for index, part in enumerate(loc):
        if (
            index >= 2
            and isinstance(loc[index - 1], int)
            and part in UNION_TAGS.get(str(loc[index - 2]), ())
        ):
            continue
        kept.append(part)
    return tuple(kept)


def dotted(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def step_label(data: dict[str, Any], index: int) -> str:
    steps = data.get("steps")
    name = None
    if isinstance(steps, list) and index < len(steps) and isinstance(steps[index], dict):
        name = steps[index].get("name")
    return f"step {index + 1} {name!r}" if isinstance(name, str) else f"step {index + 1}"


def step_label_of(journey: Journey, index: int) -> str:
    return f"step {index + 1} {journey.steps[index].name!r}"


def known_fields(data: dict[str, Any], model: type[BaseModel], loc: tuple) -> list[str]:
    """The field names valid where an unknown one was found, for a 'did you mean'."""
    current: Any = model
    value: Any = data
    for part in loc[:-1]:
        if isinstance(part, int):
            value = value[part] if isinstance(value, list) and part < len(value) else None
            continue
        value = value.get(part) if isinstance(value, dict) else None
        if current is Journey and part == "steps":
            current = "steps"
            continue
        if isinstance(current, type) and issubclass(current, BaseModel):
            annotation = (
                current.model_fields[part].annotation if part in current.model_fields else None
            )
            current = model_in(annotation)
    if current == "steps":
        step_type = value.get("type") if isinstance(value, dict) else None
        current = step_class(step_type)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def model_in(annotation: Any) -> Any:
    """The model class inside ``list[Model]``, ``dict[str, Model]`` or ``Model``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = model_in(arg)
        if found is not None:
            return found
    return None


def step_class(step_type: Any) -> type[BaseModel]:
    from . import model as m

    classes = {
        "product_selection": m.ProductSelectionStep,
        "order": m.OrderStep,
        "authentication": m.AuthenticationStep,
        "optional_authentication": m.AuthenticationStep,
        "form": m.FormStep,
        "payment_method": m.PaymentMethodStep,
        "plan_change": m.PlanChangeStep,
        "cancellation": m.CancellationStep,
        "pause": m.PauseStep,
        "confirmation": m.ConfirmationStep,
        "order_done": m.OrderDoneStep,
    }
    return classes.get(step_type, m.StepBase)
