"""Loading journeys: the model, and one test per kind of mistake with its exact message."""

from __future__ import annotations

import re
import shutil
import tomllib
from decimal import Decimal
from pathlib import Path

import pytest
from example import copy_self_service

import kljourney
from kljourney.errors import ConfigError
from kljourney.model import FormStep, ProductSelectionStep

KEY = "k9uscs7vr7"

EXAMPLE = Path(__file__).resolve().parents[2] / "journeys"


@pytest.fixture
def shop_dir(tmp_path: Path) -> Path:
    """A private copy of the example shop with its self-service journey, safe to break.
    (The example's other journeys are loaded in test_example.py.)"""
    return copy_self_service(tmp_path / "journeys")


def edit(path: Path, old: str, new: str, count: int = 1) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path.name}"
    path.write_text(text.replace(old, new, count))


def problems(root: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        kljourney.load(root)
    return [str(p) for p in info.value.problems]


def only_error(root: Path) -> str:
    found = [p for p in problems(root) if ": error:" in p]
    assert len(found) == 1, found
    return found[0]


# -- the example ------------------------------------------------------------------


def test_example_loads_into_one_model(shop_dir: Path) -> None:
    shop = kljourney.load(shop_dir)
    assert shop.site.title == "Acme Shop"
    assert shop.warnings == []
    (journey,) = shop.journeys.values()
    assert journey.name == "Self-Service Shop & Checkout"
    assert [s.name for s in journey.steps] == [
        "Product selection",
        "Cart",
        "Login or create an account",
        "Customer Information",
        "Payment method",
        "Confirm Order",
        "Order done",
    ]
    assert [s.id for s in journey.steps][:2] == ["product-selection", "cart"]
    assert [s.progress_bar for s in journey.steps] == [True, True, False, True, True, True, True]
    assert isinstance(journey.steps[3], FormStep)
    assert journey.steps[3].form_target == "sold_to_account"
    price = shop.products["starter"].price
    assert isinstance(price, Decimal) and price == Decimal("9.90")
    assert {p.billing for p in shop.products.values()} == {"one_time", "monthly", "yearly"}
    assert len(journey.version) == 12


def test_version_changes_with_what_the_journey_shows(shop_dir: Path) -> None:
    before = next(iter(kljourney.load(shop_dir).journeys.values())).version
    edit(shop_dir / "catalog.toml", 'price = "9.90"', 'price = "10.90"')
    after = next(iter(kljourney.load(shop_dir).journeys.values())).version
    assert before != after


# -- keys ---------------------------------------------------------------------------


def test_missing_key_is_written_once_and_kept(shop_dir: Path) -> None:
    journey_file = shop_dir / "self-service.toml"
    text = journey_file.read_text()
    start = text.index('key = "')
    end = text.index("\n", start)
    journey_file.write_text(text[:start] + 'key = ""' + text[end:])

    checked = kljourney.load(shop_dir)  # check: nothing written
    assert 'key = ""' in journey_file.read_text()

    first = kljourney.load(shop_dir, assign_keys=True)
    written = journey_file.read_text()
    (key,) = first.journeys
    assert f'key = "{key}"' in written
    assert "# Move a [[steps]] block" in written, "comments are kept"
    assert key not in checked.journeys or len(key) == 10

    second = kljourney.load(shop_dir, assign_keys=True)
    assert list(second.journeys) == [key]
    assert journey_file.read_text() == written


def test_key_line_is_added_after_the_name_when_absent(shop_dir: Path) -> None:
    journey_file = shop_dir / "self-service.toml"
    lines = [
        line for line in journey_file.read_text().splitlines(True) if not line.startswith("key")
    ]
    journey_file.write_text("".join(lines))
    shop = kljourney.load(shop_dir, assign_keys=True)
    (key,) = shop.journeys
    new_lines = journey_file.read_text().splitlines()
    name_index = next(i for i, line in enumerate(new_lines) if line.startswith("name ="))
    assert new_lines[name_index + 1] == f'key = "{key}"'


def test_no_key_is_written_when_there_are_errors(shop_dir: Path) -> None:
    journey_file = shop_dir / "self-service.toml"
    edit(journey_file, 'key = "', 'key = "" #', 1)
    edit(journey_file, 'form = "billing"', 'form = "nope"')
    before = journey_file.read_text()
    with pytest.raises(ConfigError):
        kljourney.load(shop_dir, assign_keys=True)
    assert journey_file.read_text() == before


# -- one test per kind of error ---------------------------------------------------------


def test_toml_syntax_error_has_file_and_line(shop_dir: Path) -> None:
    edit(shop_dir / "catalog.toml", 'name = "Pro"', 'name = "Pro')
    message = only_error(shop_dir)
    assert message.startswith("catalog.toml:14: error: not valid TOML: Illegal character")


def test_unknown_step_type_lists_the_valid_ones(shop_dir: Path) -> None:
    edit(shop_dir / "self-service.toml", 'type = "payment_method"', 'type = "payment_methods"')
    message = only_error(shop_dir)
    assert message == (
        "self-service.toml:38: error: journey 'Self-Service Shop & Checkout', "
        "step 5 'Payment method', field 'type': unknown step type 'payment_methods'; "
        "did you mean 'payment_method'? known: product_selection, order, authentication, "
        "optional_authentication, customer_lookup, form, payment_method, plan_change, "
        "cancellation, pause, confirmation, order_done"
    )


def test_unknown_field_suggests_the_closest(shop_dir: Path) -> None:
    edit(shop_dir / "self-service.toml", "unique_selection = false", "unique_selecton = false")
    message = only_error(shop_dir)
    assert message == (
        "self-service.toml:13: error: journey 'Self-Service Shop & Checkout', "
        "step 1 'Product selection', field 'unique_selecton': "
        "unknown field 'unique_selecton'; did you mean 'unique_selection'?"
    )


def test_unknown_field_without_a_close_match_lists_valid_fields(shop_dir: Path) -> None:
    edit(shop_dir / "keylight.toml", 'locale = "en-US"', 'locale = "en-US"\ncolour = "red"')
    message = only_error(shop_dir)
    assert "field 'site.colour': unknown field 'colour'; valid here: title, base_url" in message


def test_missing_required_field(shop_dir: Path) -> None:
    edit(shop_dir / "self-service.toml", 'form = "billing"\n', "")
    message = only_error(shop_dir)
    assert message == (
        "self-service.toml:28: error: journey 'Self-Service Shop & Checkout', "
        "step 4 'Customer Information', field 'form': missing; this field is required"
    )


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("price = 9.90", 'write the price as a quoted decimal string, e.g. "9.90", not 9.9'),
        ('price = "9,90"', "expected a decimal string such as \"9.90\", got '9,90'"),
        ('price = "-1"', "a price cannot be negative, got '-1'"),
    ],
)
def test_bad_decimals(shop_dir: Path, written: str, expected: str) -> None:
    edit(shop_dir / "catalog.toml", 'price = "9.90"', written)
    message = only_error(shop_dir)
    assert message == f"catalog.toml:7: error: field 'products[0].price': {expected}"


def test_bad_tax_rate(shop_dir: Path) -> None:
    edit(shop_dir / "catalog.toml", 'tax_rate = "19"', 'tax_rate = "119"')
    assert only_error(shop_dir).endswith(
        "field 'products[0].tax_rate': expected a percentage from 0 to below 100, got '119'"
    )


def test_duplicate_product_id(shop_dir: Path) -> None:
    edit(shop_dir / "catalog.toml", 'id = "pro"', 'id = "starter"')
    assert problems(shop_dir)[0] == (
        "catalog.toml:13: error: field 'products[1].id': duplicate id 'starter'; "
        "each entry in [[products]] needs its own id"
    )


def test_duplicate_step_id(shop_dir: Path) -> None:
    edit(shop_dir / "self-service.toml", 'name = "Cart"', 'name = "Product selection"')
    message = only_error(shop_dir)
    assert (
        "step 2 'Product selection', field 'id': step id 'product-selection' is also used by step 1"
        in message
    )


def test_duplicate_journey_key(shop_dir: Path) -> None:
    shutil.copy(shop_dir / "self-service.toml", shop_dir / "copy.toml")
    message = only_error(shop_dir)
    assert message.startswith(
        "self-service.toml:5: error: journey 'Self-Service Shop & Checkout', field 'key': key "
    )
    assert "is already used by copy.toml" in message


def test_unknown_reference_lists_the_known_ids(shop_dir: Path) -> None:
    catalog = shop_dir / "catalog.toml"
    catalog.write_text(
        catalog.read_text()
        + '\n[[product_selections]]\nid = "add-ons"\nname = "Add-ons"\nproducts = ["onboarding"]\n'
    )
    edit(
        shop_dir / "self-service.toml", 'product_selection = "plans"', 'product_selection = "plan"'
    )
    assert only_error(shop_dir) == (
        "self-service.toml:12: error: journey 'Self-Service Shop & Checkout', "
        "step 1 'Product selection', field 'product_selection': unknown product selection "
        "'plan'; did you mean 'plans'? known: plans, subscription-plans, add-ons"
    )


def test_unknown_references_everywhere_reported_at_once(shop_dir: Path) -> None:
    journey = shop_dir / "self-service.toml"
    edit(journey, 'business_entity = "acme"', 'business_entity = "acm"')
    edit(journey, 'form = "billing"', 'form = "biling"')
    edit(journey, 'type = "order"', 'type = "cart"')  # makes the journey itself invalid
    edit(shop_dir / "catalog.toml", '"starter", "pro"', '"starter", "prod"')
    found = problems(shop_dir)
    assert len(found) == 4
    assert any(
        "unknown business entity 'acm'; did you mean 'acme'? known: acme" in p for p in found
    )
    assert any("unknown form 'biling'; did you mean 'billing'? known: billing" in p for p in found)
    assert any("unknown step type 'cart'" in p for p in found)
    assert any(
        p.startswith(
            "catalog.toml:42: error: field 'product_selections[0].products': unknown product 'prod'"
        )
        for p in found
    )


def test_unknown_payment_method_in_step(shop_dir: Path) -> None:
    edit(
        shop_dir / "self-service.toml",
        'type = "payment_method"',
        'type = "payment_method"\nmethods = ["card"]',
    )
    assert (
        "field 'methods': unknown payment method 'card'; known: invoice, sepa_debit"
        in only_error(shop_dir)
    )


def test_unsupported_payment_method_in_shop(shop_dir: Path) -> None:
    edit(shop_dir / "keylight.toml", "invoice    =", 'paypal = { label = "PayPal" }\ninvoice    =')
    assert "field 'payment_methods.paypal': unknown payment method 'paypal'" in only_error(shop_dir)


def test_sepa_needs_a_creditor_id(shop_dir: Path) -> None:
    edit(shop_dir / "keylight.toml", 'sepa_creditor_id = "DE98ZZZ09999999999"\n', "")
    assert "business entity 'acme' has no sepa_creditor_id" in only_error(shop_dir)


@pytest.mark.parametrize(
    ("file", "old", "new", "expected"),
    [
        ("keylight.toml", 'locale = "en-US"', 'locale = "xx-YY"', "unknown locale 'xx-YY'"),
        ("keylight.toml", 'currency = "EUR"', 'currency = "EUX"', "unknown currency 'EUX'"),
        (
            "keylight.toml",
            'base_url = "/"',
            'base_url = "shop"',
            "expected '/' or an absolute http(s) URL",
        ),
        (
            "self-service.toml",
            'external_url = ""',
            'external_url = "javascript:alert(1)"',
            "expected an absolute http(s) URL",
        ),
        ("forms.toml", 'type = "country"', 'type = "select"', "a select field needs options"),
        (
            "forms.toml",
            "pattern = '[A-Za-z0-9 \\-]{3,10}'",
            'pattern = "[A-"',
            "not a valid regular expression",
        ),
        (
            "forms.toml",
            "pattern = '[A-Za-z0-9 \\-]{3,10}'",
            'pattern = "[A-Za-z0-9 -]{3,10}"',
            "browsers reject a '-' that is not part of a range inside [...] (they read patterns "
            "with the 'v' flag); escape it as \\-, which Python accepts too",
        ),
        (
            "forms.toml",
            'type = "email"',
            'type = "e-mail"',
            "'e-mail' is not allowed; expected 'text'",
        ),
        (
            "self-service.toml",
            'form_target = "sold_to_account"',
            'form_target = "sold_to"',
            "(did you mean 'sold_to_account'?)",
        ),
        (
            "self-service.toml",
            'name = "Cart"',
            'name = "🛒"',
            "cannot make a URL from the name '🛒'",
        ),
    ],
)
def test_invalid_values(shop_dir: Path, file: str, old: str, new: str, expected: str) -> None:
    edit(shop_dir / file, old, new)
    assert expected in only_error(shop_dir)


def test_missing_folder(tmp_path: Path) -> None:
    assert problems(tmp_path / "nope") == [
        f"{tmp_path / 'nope'}: error: the journeys folder does not exist; create it, or name "
        "the folder to use, e.g. `klbuild build path/to/journeys`"
    ]


def test_empty_folder(tmp_path: Path) -> None:
    (message,) = problems(tmp_path)
    assert message.endswith(
        "error: no .toml files here; a shop needs keylight.toml, catalog.toml, forms.toml "
        "and one file per journey (see the README)"
    )


def test_missing_shop_file(shop_dir: Path) -> None:
    (shop_dir / "keylight.toml").unlink()
    assert "keylight.toml: error: missing: every shop needs keylight.toml" in only_error(shop_dir)


def test_unreadable_file(shop_dir: Path) -> None:
    (shop_dir / "broken.toml").write_bytes(b'name = "caf\xe9"\n')
    (shop_dir / "folder.toml").mkdir()
    found = problems(shop_dir)
    assert "broken.toml: error: not UTF-8 text (byte 11); save the file as UTF-8" in found
    assert (
        "folder.toml: error: cannot read the file: Is a directory; check its permissions" in found
    )


def test_errors_never_raise_anything_but_config_error(shop_dir: Path) -> None:
    """Odd shapes (a table where a list belongs, a number for a name) are messages too."""
    (shop_dir / "odd.toml").write_text('name = 3\nbusiness_entity = ["acme"]\nsteps = "all"\n')
    found = problems(shop_dir)
    assert any(
        "odd.toml:1: error: field 'name': expected a text, or a table of texts by language "
        'such as { de = "Warenkorb", en = "Cart" }; got 3' == p
        for p in found
    )
    assert any("field 'steps'" in p for p in found)


# -- warnings ---------------------------------------------------------------------------


def warnings_of(root: Path) -> list[str]:
    return [p.message for p in kljourney.load(root).warnings]


def test_sense_warnings(shop_dir: Path) -> None:
    journey = shop_dir / "self-service.toml"
    text = journey.read_text()
    blocks = text.split("\n[[steps]]\n")
    # confirmation (block 6) before payment (block 5), order done (7) in the middle
    reordered = [
        blocks[0],
        blocks[1],
        blocks[2],
        blocks[7],
        blocks[3],
        blocks[4],
        blocks[6],
        blocks[5],
    ]
    journey.write_text("\n[[steps]]\n".join(reordered))
    found = warnings_of(shop_dir)
    assert any("confirmation step comes before the payment method step" in w for w in found)
    assert any("order done step is not the last active step" in w for w in found)


def test_warning_for_no_product_selection_and_empty_progress_bar(shop_dir: Path) -> None:
    journey = shop_dir / "self-service.toml"
    edit(
        journey,
        'product_selection = "plans"\nunique_selection = false\nprogress_bar = true\nactive = true',
        'product_selection = "plans"\nactive = false',
    )
    edit(journey, "progress_bar = true", "progress_bar = false", count=10)
    found = warnings_of(shop_dir)
    assert "no active product selection step: customers cannot choose a product" in found
    assert "no active step has progress_bar = true; the progress bar is empty" in found


def test_warning_for_form_without_fields(shop_dir: Path) -> None:
    (shop_dir / "forms.toml").write_text(
        (shop_dir / "forms.toml").read_text() + '\n[[forms]]\nid = "empty"\nname = "Empty"\n'
    )
    edit(shop_dir / "self-service.toml", 'form = "billing"', 'form = "empty"')
    assert "form 'empty' has no fields; the step shows an empty form" in warnings_of(shop_dir)


def test_inactive_steps_are_loaded_but_not_active(shop_dir: Path) -> None:
    edit(
        shop_dir / "self-service.toml",
        'type = "order"\nprogress_bar = true\nactive = true',
        'type = "order"\nprogress_bar = true\nactive = false',
    )
    (journey,) = kljourney.load(shop_dir).journeys.values()
    assert len(journey.steps) == 7
    assert "cart" not in [s.id for s in journey.active_steps]
    assert journey.step("cart") is None
    assert isinstance(journey.step("product-selection"), ProductSelectionStep)


# -- the cache the dev server uses ----------------------------------------------------------


def test_cache_rereads_only_changed_files(shop_dir: Path) -> None:
    cache = kljourney.LoadCache()
    first = kljourney.load(shop_dir, cache=cache)
    entries = dict(cache.entries)
    edit(shop_dir / "catalog.toml", 'price = "9.90"', 'price = "12.00"')
    second = kljourney.load(shop_dir, cache=cache)
    assert cache.entries["self-service.toml"] is entries["self-service.toml"]
    assert cache.entries["catalog.toml"] is not entries["catalog.toml"]
    assert second.products["starter"].price == Decimal("12.00")
    assert first.products["starter"].price == Decimal("9.90")


def test_cache_keeps_reporting_errors_of_unchanged_files(shop_dir: Path) -> None:
    cache = kljourney.LoadCache()
    edit(shop_dir / "self-service.toml", 'form = "billing"', 'formm = "billing"')
    for _ in range(2):
        with pytest.raises(ConfigError) as info:
            kljourney.load(shop_dir, cache=cache)
        assert any("unknown field 'formm'" in str(p) for p in info.value.problems)


def test_a_trusting_cache_rereads_the_named_file_and_lists_the_folder(shop_dir: Path) -> None:
    cache = kljourney.LoadCache()
    kljourney.load(shop_dir, cache=cache)
    journey = shop_dir / "self-service.toml"
    edit(journey, 'name = "Cart"', 'name = "Basket"\nid = "cart"')
    edit(shop_dir / "catalog.toml", 'price = "9.90"', 'price = "12.00"')
    shutil.copy(journey, shop_dir / "second.toml")
    edit(shop_dir / "second.toml", 'key = "k9uscs7vr7"', 'key = "second"')
    cache.trust_unchanged({journey})
    shop = kljourney.load(shop_dir, cache=cache)
    assert shop.journeys["k9uscs7vr7"].step("cart").name == "Basket"
    assert "second" in shop.journeys  # not named, but new in the folder
    # the catalog was not named: taken as it was, until a load that checks every file
    assert shop.products["starter"].price == Decimal("9.90")
    assert kljourney.load(shop_dir, cache=cache).products["starter"].price == Decimal("12.00")


def test_a_typo_in_a_step_does_not_hide_its_wrong_reference(shop_dir: Path) -> None:
    journey = shop_dir / "self-service.toml"
    edit(journey, 'product_selection = "plans"', 'product_selection = "plan"')
    edit(journey, "unique_selection = false", "unique_selecton = false")
    found = problems(shop_dir)
    assert len(found) == 2
    assert "did you mean 'unique_selection'?" in found[0]
    assert "unknown product selection 'plan'; did you mean 'plans'? known: plans" in found[1]


# -- conditions, rules and hooks ---------------------------------------------------------


def add_to_step(shop_dir: Path, step_name: str, lines: str) -> None:
    edit(
        shop_dir / "self-service.toml",
        f'name = "{step_name}"\n',
        f'name = "{step_name}"\n{lines}\n',
    )


def test_conditions_rules_and_hooks_load(shop_dir: Path) -> None:
    add_to_step(shop_dir, "Payment method", "when = \"customer.segment != 'business'\"")
    add_to_step(
        shop_dir,
        "Customer Information",
        "rules = [{ when = \"answers.country != 'DE' and not answers.vat_id\", "
        'field = "vat_id", message = "Outside Germany we need your VAT ID" }]',
    )
    (shop_dir / "self-service.toml").write_text(
        (shop_dir / "self-service.toml").read_text()
        + '\n[[hooks]]\ntype = "webhook"\nevent = "order_placed"\nurl = "https://example.com/h"\n'
    )
    (journey,) = kljourney.load(shop_dir).journeys.values()
    assert journey.steps[4].when == "customer.segment != 'business'"
    assert journey.steps[3].rules[0].field == "vat_id"
    assert journey.hooks[0].url == "https://example.com/h"


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (
            'when = "cart.count >"',
            "field 'when': not a valid expression: invalid syntax (at column 13)",
        ),
        (
            'when = "cart.cuont > 0"',
            "field 'when': unknown attribute of cart 'cuont'; did you mean 'count'?",
        ),
        (
            "when = \"answers.countri == 'DE'\"",
            "field 'when': unknown form field 'countri'; did you mean 'country'?",
        ),
        (
            'rules = [{ when = "not answers.vat_id", field = "vatid", message = "m" }]',
            "field 'rules[0].field': unknown form field 'vatid'; did you mean 'vat_id'?",
        ),
        (
            'hooks = [{ type = "webhook", event = "order_placed", url = "ftp://x" }]',
            "field 'hooks[0].url': expected an absolute http(s) URL",
        ),
        (
            'hooks = [{ type = "mail" }]',
            "field 'hooks[0].type': unknown hook type 'mail'; did you mean 'email'?",
        ),
        (
            'hooks = [{ type = "webhook", event = "order_done", url = "https://x.test" }]',
            "field 'hooks[0].event': 'order_done' is not allowed",
        ),
        (
            'hooks = [{ type = "webhook", event = "order_placed", url = "https://x.test", '
            'secret_env = "my secret" }]',
            "field 'hooks[0].secret_env'",
        ),
    ],
)
def test_bad_conditions_rules_and_hooks(shop_dir: Path, lines: str, expected: str) -> None:
    add_to_step(shop_dir, "Customer Information", lines)
    message = only_error(shop_dir)
    assert "step 4 'Customer Information', " + expected in message


@pytest.mark.parametrize(
    ("step", "lines", "expected"),
    [
        (
            "Customer Information",
            'rules = [{ when = "cart.total < 10", message = "" }]',
            "field 'rules[0].message': a rule needs a message: the words the customer reads "
            "when it refuses",
        ),
        (
            "Customer Information",
            'hooks = [{ type = "email", template = "Order Placed" }]',
            "field 'hooks[0].template': expected the name of a template in templates/emails/ "
            "without .html, such as 'order_placed' (lowercase letters, digits, '-' and '_', "
            "starting with a letter or digit), got 'Order Placed'",
        ),
        (
            "Customer Information",
            'hooks = [{ type = "email", subject = "" }]',
            "field 'hooks[0].subject': the email needs a subject, "
            'e.g. subject = "Your order {order_number}"',
        ),
        (
            "Customer Information",
            'hooks = [{ type = "python", event = "order_placed", function = "" }]',
            "field 'hooks[0].function': name the function, as its package registers it in the "
            "keylight.hooks entry points",
        ),
        (
            "Customer Information",
            'hooks = [{ type = "webhook", event = "order_placed", url = "https://x.test", '
            'secret_env = "my secret" }]',
            "field 'hooks[0].secret_env': expected the name of an environment variable in "
            "capitals, such as 'KEYLIGHT_WEBHOOK_SECRET' (the secret itself goes into that "
            "variable, never into this file), got 'my secret'",
        ),
        (
            "Payment method",
            "methods = []",
            "field 'methods': name at least one payment method, e.g. methods = [\"invoice\"], "
            "or leave methods out to offer every payment method of the shop",
        ),
    ],
)
def test_patterns_and_empty_lists_are_explained_in_words(
    shop_dir: Path, step: str, lines: str, expected: str
) -> None:
    """Pydantic's own words quote a regular expression or count items: the studio shows
    these messages to marketers."""
    add_to_step(shop_dir, step, lines)
    message = only_error(shop_dir)
    assert message.endswith(expected)
    assert "should match pattern" not in message and "should have at least" not in message


def test_an_empty_product_selection_and_business_entity_in_words(shop_dir: Path) -> None:
    edit(
        shop_dir / "catalog.toml",
        'name = "Plans"\nproducts = ["starter", "pro"]',
        'name = "Plans"\nproducts = []',
    )
    message = only_error(shop_dir)
    assert message.startswith("catalog.toml:")
    assert message.endswith("field 'product_selections[1].products': choose at least one product")
    edit(shop_dir / "catalog.toml", "products = []", 'products = ["pro"]')
    edit(shop_dir / "self-service.toml", 'business_entity = "acme"', 'business_entity = ""')
    assert only_error(shop_dir).endswith(
        "field 'business_entity': name the business entity that sells: "
        "the id of one in keylight.toml"
    )


def test_a_form_field_name_is_explained_in_words(shop_dir: Path) -> None:
    edit(shop_dir / "forms.toml", 'name = "company"', 'name = "company-name"')
    expected = (
        "field 'forms[0].fields[0].name': expected a name of letters, digits and '_', not "
        "starting with a digit, such as 'vat_id', got 'company-name'"
    )
    assert any(problem.endswith(expected) for problem in problems(shop_dir))


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        (
            'offer = "Pause"',
            "expected 'pause', 'discount:<id of a discount>' or 'plan:<id of a product>', "
            "got 'Pause' (did you mean 'pause'?)",
        ),
        (
            'offer = "discount: loyal-20"',
            "expected 'pause', 'discount:<id of a discount>' or 'plan:<id of a product>', "
            "got 'discount: loyal-20' (did you mean 'discount:loyal-20'?)",
        ),
        (
            'offer = "a pause"',
            "expected 'pause', 'discount:<id of a discount>' or 'plan:<id of a product>', "
            "got 'a pause'",
        ),
    ],
)
def test_an_offer_is_explained_in_words(tmp_path: Path, written: str, expected: str) -> None:
    root = shutil.copytree(EXAMPLE, tmp_path / "journeys")
    edit(root / "cancel.toml", 'offer = "pause"', written)
    message = only_error(root)
    assert message.startswith("cancel.toml:")
    assert message.endswith(f"step 1 'Why are you leaving?', field 'reasons[1].offer': {expected}")


def test_empty_reasons_and_durations_are_explained_in_words(tmp_path: Path) -> None:
    root = shutil.copytree(EXAMPLE, tmp_path / "journeys")
    text = (root / "cancel.toml").read_text(encoding="utf-8")
    reasons = re.compile(r"\n  \[\[steps\.reasons\]\].*?(?=\n\[\[steps\]\])", re.S)
    text = reasons.sub("", text).replace("pause_periods = 2\n", "pause_periods = 2\nreasons = []\n")
    (root / "cancel.toml").write_text(text, encoding="utf-8")
    edit(root / "pause.toml", "durations = [1, 2, 3]", "durations = []")
    found = [p for p in problems(root) if ": error:" in p]
    assert [p.split(": error: ", 1)[1] for p in found] == [
        "journey 'Cancel your subscription', step 1 'Why are you leaving?', field 'reasons': "
        "at least one reason is needed: add a [[steps.reasons]] table with an id and a label",
        "journey 'Pause your subscription', step 1 'Take a break', field 'durations': "
        "at least one duration is needed, e.g. durations = [1, 2, 3]; "
        "or leave durations out for 1, 2 or 3 billing periods",
    ]


def test_a_rule_field_on_a_step_without_a_form(shop_dir: Path) -> None:
    add_to_step(
        shop_dir, "Cart", 'rules = [{ when = "cart.total < 10", field = "x", message = "m" }]'
    )
    assert "only rules of form steps belong to a field" in only_error(shop_dir)


def test_validate_hooks_belong_on_steps(shop_dir: Path) -> None:
    (shop_dir / "self-service.toml").write_text(
        (shop_dir / "self-service.toml").read_text()
        + '\n[[hooks]]\ntype = "validate"\nurl = "https://example.com/check"\n'
    )
    assert "a validate hook runs before a step is accepted" in only_error(shop_dir)


def test_pages_on_a_path_next_to_a_backend_on_its_own_origin_are_refused(shop_dir: Path) -> None:
    """The backend sends customers back to base_url: a path would resolve on the API's host."""
    edit(shop_dir / "keylight.toml", 'api_url = "/api"', 'api_url = "https://api.example.com/api"')
    message = only_error(shop_dir)
    assert message.startswith("keylight.toml:")
    assert "base_url must be the absolute URL of the pages" in message
    assert "https://api.example.com/, where no page is" in message
    edit(shop_dir / "keylight.toml", 'base_url = "/"', 'base_url = "https://shop.example.com/"')
    shop = kljourney.load(shop_dir)
    assert shop.site.api_path == "/api"


def test_a_bad_price_does_not_hide_an_unknown_product_in_a_selection(shop_dir: Path) -> None:
    edit(shop_dir / "catalog.toml", 'price = "9.90"', "price = 9.9")
    edit(shop_dir / "catalog.toml", 'products = ["starter"', 'products = ["startr"')
    found = [p for p in problems(shop_dir) if ": error:" in p]
    assert len(found) == 2, found
    assert "field 'products[0].price'" in found[0]
    assert "unknown product 'startr'; did you mean 'starter'?" in found[1]
    assert found[1].startswith("catalog.toml:")


def test_a_decimal_comma_outside_quotes_gets_a_hint(shop_dir: Path) -> None:
    edit(shop_dir / "catalog.toml", 'price = "9.90"', "price = 9,90")
    assert only_error(shop_dir) == (
        "catalog.toml:7: error: not valid TOML: Expected newline or end of document after a "
        "statement; a decimal number takes a point, and prices are quoted decimal strings: "
        'price = "9.90"'
    )


@pytest.mark.parametrize("written", ['"ja"', '"yes"', '"true"', "1"])
def test_switches_are_toml_booleans(shop_dir: Path, written: str) -> None:
    """Every word a person might try is refused alike, never quietly taken as true."""
    edit(shop_dir / "self-service.toml", "active = true", f"active = {written}")
    message = only_error(shop_dir)
    assert message.endswith(
        f"field 'active': expected true or false, without quotes (a TOML boolean), "
        f"got {tomllib.loads('v = ' + written)['v']!r}"
    )


def test_the_sellers_legal_pages_are_absolute_urls(shop_dir: Path) -> None:
    edit(
        shop_dir / "keylight.toml",
        'terms_url = "https://shop.example.com/terms"',
        'terms_url = "/terms"',
    )
    message = only_error(shop_dir)
    assert "field 'business_entities[0].terms_url'" in message
    assert "expected an absolute http(s) URL such as 'https://shop.example.com/terms'" in message


def test_accepting_terms_needs_terms_to_accept(shop_dir: Path) -> None:
    edit(shop_dir / "keylight.toml", 'terms_url = "https://shop.example.com/terms"\n', "")
    edit(
        shop_dir / "self-service.toml",
        'confirmation_type = "direct"',
        'confirmation_type = "direct"\naccept_terms = true',
    )
    message = only_error(shop_dir)
    assert "accept_terms asks the buyer to accept terms" in message
    assert "business entity 'acme' has no terms_url" in message


# -- the brand ----------------------------------------------------------------------


def test_brand_colours_are_read_and_normalised(shop_dir: Path) -> None:
    with (shop_dir / "keylight.toml").open("a") as file:
        file.write('\n[brand]\ncolor = "#0B5F4A"\naccent = "#14a"\n')
    brand = kljourney.load(shop_dir).brand
    assert (brand.color, brand.accent) == ("#0b5f4a", "#1144aa")
    assert brand.stylesheet() == ":root{--brand:#0b5f4a;--accent:#1144aa}"


def test_a_brand_colour_too_light_for_white_text_is_refused(shop_dir: Path) -> None:
    with (shop_dir / "keylight.toml").open("a") as file:
        file.write('\n[brand]\ncolor = "#ffcc00"\n')
    message = only_error(shop_dir)
    assert message.startswith("keylight.toml:")
    assert message.endswith(
        "field 'brand.color': the brand colour #ffcc00 has a contrast of 1.5:1 with white; "
        "WCAG AA asks 4.5:1 for text, so it could not be read. Choose a darker colour, "
        "such as #8f7200"
    )


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        (
            'logo = "brand/missing.svg"',
            "field 'brand.logo': no file 'brand/missing.svg' in the journeys folder",
        ),
        ('logo = "../outside.svg"', "expected a file in the journeys folder, named relative"),
        ('logo = "/etc/logo.svg"', "expected a file in the journeys folder, named relative"),
        ('favicon = "brand/logo.svg.txt"', "expected a .svg, .png, .ico file"),
    ],
)
def test_brand_files_are_images_in_the_journeys_folder(
    shop_dir: Path, written: str, expected: str
) -> None:
    with (shop_dir / "keylight.toml").open("a") as file:
        file.write(f"\n[brand]\n{written}\n")
    assert expected in only_error(shop_dir)


def test_product_pictures_are_measured(shop_dir: Path) -> None:
    shop = kljourney.load(shop_dir)
    assert shop.products["starter"].image == "products/starter.svg"
    assert shop.images["products/starter.svg"] == (320, 160)  # its width and height attributes
    edit(shop_dir / "catalog.toml", '"products/starter.svg"', '"brand/logo.svg"')
    shop = kljourney.load(shop_dir)
    assert shop.products["starter"].image == "brand/logo.svg"
    assert shop.images["brand/logo.svg"] == (132, 40)
    assert sorted(shop.images) == ["brand/logo.svg", "products/team.svg", "products/workshop.svg"]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "no file 'brand/starter.png' in the journeys folder"),
        (b"not a picture", "cannot tell the width and height of 'brand/starter.png'"),
    ],
)
def test_a_product_picture_must_be_an_image_there(
    shop_dir: Path, content: bytes | None, expected: str
) -> None:
    if content is not None:
        (shop_dir / "brand" / "starter.png").write_bytes(content)
    edit(shop_dir / "catalog.toml", '"products/starter.svg"', '"brand/starter.png"')
    message = only_error(shop_dir)
    assert message.startswith("catalog.toml:") and "field 'products[0].image'" in message
    assert expected in message


def add_brand(shop_dir: Path, name: str, file: str, content: bytes) -> None:
    (shop_dir / file).write_bytes(content)
    with (shop_dir / "keylight.toml").open("a") as toml:
        toml.write(f'\n[brand]\n{name} = "{file}"\n')


@pytest.mark.parametrize(
    ("name", "file", "content", "expected"),
    [
        (
            "logo",
            "brand/fake.png",
            b"This is not a picture.\n",
            "cannot tell the width and height of 'brand/fake.png': is it a whole image? "
            "(an SVG needs width and height attributes)",
        ),
        (
            "favicon",
            "brand/fake.png",
            b"This is not a picture.\n",
            "cannot tell the width and height of 'brand/fake.png': is it a whole image? "
            "(an SVG needs width and height attributes)",
        ),
        (
            "logo",
            "brand/sizeless.svg",
            b'<svg xmlns="http://www.w3.org/2000/svg"></svg>',
            "cannot tell the width and height of 'brand/sizeless.svg'",
        ),
        (
            "favicon",
            "brand/fake.ico",
            b"This is not a picture.\n",
            "cannot read 'brand/fake.ico' as an icon: is it a whole .ico file? "
            "(a .png or .svg icon will do too)",
        ),
        ("favicon", "brand/empty.ico", b"\0\0\1\0\0\0", "cannot read 'brand/empty.ico' as an icon"),
    ],
)
def test_a_brand_file_must_be_a_picture(
    shop_dir: Path, name: str, file: str, content: bytes, expected: str
) -> None:
    """A text file named .png passes a check of its name; every page would show it broken."""
    add_brand(shop_dir, name, file, content)
    message = only_error(shop_dir)
    assert message.startswith("keylight.toml:")
    assert f"field 'brand.{name}': {expected}" in message


@pytest.mark.parametrize(
    ("name", "file", "content"),
    [
        ("favicon", "brand/icon.ico", b"\0\0\1\0\1\0" + bytes(16)),
        ("favicon", "brand/icon.svg", None),  # the example's: a viewBox, no width and height
        ("logo", "products/team.svg", None),
    ],
)
def test_brand_pictures_load(shop_dir: Path, name: str, file: str, content: bytes | None) -> None:
    add_brand(shop_dir, name, file, content or (shop_dir / file).read_bytes())
    assert getattr(kljourney.load(shop_dir).brand, name) == file


# -- texts standing in for files (the studio's check before it writes) ----------------------


def test_texts_stand_in_for_files_without_touching_them(shop_dir: Path) -> None:
    journey = shop_dir / "self-service.toml"
    before = journey.read_text(encoding="utf-8")
    changed = before.replace('name = "Cart"', 'name = "Basket"')
    cache = kljourney.LoadCache()
    shop = kljourney.load(shop_dir, cache=cache, texts={"self-service.toml": changed})
    assert [step.name for step in shop.journeys[KEY].steps][1] == "Basket"
    assert journey.read_text(encoding="utf-8") == before
    # The same cache then reads the file again: the stand-in is not taken for it.
    shop = kljourney.load(shop_dir, cache=cache)
    assert [step.name for step in shop.journeys[KEY].steps][1] == "Cart"


def test_a_text_refused_as_the_file_would_be(shop_dir: Path) -> None:
    broken = (shop_dir / "self-service.toml").read_text(encoding="utf-8")
    broken = broken.replace('form = "billing"', 'form = "nope"')
    with pytest.raises(ConfigError) as caught:
        kljourney.load(shop_dir, texts={"self-service.toml": broken})
    assert any("unknown form 'nope'" in str(p) for p in caught.value.errors)


def test_a_new_file_and_a_removed_one(shop_dir: Path) -> None:
    new = 'name = "Quick"\nkey = "quick"\nbusiness_entity = "acme"\n'
    shop = kljourney.load(shop_dir, texts={"quick.toml": new, "self-service.toml": None})
    assert list(shop.journeys) == ["quick"]
    assert [w.message for w in shop.warnings] == [
        "no steps yet: the journey has no pages until it has an active step"
    ]
    assert (shop_dir / "self-service.toml").exists() and not (shop_dir / "quick.toml").exists()


# -- audience and actor ------------------------------------------------------------------


def set_audience(shop_dir: Path, line: str) -> None:
    edit(
        shop_dir / "self-service.toml",
        'business_entity = "acme"\n',
        f'business_entity = "acme"\n{line}\n',
    )


def test_a_journey_is_for_customers_unless_it_says_otherwise(shop_dir: Path) -> None:
    (journey,) = kljourney.load(shop_dir).journeys.values()
    assert journey.audience == ["customers"]
    assert journey.for_customers
    assert [journey.admits(role) for role in ("customer", "sales", "partner", "admin")] == [
        True,
        False,
        False,
        True,
    ]
    assert all(step.actor == "any" for step in journey.steps)


def test_a_staff_journey_admits_its_roles_and_admins(shop_dir: Path) -> None:
    set_audience(shop_dir, 'audience = ["sales"]')
    add_to_step(shop_dir, "Payment method", 'actor = "customer"')
    add_to_step(
        shop_dir, "Customer Information", 'actor = "staff"\nwhen = "actor.role == \'partner\'"'
    )
    (journey,) = kljourney.load(shop_dir).journeys.values()
    assert not journey.for_customers
    assert [journey.admits(role) for role in ("customer", "sales", "partner", "admin")] == [
        False,
        True,
        False,
        True,
    ]
    payment, form = journey.steps[4], journey.steps[3]
    assert (payment.completed_by(staff=True), payment.completed_by(staff=False)) == (False, True)
    assert (form.completed_by(staff=True), form.completed_by(staff=False)) == (True, False)


def test_an_unknown_audience_suggests_the_closest(shop_dir: Path) -> None:
    set_audience(shop_dir, 'audience = ["partner"]')
    message = only_error(shop_dir)
    assert "audience[0]" in message
    assert "'partner' is not allowed; expected 'customers', 'sales' or 'partners'" in message
    assert "(did you mean 'partners'?)" in message


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("audience = []", 'name who walks this journey: "customers", "sales" or "partners"'),
        ('audience = ["sales", "sales"]', "'sales' is named twice in the audience; name it once"),
    ],
)
def test_an_audience_names_someone_once(shop_dir: Path, line: str, expected: str) -> None:
    set_audience(shop_dir, line)
    assert expected in only_error(shop_dir)


def test_an_unknown_step_actor_suggests_the_closest(shop_dir: Path) -> None:
    add_to_step(shop_dir, "Payment method", 'actor = "costumer"')
    message = only_error(shop_dir)
    assert "'costumer' is not allowed; expected 'any', 'customer' or 'staff'" in message
    assert "(did you mean 'customer'?)" in message


def test_a_staff_step_in_a_journey_only_customers_walk_is_refused(shop_dir: Path) -> None:
    add_to_step(shop_dir, "Payment method", 'actor = "staff"')
    message = only_error(shop_dir)
    assert "Payment method" in message and "actor" in message
    assert 'add "sales" or "partners" to the journey\'s audience' in message


def test_actor_in_conditions_is_checked_like_any_name(shop_dir: Path) -> None:
    add_to_step(shop_dir, "Payment method", "when = \"actor.rol == 'partner'\"")
    assert "unknown attribute of actor 'rol'; did you mean 'role'?" in only_error(shop_dir)


def test_a_subscription_journey_is_walked_by_customers(shop_dir: Path) -> None:
    edit(
        shop_dir / "self-service.toml",
        'business_entity = "acme"\n',
        'business_entity = "acme"\nsubject = "subscription"\naudience = ["sales"]\n',
    )
    found = [p for p in problems(shop_dir) if "audience" in p]
    assert len(found) == 1
    assert "a subscription journey acts on the customer's own subscription" in found[0]


def test_the_staff_pages_key_is_reserved(shop_dir: Path) -> None:
    edit(shop_dir / "self-service.toml", f'key = "{KEY}"', 'key = "staff"')
    assert "'staff' is the address of the shop's own staff sign-in page" in only_error(shop_dir)


SVG_OPEN = '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"'


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (f"{SVG_OPEN}><script>alert(1)</script></svg>", "it contains a <script> element"),
        (f'{SVG_OPEN} onload="alert(2)"></svg>', "it has an event handler (onload=)"),
        (
            f'{SVG_OPEN} xmlns:x="http://www.w3.org/1999/xlink">'
            '<a x:href="javascript:alert(3)"><rect width="5" height="5"/></a></svg>',
            "it links to 'javascript:alert(3)'",
        ),
        (f"{SVG_OPEN}><foreignObject/></svg>", "it contains a <foreignobject> element"),
        (
            '<!DOCTYPE svg [<!ENTITY a "aaaa">]>' + f"{SVG_OPEN}>&a;</svg>",
            "it declares a DOCTYPE or entities",
        ),
    ],
)
@pytest.mark.parametrize("where", ["logo", "favicon", "product"])
def test_an_svg_that_could_run_script_is_refused(
    shop_dir: Path, content: str, expected: str, where: str
) -> None:
    """Opened at its own address, an SVG runs its script on the shop's origin; a picture
    shown with <img> needs none of it."""
    if where == "product":
        (shop_dir / "products" / "active.svg").write_text(content)
        edit(shop_dir / "catalog.toml", '"products/starter.svg"', '"products/active.svg"')
        field, file = "products[0].image", "products/active.svg"
    else:
        add_brand(shop_dir, where, "brand/active.svg", content.encode())
        field, file = f"brand.{where}", "brand/active.svg"
    message = only_error(shop_dir)
    assert f"field '{field}': {file!r} is an SVG" in message
    assert "is an SVG that could run script on the shop's pages" in message
    assert expected in message


def test_a_step_name_too_long_for_an_address_is_refused(shop_dir: Path) -> None:
    """Its page is a folder of the site: a name of 300 characters crashed the build."""
    long_name = "Pick " + "very long step name " * 15
    edit(shop_dir / "self-service.toml", 'name = "Cart"', f'name = "{long_name}"')
    message = only_error(shop_dir)
    assert "makes a page address of 304 characters, more than the 100" in message
    assert "give the step a shorter name" in message
    edit(
        shop_dir / "self-service.toml",
        f'name = "{long_name}"',
        f'name = "Cart"\nid = "{"x" * 101}"',
    )
    assert "the id has 101 characters" in only_error(shop_dir)


def test_an_order_done_step_after_one_for_everyone_is_warned_of(shop_dir: Path) -> None:
    journey = shop_dir / "self-service.toml"
    with open(journey, "a") as handle:
        handle.write('\n[[steps]]\nname = "Thanks again"\ntype = "order_done"\n')
    [warning] = [p for p in kljourney.load(shop_dir).warnings if "never reached" in p.message]
    assert warning.step == "step 8 'Thanks again'"
    assert "'Order done' before it has no condition" in warning.message
    # With a condition on the first, the second is for everyone else: no warning.
    text = journey.read_text().replace(
        'name = "Order done"\n', 'name = "Order done"\nwhen = "cart.recurring_count > 0"\n', 1
    )
    journey.write_text(text)
    assert not [w for w in warnings_of(shop_dir) if "never reached" in w]
