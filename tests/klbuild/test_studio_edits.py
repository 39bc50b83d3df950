"""The studio's verbs on parsed TOML: the result reads as if a person had edited the file."""

from __future__ import annotations

import os
import stat
import tomllib
from pathlib import Path

import pytest
import tomlkit
from werkzeug.datastructures import MultiDict

from klbuild.studio import documents, edits, fields
from klbuild.studio.documents import StudioError

JOURNEY_HEAD = """\
# Our shop. Keep the cart before the login.
name = "Shop"
key = "shop"
business_entity = "acme"

"""
PLANS = """\
[[steps]]
name = "Plans"   # what people pick from
type = "product_selection"
product_selection = "plans"
progress_bar = true
"""
CART = """\
[[steps]]
name = "Cart"
type = "order"
"""
CONFIRM = """\
# The confirmation comes last.
[[steps]]
name = "Confirm"
type = "confirmation"
"""
JOURNEY = JOURNEY_HEAD + PLANS + "\n" + CART + "\n" + CONFIRM

FORMS = """\
[[forms]]
id = "billing"
name = "Billing"

  [[forms.fields]]
  name = "email"
  label = "Email"
  type = "email"

# Notes come next.

[[forms]]
id = "notes"
name = "Notes"
"""


def names(document: tomlkit.TOMLDocument) -> list[str]:
    return [step["name"] for step in tomllib.loads(document.as_string())["steps"]]


def test_reorder_keeps_every_comment_with_its_step() -> None:
    document = tomlkit.parse(JOURNEY)
    edits.reorder(document, "steps", [2, 0, 1])
    assert document.as_string() == JOURNEY_HEAD + CONFIRM + "\n" + PLANS + "\n" + CART


def test_moving_the_last_step_up() -> None:
    document = tomlkit.parse(JOURNEY)
    edits.move(document, "steps", 2, 1)
    assert document.as_string() == JOURNEY_HEAD + PLANS + "\n" + CONFIRM + "\n" + CART


def test_moving_the_first_step_to_the_end() -> None:
    document = tomlkit.parse(JOURNEY)
    edits.move(document, "steps", 0, 2)
    assert document.as_string() == JOURNEY_HEAD + CART + "\n" + CONFIRM + "\n" + PLANS


def test_a_last_line_without_a_newline_gets_one_when_its_step_moves_up() -> None:
    document = tomlkit.parse(JOURNEY.removesuffix("\n"))
    edits.move(document, "steps", 2, 0)
    assert document.as_string() == JOURNEY_HEAD + CONFIRM + "\n" + PLANS + "\n" + CART


def test_deleting_the_step_before_a_comment_keeps_the_comment() -> None:
    document = tomlkit.parse(JOURNEY)
    edits.delete(document, "steps", 1)
    assert document.as_string() == JOURNEY_HEAD + PLANS + "\n" + CONFIRM


def test_deleting_the_last_step_leaves_one_newline_at_the_end() -> None:
    document = tomlkit.parse(JOURNEY)
    edits.delete(document, "steps", 2)
    assert document.as_string() == JOURNEY_HEAD + PLANS + "\n" + CART


def test_what_follows_the_steps_stays_after_them() -> None:
    hooks = '\n# Mail the order.\n[[hooks]]\ntype = "email"\n'
    document = tomlkit.parse(JOURNEY + hooks)
    edits.move(document, "steps", 2, 0)
    assert document.as_string() == JOURNEY_HEAD + CONFIRM + "\n" + PLANS + "\n" + CART + hooks
    assert document["hooks"][0]["type"] == "email"
    for _ in range(3):
        edits.delete(document, "steps", 0)
    assert document.as_string() == JOURNEY_HEAD.removesuffix("\n") + hooks


def test_steps_keep_the_files_spacing() -> None:
    document = tomlkit.parse(JOURNEY_HEAD + PLANS + CART + CONFIRM)
    edits.move(document, "steps", 0, 2)
    assert document.as_string() == JOURNEY_HEAD + CART + CONFIRM + PLANS


def test_a_field_goes_with_the_comment_above_the_next_form_left_in_place() -> None:
    document = tomlkit.parse(FORMS)
    edits.delete(edits.table_at(document, "forms", 0), "fields", 0)
    assert document.as_string() == (
        '[[forms]]\nid = "billing"\nname = "Billing"\n\n# Notes come next.\n\n'
        '[[forms]]\nid = "notes"\nname = "Notes"\n'
    )


@pytest.mark.parametrize("mode", [0o644, 0o640])
def test_a_save_keeps_the_files_mode(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "shop.toml"
    path.write_text(JOURNEY, encoding="utf-8")
    path.chmod(mode)
    documents.write(tmp_path, "shop.toml", JOURNEY + "# saved\n")
    assert path.read_text(encoding="utf-8") == JOURNEY + "# saved\n"
    assert stat.S_IMODE(path.stat().st_mode) == mode
    assert [file.name for file in tmp_path.iterdir()] == ["shop.toml"]


def test_a_new_file_gets_the_mode_the_umask_gives(tmp_path: Path) -> None:
    umask = os.umask(0o027)
    try:
        documents.write(tmp_path, "new.toml", JOURNEY)
    finally:
        os.umask(umask)
    assert stat.S_IMODE((tmp_path / "new.toml").stat().st_mode) == 0o640


def test_move_is_clamped_and_a_bad_order_refused() -> None:
    document = tomlkit.parse(JOURNEY)
    edits.move(document, "steps", 0, 99)
    assert names(document) == ["Cart", "Confirm", "Plans"]
    with pytest.raises(StudioError, match="does not name every step once"):
        edits.reorder(document, "steps", [0, 0, 1])
    with pytest.raises(StudioError, match="no steps number 5"):
        edits.move(document, "steps", 4, 0)


def test_a_new_step_goes_last_a_blank_line_apart() -> None:
    document = tomlkit.parse(JOURNEY)
    edits.add_step(document, {"name": "Done", "active": True, "progress_bar": False}, "order_done")
    assert document.as_string() == JOURNEY + (
        '\n[[steps]]\nname = "Done"\ntype = "order_done"\nactive = true\nprogress_bar = false\n'
    )


def test_the_first_step_of_a_new_journey() -> None:
    values = {"name": "Quick", "order_channel": "", "business_entity": "acme"}
    document = edits.new_journey(values, "quick")
    edits.add_step(document, {"name": "Cart", "active": True, "progress_bar": True}, "order")
    assert document.as_string() == (
        'name = "Quick"\nkey = "quick"\nbusiness_entity = "acme"\n\n'
        '[[steps]]\nname = "Cart"\ntype = "order"\nactive = true\nprogress_bar = true\n'
    )


def test_a_new_field_is_indented_like_its_neighbours_before_the_next_comment() -> None:
    document = tomlkit.parse(FORMS)
    form = edits.table_at(document, "forms", 0)
    values = {"name": "vat_id", "label": "VAT ID", "type": "text", "required": True}
    edits.add_table(form, "fields", values, fields.FORM_FIELD_FIELDS)
    assert document.as_string() == FORMS.replace(
        '  type = "email"\n\n',
        '  type = "email"\n\n  [[forms.fields]]\n  name = "vat_id"\n  label = "VAT ID"\n'
        '  type = "text"\n  required = true\n\n',
    )


def test_a_new_type_drops_the_old_types_keys_and_keeps_the_rest() -> None:
    document = tomlkit.parse(JOURNEY)
    values = {
        "name": "Plans",
        "active": True,
        "progress_bar": True,
        "form": "billing",
        "form_target": "sold_to_account",
    }
    edits.set_step(document, 0, values, "form")
    step = tomllib.loads(document.as_string())["steps"][0]
    assert step == {
        "name": "Plans",
        "type": "form",
        "progress_bar": True,
        "active": True,
        "form": "billing",
        "form_target": "sold_to_account",
    }
    assert 'name = "Plans"   # what people pick from' in document.as_string()


def test_emptied_keys_are_removed_and_the_last_table_takes_its_array() -> None:
    document = tomlkit.parse(JOURNEY)
    for _ in range(3):
        edits.delete(document, "steps", 0)
    assert "steps" not in tomllib.loads(document.as_string())


def test_texts_in_several_languages_become_a_table() -> None:
    form = MultiDict({"name@de": "Warenkorb", "name@en": "Cart", "title@de": "", "title@en": ""})
    values = fields.values_from(form, fields.STEP_COMMON[:2], ["de", "en"])
    assert values == {"name": {"de": "Warenkorb", "en": "Cart"}, "title": ""}
    table = tomlkit.table()
    fields.apply(table, fields.STEP_COMMON[:2], values)
    assert table.as_string() == 'name = {de = "Warenkorb", en = "Cart"}\n'


def test_a_number_that_is_not_one() -> None:
    table = tomlkit.table()
    with pytest.raises(StudioError, match="expected a whole number such as 60, got 'ten'"):
        fields.apply(table, fields.FORM_FIELD_FIELDS, {"max_length": "ten"})


def test_a_new_journey_named_in_two_languages() -> None:
    values = {"name": {"de": "Laden", "en": "Shop"}, "order_channel": "", "business_entity": "acme"}
    document = edits.new_journey(values, "shop")
    assert document.as_string() == (
        'name = {de = "Laden", en = "Shop"}\nkey = "shop"\nbusiness_entity = "acme"\n'
    )


CATALOG = """\
[[product_selections]]
id = "plans"
name = "Plans"
products = ["pro", "starter"]  # Pro first on purpose
"""


def test_ticked_products_keep_the_order_the_file_gives_them() -> None:
    """The checkboxes come in the catalog's order; the file's order means something."""
    document = tomlkit.parse(CATALOG)
    form = MultiDict([("id", "plans"), ("name", "Our plans"), ("products", "starter")])
    form.add("products", "pro")
    table = edits.table_at(document, "product_selections", 0)
    fields.apply(
        table, fields.SELECTION_FIELDS, fields.values_from(form, fields.SELECTION_FIELDS, [])
    )
    assert document.as_string() == CATALOG.replace('"Plans"', '"Our plans"')


def test_newly_ticked_products_go_last_and_unticked_ones_leave() -> None:
    document = tomlkit.parse(CATALOG)
    table = edits.table_at(document, "product_selections", 0)
    fields.apply(table, fields.SELECTION_FIELDS, {"products": ["starter", "team", "yearly"]})
    assert tomllib.loads(document.as_string())["product_selections"][0]["products"] == [
        "starter",
        "team",
        "yearly",
    ]
    fields.apply(table, fields.SELECTION_FIELDS, {"products": ["pro", "starter", "yearly"]})
    assert tomllib.loads(document.as_string())["product_selections"][0]["products"] == [
        "starter",
        "yearly",
        "pro",
    ]


def test_line_breaks_from_a_text_box_are_the_files_own() -> None:
    """Browsers send CR LF; the file gets LF, in a multi-line string a person can read."""
    form = MultiDict(
        {
            "id": "pro",
            "name": "Pro",
            "description": 'Everything in "Starter".\r\n\r\nAnd support\\priority.\rFor teams.\r\n',
        }
    )
    values = fields.values_from(form, fields.PRODUCT_FIELDS, [])
    assert values["description"] == 'Everything in "Starter".\n\nAnd support\\priority.\nFor teams.'
    table = tomlkit.table()
    fields.apply(table, fields.PRODUCT_FIELDS, values)
    assert table.as_string() == (
        'id = "pro"\nname = "Pro"\n'
        'description = """\nEverything in "Starter".\n\nAnd support\\\\priority.\nFor teams."""\n'
    )
    assert tomllib.loads(table.as_string())["description"] == values["description"]


def test_line_breaks_in_each_language_are_the_files_own() -> None:
    form = MultiDict({"message_body@de": "Danke.\r\nBis bald.", "message_body@en": "Thanks.\r\n"})
    spec = [f for f in fields.STEP_FIELDS["order_done"] if f.key == "message_body"]
    values = fields.values_from(form, spec, ["de", "en"])
    assert values == {"message_body": {"de": "Danke.\nBis bald.", "en": "Thanks."}}
    table = tomlkit.table()
    fields.apply(table, spec, values)
    assert table.as_string() == 'message_body = {de = "Danke.\\nBis bald.", en = "Thanks."}\n'
