"""Conditions and rules: one small, safe expression language for every journey file.

Expressions use Python's expression syntax (``cart.total >= 50 and not
customer.signed_in``) and are evaluated by ``simpleeval``, which walks the parsed
tree itself and refuses dunder attributes, imports and anything not listed here;
nothing is ever passed to ``eval``. They are parsed when the journeys load, so a
typo is a ``klbuild check`` error with its column, and names are checked against
the documented context (README, "Conditions and rules").
"""

from __future__ import annotations

import ast
import difflib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from simpleeval import EvalWithCompoundTypes, InvalidExpression

#: The names an expression can use, with their attributes. ``None``: any attribute
#: (form answers and query parameters are the shop's own names).
CONTEXT: dict[str, frozenset[str] | None] = {
    "cart": frozenset(
        {
            "lines",
            "products",
            "count",
            "quantity",
            "total",
            "net",
            "tax",
            "one_time_total",
            "monthly_total",
            "yearly_total",
            "billing_periods",
            "recurring_count",
            "currency",
        }
    ),
    "customer": frozenset({"signed_in", "guest", "email", "segment", "answers", "subscriptions"}),
    #: Who is walking the journey: ``role`` is "customer" for a customer or an anonymous
    #: visitor, else the staff member's role ("sales", "partner", "admin"); ``email`` and
    #: ``partner`` (the partner's organisation) are a staff member's, "" for a customer.
    "actor": frozenset({"role", "email", "partner"}),
    #: The subscription a journey with subject = "subscription" acts on.
    "subscription": frozenset(
        {
            "id",
            "status",
            "product",
            "name",
            "billing",
            "quantity",
            "price",
            "period_start",
            "period_end",
            "days_left",
            "months_active",
            "cancelled_days",
            "paused_until",
            "discount",
            "scheduled_change",
            "won_back",
        }
    ),
    "answers": None,
    "journey": frozenset({"key", "name", "order_channel"}),
    "entry": None,
}

#: Functions an expression may call.
FUNCTIONS: dict[str, Any] = {
    "len": len,
    "any": any,
    "all": all,
    "min": min,
    "max": max,
    "sum": sum,
    "lower": lambda value: str(value or "").lower(),
    "decimal": lambda value: Decimal(str(value)),
}

_CONSTANTS = {"True", "False", "None", "true", "false", "none"}
_ALLOWED = (
    ast.Expression,
    ast.BoolOp,
    ast.And,
    ast.Or,
    ast.UnaryOp,
    ast.Not,
    ast.USub,
    ast.UAdd,
    ast.BinOp,
    ast.Add,
    ast.Sub,
    ast.Mult,
    ast.Div,
    ast.Mod,
    ast.Compare,
    ast.Eq,
    ast.NotEq,
    ast.Lt,
    ast.LtE,
    ast.Gt,
    ast.GtE,
    ast.In,
    ast.NotIn,
    ast.Is,
    ast.IsNot,
    ast.IfExp,
    ast.Name,
    ast.Load,
    ast.Attribute,
    ast.Subscript,
    ast.Constant,
    ast.List,
    ast.Tuple,
    ast.Call,
)


class ExpressionError(ValueError):
    """An expression that cannot be used; ``column`` counts from 1."""

    def __init__(self, message: str, column: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.column = column

    def __str__(self) -> str:
        if self.column is None:
            return self.message
        return f"{self.message} (at column {self.column})"


class Record:
    """Named values that read as attributes, and whose missing names read as None.

    ``answers.vat_id`` is None until the customer fills it in, so rules such as
    ``not answers.vat_id`` need no special case. It is deliberately not a dict:
    a dict's methods would hide fields named ``items``, ``get`` or ``keys``.
    """

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[str, Any] | None = None) -> None:
        object.__setattr__(self, "_data", dict(data or {}))

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return self._data.get(name)

    def __getitem__(self, name: str) -> Any:
        return self._data.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._data

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Record) and other._data == self._data

    def __repr__(self) -> str:
        return f"Record({self._data!r})"


@dataclass(frozen=True)
class Expression:
    """A parsed, checked expression, ready to evaluate many times."""

    source: str
    tree: ast.Expression

    def evaluate(self, context: Mapping[str, Any]) -> Any:
        names = {"true": True, "false": False, "none": None, **context}
        evaluator = EvalWithCompoundTypes(names=names, functions=dict(FUNCTIONS))
        return evaluator.eval(self.source, previously_parsed=self.tree.body)

    def test(self, context: Mapping[str, Any]) -> bool:
        """The expression's truth; one that fails at run time (``None > 5``) is false."""
        try:
            return bool(self.evaluate(context))
        except (
            InvalidExpression,
            TypeError,
            ArithmeticError,
            ValueError,
            KeyError,
            IndexError,  # customer.subscriptions[0] of a customer who has none
        ):
            return False


def parse(source: str) -> Expression:
    """Parse and check an expression, or raise ``ExpressionError`` saying where it is wrong."""
    if not source.strip():
        raise ExpressionError("the expression is empty; write a condition such as cart.count > 0")
    text = source.strip()
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        column = exc.offset if exc.offset and exc.offset <= len(text) else len(text) + 1
        raise ExpressionError(f"not a valid expression: {exc.msg}", column) from None
    for node in ast.walk(tree):
        _check_node(node)
    return Expression(text, tree)


def answer_names(source: str) -> list[tuple[str, int]]:
    """The form fields an expression reads, as (name, column): ``answers.vat_id``,
    ``customer.answers.vat_id``. The loader checks them against the journey's forms."""
    found = []
    for node in ast.walk(parse(source).tree):
        if isinstance(node, ast.Attribute) and _is_answers(node.value):
            found.append((node.attr, node.end_col_offset - len(node.attr) + 1))
    return sorted(found, key=lambda item: item[1])


def _is_answers(node: ast.AST) -> bool:
    if isinstance(node, ast.Name):
        return node.id == "answers"
    return (
        isinstance(node, ast.Attribute)
        and node.attr == "answers"
        and isinstance(node.value, ast.Name)
        and node.value.id == "customer"
    )


def _check_node(node: ast.AST) -> None:
    column = getattr(node, "col_offset", -1) + 1 or None
    if not isinstance(node, _ALLOWED):
        what = type(node).__name__
        raise ExpressionError(f"{_describe(what)} cannot be used in a condition", column)
    if isinstance(node, ast.Name):
        if node.id not in CONTEXT and node.id not in FUNCTIONS and node.id not in _CONSTANTS:
            known = sorted(CONTEXT)
            raise ExpressionError(_unknown("name", node.id, known), column)
    elif isinstance(node, ast.Attribute):
        if node.attr.startswith("_"):
            raise ExpressionError(
                f"'{node.attr}' cannot be used: names starting with _ are private", column
            )
        if isinstance(node.value, ast.Name):
            allowed = CONTEXT.get(node.value.id)
            if allowed is not None and node.attr not in allowed:
                message = _unknown(f"attribute of {node.value.id}", node.attr, sorted(allowed))
                raise ExpressionError(
                    message, node.end_col_offset and node.end_col_offset - len(node.attr) + 1
                )
    elif isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
            raise ExpressionError(
                f"only these functions can be called: {', '.join(sorted(FUNCTIONS))}", column
            )
        if node.keywords:
            raise ExpressionError("functions take plain arguments, not name=value", column)


def _describe(node_type: str) -> str:
    return {
        "Lambda": "a lambda",
        "ListComp": "a comprehension",
        "GeneratorExp": "a comprehension",
        "DictComp": "a comprehension",
        "SetComp": "a comprehension",
        "NamedExpr": "an assignment (:=)",
        "Dict": "a {...} mapping",
        "Set": "a {...} set",
        "Await": "await",
        "Starred": "a * argument",
        "FormattedValue": "an f-string",
        "JoinedStr": "an f-string",
    }.get(node_type, f"'{node_type}'")


def _unknown(kind: str, found: str, known: list[str]) -> str:
    message = f"unknown {kind} '{found}'; "
    close = difflib.get_close_matches(found, known, 1, 0.6)
    if close:
        message += f"did you mean '{close[0]}'? "
    return message + f"known: {', '.join(known)}"
