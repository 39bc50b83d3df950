"""The expression language of conditions and rules: safe, checked early, precise errors."""

from __future__ import annotations

from decimal import Decimal

import pytest

from kljourney.expressions import ExpressionError, Record, parse


def context(**names: dict) -> dict[str, Record]:
    return {name: Record(values) for name, values in names.items()}


@pytest.mark.parametrize(
    ("source", "names", "expected"),
    [
        ("answers.country != 'DE' and not answers.vat_id", {"answers": {"country": "AT"}}, True),
        (
            "answers.country != 'DE' and not answers.vat_id",
            {"answers": {"country": "AT", "vat_id": "ATU1"}},
            False,
        ),
        ("cart.total >= 50", {"cart": {"total": Decimal("49.99")}}, False),
        ("cart.total >= 49.90", {"cart": {"total": Decimal("49.90")}}, True),
        ("'starter' in cart.products", {"cart": {"products": ["starter", "pro"]}}, True),
        ("cart.recurring_count <= 1", {"cart": {"recurring_count": 2}}, False),
        ("entry.segment == 'business'", {"entry": {"segment": "business"}}, True),
        ("entry.utm_campaign == 'winback'", {"entry": {}}, False),
        (
            "customer.signed_in and lower(customer.email) == 'a@acme.test'",
            {"customer": {"signed_in": True, "email": "A@ACME.TEST"}},
            True,
        ),
        ("len(cart.lines) == 0 or cart.count > 3", {"cart": {"lines": [], "count": 0}}, True),
        ("answers.items == 'x'", {"answers": {"items": "x"}}, True),
    ],
)
def test_evaluation(source: str, names: dict, expected: bool) -> None:
    assert parse(source).test(context(**names)) is expected


def test_a_failure_at_run_time_is_false_not_an_error() -> None:
    assert parse("answers.age > 18").test(context(answers={})) is False


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("cart.total >", "not a valid expression: invalid syntax (at column 13)"),
        ("cart.total > > 5", "not a valid expression: invalid syntax (at column 14)"),
        (
            "cartt.total > 5",
            "unknown name 'cartt'; did you mean 'cart'? "
            "known: actor, answers, cart, customer, entry, journey, subscription (at column 1)",
        ),
        (
            "customer.segmnt == 'b2b'",
            "unknown attribute of customer 'segmnt'; did you mean 'segment'?",
        ),
        (
            "answers.__class__",
            "'__class__' cannot be used: names starting with _ are private (at column 1)",
        ),
        ("__import__('os').system('id')", "only these functions can be called"),
        ("open('/etc/passwd')", "only these functions can be called"),
        ("[x for x in cart.lines]", "a comprehension cannot be used in a condition (at column 1)"),
        ("lambda: 1", "a lambda cannot be used in a condition"),
        ("customer.email.endswith('x')", "only these functions can be called"),
        ("", "the expression is empty"),
    ],
)
def test_bad_expressions_are_refused_with_their_position(source: str, message: str) -> None:
    with pytest.raises(ExpressionError) as info:
        parse(source)
    assert message in str(info.value)


def test_records_have_no_methods_to_collide_with() -> None:
    record = Record({"get": "field named get"})
    assert record.get == "field named get"
    assert record.missing is None
    assert record["missing"] is None
