"""The built pages of the example journey: valid HTML, and what each step type shows."""

from __future__ import annotations

import gzip
import re
import shutil
import xml.etree.ElementTree as ET

import html5lib
import pytest
from example import EXAMPLE

from klbuild.build import build
from kljourney.countries import countries
from kljourney.model import Journey, Site
from kljourney.pages import progress_bar

STEPS = [
    "product-selection",
    "cart",
    "login-or-create-an-account",
    "customer-information",
    "payment-method",
    "confirm-order",
    "order-done",
]
BAR = [
    "Product selection",
    "Cart",
    "Customer Information",
    "Payment method",
    "Confirm Order",
    "Order done",
]
BUDGET = 14 * 1024


def parse(html: str) -> ET.Element:
    """Parse strictly: any HTML parse error fails the test."""
    parser = html5lib.HTMLParser(strict=True, namespaceHTMLElements=False)
    return parser.parse(html)


def text(element: ET.Element) -> str:
    return " ".join("".join(element.itertext()).split())


def by_id(root: ET.Element, element_id: str) -> ET.Element:
    found = root.find(f".//*[@id='{element_id}']")
    assert found is not None, f"no element with id {element_id!r}"
    return found


def test_every_active_step_has_one_valid_page(built):
    pages = built.pages()
    assert sorted(pages) == sorted(f"{built.key}/{step}" for step in STEPS)
    for html in pages.values():
        root = parse(html)
        assert root.tag == "html"
        assert root.get("lang") == "en-US"


def test_body_carries_the_data_attributes_of_the_contract(built):
    for step in STEPS:
        body = parse(built.page(step)).find("body")
        assert body.get("data-api") == "/api"
        assert body.get("data-journey") == built.key
        assert body.get("data-step") == step
        assert re.fullmatch(r"[0-9a-f]{12}", body.get("data-version"))
    types = [parse(built.page(s)).find("body").get("data-step-type") for s in STEPS]
    assert types == [
        "product_selection",
        "order",
        "authentication",
        "form",
        "payment_method",
        "confirmation",
        "order_done",
    ]


@pytest.mark.parametrize("index", range(len(STEPS)))
def test_progress_bar_marks_current_and_done_steps(built, index):
    nav = parse(built.page(STEPS[index])).find(".//nav[@class='progress']")
    items = nav.findall("./ol/li")
    assert [text(li).replace(" (completed)", "").split(" ", 1)[1] for li in items] == BAR
    current = [text(li) for li in items if li.get("aria-current") == "step"]
    done = [li for li in items if "is-done" in li.get("class")]
    for li in done:
        assert "(completed)" in text(li)
        assert li.find(".//span[@class='visually-hidden']") is not None
    name = STEPS[index]
    if name == "login-or-create-an-account":
        # not in the bar: the bar steps before it are done, none is current
        assert current == []
        assert len(done) == 2
    else:
        bar_index = [s for s in STEPS if s != "login-or-create-an-account"].index(name)
        assert len(current) == 1 and BAR[bar_index] in current[0]
        assert len(done) == bar_index
    # What a phone shows instead of the list: where the customer is, and how far to go.
    compact = nav.findall("./p[@data-kl-progress-compact]")
    if name == "login-or-create-an-account":
        assert compact == []
    else:
        assert [text(p) for p in compact] == [f"Step {bar_index + 1} of 6 — {BAR[bar_index]}"]


def test_progress_rule_for_a_step_outside_the_bar(built):
    journey = Journey.model_validate(
        {
            "name": "J",
            "key": "j",
            "business_entity": "acme",
            "steps": [
                {"name": "A", "type": "order", "progress_bar": True},
                {"name": "Hidden", "type": "order", "progress_bar": True, "active": False},
                {"name": "Login", "type": "authentication"},
                {"name": "B", "type": "order", "progress_bar": True},
            ],
        }
    )
    site = Site(title="Shop")  # pages at "/"
    login = journey.active_steps[1]
    assert [(i.name, i.state) for i in progress_bar(journey, login, site)] == [
        ("A", "done"),
        ("B", "upcoming"),
    ]
    b = journey.active_steps[2]
    assert [i.state for i in progress_bar(journey, b, site)] == ["done", "current"]
    assert progress_bar(journey, b, site)[0].url == "/j/a/"


def test_robots_noindex_everywhere_but_product_selection(built):
    for step in STEPS:
        meta = parse(built.page(step)).find(".//meta[@name='robots']")
        if step == "product-selection":
            assert meta is None
        else:
            assert meta.get("content") == "noindex"


def test_every_form_posts_to_the_backend(built):
    api = f"/api/{built.key}"
    allowed = re.compile(rf"^{api}/(cart/add|cart/update|logout|steps/[a-z0-9-]+)$")
    for step in STEPS:
        root = parse(built.page(step))
        for form in root.iter("form"):
            assert form.get("method") == "post"
            assert allowed.match(form.get("action")), form.get("action")
        continues = [f for f in root.iter("form") if f.get("action") == f"{api}/steps/{step}"]
        if step != "order-done":
            assert continues, f"{step} has no form posting to its step"


def test_product_selection_lists_products_with_prices_and_add_forms(built):
    root = parse(built.page("product-selection"))
    products = root.findall(".//li[@class='product']")
    ids = [p.get("data-kl-product") for p in products]
    assert ids == ["starter", "pro", "pro-yearly", "onboarding"]
    prices = [text(p.find(".//p[@class='product-price']")) for p in products]
    assert prices == [
        "Price: €9.90 / month",
        "Price: €29.00 / month",
        "Price: €290.00 / year",
        "Price: €249.00",
    ]
    starter = products[0]
    assert starter.find(".//strong").text == "5 users"  # Markdown description
    form = starter.find(".//form")
    assert form.get("action") == f"/api/{built.key}/cart/add"
    hidden = {i.get("name"): i.get("value") for i in form.iter("input")}
    assert hidden == {"product": "starter", "step": "product-selection"}
    assert "Add Starter to cart" == text(form.find("button"))
    assert root.find(".//*[@data-kl-cart]/*/template[@data-kl-cart-line]") is not None


def test_unique_selection_says_select(ws):
    ws.edit(ws.journey_file, "unique_selection = false", "unique_selection = true")
    ws.build()
    root = parse(ws.page("product-selection"))
    buttons = [text(b) for b in root.findall(".//li[@class='product']//button")]
    assert buttons == [
        "Select Starter",
        "Select Pro",
        "Select Pro, yearly",
        "Select Onboarding workshop",
    ]
    assert "replaces your choice" in text(root.find(".//section[@class='selection']"))


def test_prices_follow_the_locale_and_currency(ws):
    ws.edit("keylight.toml", 'locale = "en-US"', 'locale = "de-DE"')
    ws.build()
    html = ws.page("product-selection")
    assert "9,90\xa0€ / Monat" in html  # and the words are German (the built-in catalog)
    assert '<html lang="de-DE">' in html
    # the country names are German too
    assert '<option value="DE" selected>Deutschland</option>' in ws.page("customer-information")


def test_markdown_in_descriptions_is_sanitised(ws):
    ws.edit(
        "catalog.toml",
        'description = "Everything a small team needs: **5 users**, email support."',
        'description = "Hi <script>alert(1)</script><img src=x onerror=alert(2)> **ok**"',
    )
    ws.build()
    html = ws.page("product-selection")
    description = html.split('<div class="product-description">', 1)[1].split("</div>", 1)[0]
    assert "<script>alert" not in html and "onerror" not in html and "<img" not in description
    assert "<strong>ok</strong>" in description


def test_cart_page_has_line_template_quantity_forms_and_totals(built):
    root = parse(built.page("cart"))
    cart = root.find(".//*[@data-kl-cart]")
    template = cart.find(".//template[@data-kl-cart-line]")
    names = {el.get("data-kl-line") for el in template.iter() if el.get("data-kl-line")}
    # The quantity is in its box: shown once, not again as "× 1" beside it.
    assert {"name", "line_total"} <= names and "quantity" not in names
    forms = template.findall(".//form")
    assert {f.get("action") for f in forms} == {f"/api/{built.key}/cart/update"}
    quantity = forms[0].find(".//input[@name='quantity']")
    assert quantity.get("type") == "number" and quantity.get("min") == "0"
    remove = forms[1].find(".//input[@name='quantity']")
    assert remove.get("type") == "hidden" and remove.get("value") == "0"
    totals = {el.get("data-kl-total") for el in root.iterfind(".//*[@data-kl-totals]//dd")}
    assert totals == {
        "one_time_gross",
        "one_time_tax",
        "monthly_gross",
        "monthly_tax",
        "yearly_gross",
        "yearly_tax",
        "discount",
    }
    assert root.find(".//*[@data-kl-cart-empty]") is not None


def test_a_cart_that_cannot_be_edited_shows_the_quantity(built):
    root = parse(built.page("confirm-order"))
    template = root.find(".//template[@data-kl-cart-line]")
    names = {el.get("data-kl-line") for el in template.iter() if el.get("data-kl-line")}
    assert {"name", "quantity", "line_total"} <= names


def test_authentication_offers_login_and_signup(built):
    root = parse(built.page("login-or-create-an-account"))
    forms = {f.get("data-kl-form"): f for f in root.iter("form") if f.get("data-kl-form")}
    assert set(forms) == {"login", "signup"}
    for action, autocomplete in (("login", "current-password"), ("signup", "new-password")):
        form = forms[action]
        assert form.get("action") == f"/api/{built.key}/steps/login-or-create-an-account"
        assert form.find(".//input[@name='action']").get("value") == action
        password = form.find(".//input[@name='password']")
        assert password.get("type") == "password"
        assert password.get("autocomplete") == autocomplete
        assert password.get("minlength") == "8"
        assert "required" in password.attrib
        email = form.find(".//input[@name='email']")
        assert email.get("type") == "email" and email.get("autocomplete") == "email"
        label = root.find(f".//label[@for='{email.get('id')}']")
        assert text(label).startswith("Email")
    assert "continue as guest" not in built.page("login-or-create-an-account").lower()


def test_optional_authentication_adds_guest_checkout(ws):
    ws.edit(ws.journey_file, 'type = "authentication"', 'type = "optional_authentication"')
    ws.build()
    root = parse(ws.page("login-or-create-an-account"))
    guest = root.find(".//form[@data-kl-form='guest']")
    assert guest.find(".//input[@name='action']").get("value") == "guest"
    assert [i.get("name") for i in guest.iter("input")] == ["action", "email"]


EXTRA_FIELDS = """
  [[forms.fields]]
  name = "notes"
  label = "Notes"
  type = "textarea"
  min_length = 2

  [[forms.fields]]
  name = "salutation"
  label = "Salutation"
  type = "select"
  options = ["Ms", "Mr", "Mx"]
  default = "Mx"

  [[forms.fields]]
  name = "newsletter"
  label = "Send me news"
  type = "checkbox"
  default = true

  [[forms.fields]]
  name = "birthday"
  label = "Birthday"
  type = "date"

  [[forms.fields]]
  name = "seats"
  label = "Seats"
  type = "number"
  required = true

  [[forms.fields]]
  name = "phone"
  label = "Phone"
  type = "tel"
  autocomplete = "tel"
  placeholder = "+49 30 1234567"
"""


def test_form_fields_have_types_labels_constraints_and_error_elements(ws):
    # The extra fields go into the billing form, after its last field.
    last = '  help = "Only for businesses in the EU, e.g. DE123456789"\n'
    ws.edit("forms.toml", last, last + EXTRA_FIELDS)
    ws.build()
    root = parse(ws.page("customer-information"))
    form = root.find(".//form[@class='step-form']")
    assert form.get("action") == f"/api/{ws.key}/steps/customer-information"

    def control(name):
        found = form.find(f".//*[@name='{name}']")
        assert found is not None, name
        return found

    assert control("email").get("type") == "email"
    assert control("email").get("autocomplete") == "email"
    postal = control("postal_code")
    assert postal.get("pattern") == r"[A-Za-z0-9 \-]{3,10}"
    assert postal.get("maxlength") == "10"
    assert "required" in postal.attrib
    assert postal.get("aria-describedby") == "help-postal_code"
    assert "3 to 10 letters" in text(by_id(root, "help-postal_code"))
    assert "required" not in control("company").attrib
    assert control("notes").tag == "textarea" and control("notes").get("minlength") == "2"
    salutation = control("salutation")
    assert salutation.tag == "select"
    assert [o.text for o in salutation.iter("option")] == ["Choose…", "Ms", "Mr", "Mx"]
    assert salutation.find("option[@selected]").text == "Mx"
    newsletter = control("newsletter")
    assert newsletter.get("type") == "checkbox" and "checked" in newsletter.attrib
    assert control("birthday").get("type") == "date"
    assert control("seats").get("type") == "number" and "required" in control("seats").attrib
    assert control("phone").get("type") == "tel"
    assert control("phone").get("placeholder") == "+49 30 1234567"

    country = control("country")
    assert country.tag == "select" and country.get("autocomplete") == "country"
    options = {o.get("value"): o.text for o in country.iter("option")}
    assert options["DE"] == "Germany" and options["FR"] == "France"
    assert "EU" not in options and "001" not in options and "ZZ" not in options
    assert country.find("option[@selected]").get("value") == "DE"

    for name in ("first_name", "country", "notes", "newsletter", "seats"):
        field_id = control(name).get("id")
        label = root.find(f".//label[@for='{field_id}']")
        assert label is not None, name
        error = by_id(root, f"error-{name}")
        assert "hidden" in error.attrib and error.get("data-kl-error") == name
    required_label = root.find(f".//label[@for='{control('first_name').get('id')}']")
    assert required_label.find("span[@class='required']").text == "*"
    summary = root.find(".//*[@data-kl-error-summary]")
    assert summary is not None
    # A named region (ARIA allows aria-labelledby on a section, not on a bare div).
    assert summary.tag.endswith("section") and summary.get("aria-labelledby")


def test_countries_are_sorted_by_name_in_the_locale():
    names = [name for _, name in countries("en-US")]
    assert names.index("Åland Islands") < names.index("Albania")
    assert len(names) > 240


def test_payment_offers_methods_and_sepa_mandate(built):
    root = parse(built.page("payment-method"))
    radios = root.findall(".//input[@name='method']")
    assert [(r.get("type"), r.get("value")) for r in radios] == [
        ("radio", "invoice"),
        ("radio", "sepa_debit"),
    ]
    assert text(root.find(".//label[@for='method-sepa_debit']")) == "SEPA Direct Debit"
    iban = root.find(".//input[@name='iban']")
    assert iban.get("autocomplete") == "off" and iban.get("inputmode")
    assert root.find(".//input[@name='holder']") is not None
    mandate = root.find(".//input[@name='mandate']")
    assert mandate.get("type") == "checkbox" and mandate.get("value") == "on"
    mandate_text = text(by_id(root, mandate.get("aria-describedby")))
    assert "Acme GmbH" in mandate_text and "DE98ZZZ09999999999" in mandate_text


def test_payment_lists_only_the_step_methods(ws):
    ws.edit(
        ws.journey_file, 'type = "payment_method"', 'type = "payment_method"\nmethods = ["invoice"]'
    )
    ws.build()
    root = parse(ws.page("payment-method"))
    assert [r.get("value") for r in root.findall(".//input[@name='method']")] == ["invoice"]
    assert root.find(".//input[@name='iban']") is None


def test_confirmation_has_summaries_token_and_legal_text(built):
    root = parse(built.page("confirm-order"))
    for marker in ("data-kl-cart", "data-kl-totals", "data-kl-customer", "data-kl-payment"):
        assert root.find(f".//*[@{marker}]") is not None, marker
    answers = {el.get("data-kl-value") for el in root.iterfind(".//*[@data-kl-value]")}
    assert {"first_name", "country", "email"} <= answers
    form = root.find(".//form[@data-kl-confirm]")
    assert form.get("action") == f"/api/{built.key}/steps/confirm-order"
    token = form.find(".//input[@name='confirm_token']")
    assert token.get("type") == "hidden"
    legal = text(form.find(".//p[@class='legal']"))
    for part in ("Acme GmbH", "Hauptstrasse 1, 10115 Berlin, Germany", "DE123456789"):
        assert part in legal
    # The seller's legal pages, right above the button that obliges to pay.
    links = [(text(a), a.get("href")) for a in form.iterfind(".//ul[@class='legal-links']//a")]
    assert links == [
        ("Terms and conditions", "https://shop.example.com/terms"),
        ("Right of withdrawal", "https://shop.example.com/withdrawal"),
        ("Privacy notice", "https://shop.example.com/privacy"),
    ]
    assert form.find(".//input[@name='accept_terms']") is None  # not asked for here


def test_a_confirmation_can_ask_to_accept_the_terms(ws):
    ws.edit(
        ws.journey_file,
        'confirmation_type = "direct"',
        'confirmation_type = "direct"\naccept_terms = true',
    )
    ws.build()
    form = parse(ws.page("confirm-order")).find(".//form[@data-kl-confirm]")
    tick = form.find(".//input[@name='accept_terms']")
    assert (tick.get("type"), tick.get("id")) == ("checkbox", "field-accept-terms")
    label = form.find(".//label[@for='field-accept-terms']")
    assert text(label) == "I accept the terms and conditions"
    assert label.find("a").get("href") == "https://shop.example.com/terms"


def test_order_done_shows_the_message(built):
    root = parse(built.page("order-done"))
    assert text(root.find(".//h1")) == "Thank you for your purchase"
    assert "We have received your order." in text(root.find(".//div[@class='message-body']"))
    assert root.find(".//*[@data-kl-order-number]") is not None
    assert "taken to" not in text(root.find(".//main"))


def test_a_step_title_is_the_pages_heading_and_the_name_stays_in_the_bar(ws):
    """The customer reads the title; the progress bar and the shop's people keep the name."""
    ws.edit(
        ws.journey_file,
        'name = "Customer Information"\n',
        'name = "Customer Information"\ntitle = "Where shall we send the invoice?"\n',
    )
    ws.build()
    root = parse(ws.page("customer-information"))  # the address comes from the name
    assert text(root.find(".//h1")) == "Where shall we send the invoice?"
    assert text(root.find(".//title")).startswith("Where shall we send the invoice? · ")
    current = root.find(".//li[@aria-current='step']")
    assert "Customer Information" in text(current)
    other = parse(ws.page("payment-method"))
    assert text(other.find(".//h1")) == "Payment method"  # no title: the name


def test_the_steps_that_ask_for_something_else_show_the_order_beside(built):
    """Account, form and payment pages carry the order summary; the pages that show the
    cart themselves (products, cart, confirmation) do not."""
    for step in STEPS:
        root = parse(built.page(step))
        asides = root.findall(".//aside[@class='summary-column']")
        if step in ("login-or-create-an-account", "customer-information", "payment-method"):
            [aside] = asides
            details = aside.find("./details[@data-kl-summary]")
            assert details.get("open") is not None  # open without script
            cart = details.find(".//section[@data-kl-cart]")
            assert cart.get("aria-labelledby") == "summary-title"
            assert text(by_id(root, "summary-title")) == "Your order"
            ids = [element.get("id") for element in root.iter() if element.get("id")]
            assert len(ids) == len(set(ids)), step
        else:
            assert asides == [], step


def test_order_done_names_the_external_url(ws):
    ws.edit(ws.journey_file, 'external_url = ""', 'external_url = "https://example.com/thanks"')
    ws.build()
    root = parse(ws.page("order-done"))
    link = root.find(".//p[@class='external']/a")
    assert link.get("href") == "https://example.com/thanks"
    assert "You will be taken to" in text(root.find(".//p[@class='external']"))


IMAGES = (".svg", ".png", ".jpg", ".jpeg", ".webp", ".gif", ".ico")


def test_a_product_picture_has_its_size_and_a_published_address(ws):
    ws.edit("catalog.toml", '"products/starter.svg"', '"brand/logo.svg"')
    ws.edit("catalog.toml", 'image = "products/team.svg"\n', "")  # pro, and pro yearly
    ws.build()
    root = parse(ws.page("product-selection"))
    image = root.find(".//li[@data-kl-product='starter']/img")
    assert (image.get("width"), image.get("height"), image.get("alt")) == ("132", "40", "")
    assert image.get("loading") == "lazy"
    published = ws.site / image.get("src").lstrip("/")
    assert published.read_bytes() == (ws.journeys / "brand" / "logo.svg").read_bytes()
    assert re.fullmatch(r"logo\.[0-9a-f]{8}\.svg", published.name)
    assert root.find(".//li[@data-kl-product='pro']/img") is None  # a product without one


def test_every_page_of_the_example_as_shipped_fits_in_14_kb_gzipped(tmp_path):
    """Every page of the example folder as shipped (every journey, the account, staff
    and quote pages, and the ``[brand]``, whose rule ends the stylesheet) with the
    stylesheets and scripts it loads. Pictures aside, the brand's logo and icon as the
    products': they come after the page, which shows without them."""
    shutil.copytree(EXAMPLE, tmp_path / "journeys")
    site = tmp_path / "site"
    report = build(tmp_path / "journeys", site)
    brand_rule = report.shop.brand.stylesheet().encode()
    assert brand_rule, "the example is shipped with a [brand]"
    pages = sorted(site.rglob("index.html"))
    assert len(pages) > 40, "the example as shipped has more pages than that"
    gzipped: dict[str, int] = {}
    for page in pages:
        name = page.parent.relative_to(site).as_posix()
        html = page.read_text(encoding="utf-8")
        loaded = {
            asset
            for asset in re.findall(r'(?:href|src)="/(assets/[^"]+)"', html)
            if not asset.endswith(IMAGES)
        }
        stylesheets = [asset for asset in loaded if asset.endswith(".css")]
        assert stylesheets and any(a.endswith(".js") for a in loaded), (name, loaded)
        assert all(brand_rule in (site / a).read_bytes() for a in stylesheets), name
        for asset in loaded - gzipped.keys():
            gzipped[asset] = len(gzip.compress((site / asset).read_bytes(), 9))
        size = len(gzip.compress(html.encode(), 9)) + sum(gzipped[a] for a in loaded)
        assert size <= BUDGET, f"{name}: {size} bytes gzipped"


def test_no_request_leaves_the_site(built):
    # Links the customer may follow to the seller's legal pages are not requests the
    # page makes; everything a page loads or sends stays on the site.
    legal = {
        "https://shop.example.com/terms",
        "https://shop.example.com/withdrawal",
        "https://shop.example.com/privacy",
    }
    for html in built.pages().values():
        root = parse(html)
        for element in root.iter():
            for attribute in ("src", "href", "action"):
                value = element.get(attribute)
                if value == "data:,":  # the empty icon: no /favicon.ico request at all
                    continue
                if element.tag == "a" and value in legal:
                    continue
                if value is not None:
                    assert value.startswith(("/", "#")) and not value.startswith("//"), value
    for asset in (built.site / "assets").iterdir():
        # An SVG names its vocabulary by a URI (xmlns), which no browser requests.
        content = re.sub(r' xmlns(:\w+)?="[^"]*"', "", asset.read_text(encoding="utf-8"))
        for needle in ("http:", "https:", "url(", "@import", '"//', "'//"):
            assert needle not in content, f"{asset.name} contains {needle!r}"


def test_a_staff_journey_brings_the_staff_page_and_no_other_journey_does(ws):
    ws.build()
    assert not (ws.site / "staff").exists()
    other = ws.journeys / ws.add_journey("assisted", "Order for a customer")
    other.write_text(
        other.read_text().replace(
            'business_entity = "acme"', 'business_entity = "acme"\naudience = ["sales"]', 1
        )
    )
    ws.build()
    html = (ws.site / "staff" / "index.html").read_text()
    root = parse(html)
    body = root.find(".//body")
    assert body.get("data-kl-page") == "staff" and body.get("data-staff-api") == "/api/staff"
    stages = [s.get("data-kl-stage") for s in root.iter("section") if s.get("data-kl-stage")]
    assert stages == ["signed-out", "enrol", "code", "signed-in"]
    # Every field has its label; the codes are one-time codes, the numeric keyboard's.
    for field in root.iter("input"):
        if field.get("type") != "hidden":
            assert root.find(f".//label[@for='{field.get('id')}']") is not None
    code = root.find(".//input[@id='staff-code']")
    assert (code.get("autocomplete"), code.get("inputmode")) == ("one-time-code", "numeric")
    assert root.find(".//noscript/meta").get("content").endswith("url=/api/staff/page")
    shared = sum(
        len(gzip.compress(p.read_bytes(), 9))
        for p in (ws.site / "assets").iterdir()
        if p.suffix not in IMAGES
    )
    assert len(gzip.compress(html.encode(), 9)) + shared <= BUDGET
    # The journey goes back to the customers: its staff page goes too.
    other.unlink()
    ws.build()
    assert not (ws.site / "staff").exists()
