"""Nobody reaches a journey for staff that is not for them: every endpoint of every such
journey, on SQLite and PostgreSQL, against everyone the journey's ``audience`` leaves
out — a visitor, a signed-in customer, a member of another role, a member who has only
given their password, signed out, was disabled, had their sessions revoked, or whose
working day is over.

Each request carries a cart cookie and a security token that are valid for that journey
(made with the shop's secret, as a browser would hold them had it once been let in), so
the refusal is the audience's own and not a missing token's: the same cookie and token
let an admin through."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from checkout_helpers import (
    TEST_JOURNEY,
    Backend,
    Shopper,
    base_config,
    database,
    example_with_guest,
    served_backend,
    unique_email,
)
from sqlalchemy import func, select
from test_staff import PASSWORD, SALES_JOURNEY, Member, add_member, run

import kljourney
from klcheckout import cart, clock, security, staff, tables
from klcheckout.visit import NOT_YOUR_ROLE, STAFF_ONLY
from kljourney.model import Journey

#: Only partners walk it: members of sales are refused.
PARTNERS_JOURNEY = """
name = "Partners' renewals"
key = "partners-only"
business_entity = "acme"
audience = ["partners"]

[[steps]]
name = "Customer"
type = "customer_lookup"

[[steps]]
name = "Plan"
type = "product_selection"
product_selection = "plans"

[[steps]]
name = "Payment"
type = "payment_method"
actor = "customer"

[[steps]]
name = "Done"
type = "order_done"
"""

#: What a refused request may have written: nothing, in any of these.
TABLES = [
    tables.checkouts,
    tables.orders,
    tables.handovers,
    tables.quotes,
    tables.history,
    tables.customers,
]


@pytest.fixture(scope="module")
def journeys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = example_with_guest(tmp_path_factory.mktemp("access") / "journeys")
    (root / "assisted.toml").write_text(SALES_JOURNEY)
    (root / "partners-only.toml").write_text(PARTNERS_JOURNEY)
    return root


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def shop(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, journeys: Path
) -> Iterator[Backend]:
    tmp = tmp_path_factory.mktemp(f"access-{request.param}")
    with database(request.param, tmp) as database_url:
        with served_backend(request.param, base_config(tmp, journeys, database_url)) as up:
            yield up


@pytest.fixture(scope="module")
def staff_journeys(journeys: Path) -> list[Journey]:
    """Every journey of the shop that customers may not walk."""
    shop = kljourney.load(journeys)
    found = [journey for journey in shop.journeys.values() if not journey.for_customers]
    assert {journey.key for journey in found} == {
        "assisted",
        "assisted-order",
        "partners-only",
        "sales-quote",
    }
    return found


@dataclass
class Person:
    """A browser: the customer session its cart cookie holds ("" for none) and its staff
    cookie (``None``: it never signed in as staff)."""

    session: str
    staff_cookie: str | None
    #: The role it is refused as (a member of another role), or None: refused as no staff.
    role: str | None = None


def adding(journey: Journey) -> dict[str, str]:
    """The form that adds a plan to the cart on the journey's product selection."""
    [selection] = [step.id for step in journey.steps if step.type == "product_selection"]
    return {"product": "starter", "quantity": "1", "step": selection}


def endpoints(journey: Journey) -> list[tuple[str, str, dict[str, str]]]:
    """Every request a page of ``journey`` can send: each step's state, page, form and
    hand-over, the cart's, and the account's."""
    key = journey.key
    found: list[tuple[str, str, dict[str, str]]] = []
    for step in journey.steps:
        found.append(("GET", f"/{key}/state?step={step.id}", {}))
        found.append(("GET", f"/{key}/pages/{step.id}/", {}))
        found.append(("POST", f"/{key}/steps/{step.id}", {"email": unique_email()}))
        if step.actor == "customer":
            found.append(("POST", f"/{key}/steps/{step.id}/handover", {}))
            found.append(("POST", f"/{key}/steps/{step.id}/handover/revoke", {}))
    found.append(("POST", f"/{key}/cart/add", adding(journey)))
    found.append(("POST", f"/{key}/cart/update", {**adding(journey), "quantity": "2"}))
    found.append(("POST", f"/{key}/logout", {}))
    found.append(("POST", f"/{key}/account/password", {"password": "x" * 12}))
    return found


def send(
    shop: Backend, person: Person, journey: Journey, method: str, path: str, data: dict[str, str]
) -> requests.Response:
    """One request of ``person`` with a cart cookie and token made for ``journey``."""
    walk = cart.Cart(journey=journey.key, version=journey.version, session=person.session)
    cookies = {cart.cookie_name(shop.app): cart.encode(shop.app, walk)}
    if person.staff_cookie is not None:
        cookies["kl_staff"] = person.staff_cookie
    return requests.request(
        method,
        shop.url + path,
        data={**data, "csrf_token": security.csrf_token(shop.app, walk)} if data else None,
        headers={
            "Origin": shop.url,
            # The pages for browsers without JavaScript answer in HTML, the rest in JSON.
            "Accept": "text/html" if "/pages/" in path else "application/json",
            "X-CSRF-Token": security.csrf_token(shop.app, walk),
            "Cookie": "; ".join(f"{name}={value}" for name, value in cookies.items()),
        },
        allow_redirects=False,
        timeout=10,
    )


def row_counts(shop: Backend) -> dict[str, int]:
    with shop.engine.connect() as connection:
        return {
            table.name: connection.execute(select(func.count()).select_from(table)).scalar_one()
            for table in TABLES
        }


def staff_cookie(member: Member) -> str:
    [value] = [cookie.value for cookie in member.http.cookies if cookie.name == "kl_staff"]
    return value


def signed_in(shop: Backend, role: str, partner: str | None = None) -> Member:
    member = Member(shop, add_member(shop, role, partner=partner))
    member.enrol()
    return member


def person(shop: Backend, kind: str) -> Person:
    """A browser of the ``kind`` the test is about, as it is when it sends its requests."""
    if kind == "visitor":
        return Person(session="", staff_cookie=None)
    if kind == "customer":
        shopper = Shopper(shop.url, TEST_JOURNEY)
        shopper.add("starter", step="plan")
        shopper.step("cart")
        signup = {"action": "signup", "email": unique_email(), "password": PASSWORD}
        shopper.step("account", signup)
        [value] = [c.value for c in shopper.http.cookies if c.name == cart.cookie_name(shop.app)]
        session = cart.decode_any(shop.app, value).session  # type: ignore[union-attr]
        assert session, "the customer's sign-up left no session in the cookie"
        return Person(session=session, staff_cookie=None)
    if kind == "partner":
        return Person("", staff_cookie(signed_in(shop, "partner", "Initech")), role="partner")
    if kind == "sales":
        return Person("", staff_cookie(signed_in(shop, "sales")), role="sales")
    if kind == "password-only":
        member = Member(shop, add_member(shop))
        assert member.sign_in().status_code == 200
        assert member.state()["stage"] == "enrol"
        return Person("", staff_cookie(member))
    member = signed_in(shop, "admin")
    if kind == "signed-out":
        member.post("sign-out", {})
    elif kind == "disabled":
        assert run(shop, "staff", "disable", member.email).exit_code == 0
    elif kind == "revoked":
        assert run(shop, "staff", "revoke", member.email).exit_code == 0
    return Person("", staff_cookie(member))


#: Who is refused which journeys: (kind, the journeys' keys, or None for all of them).
REFUSED = [
    ("visitor", None),
    ("customer", None),
    ("password-only", None),
    ("signed-out", None),
    ("disabled", None),
    ("revoked", None),
    ("working-day-over", None),
    ("partner", {"assisted", "sales-quote"}),
    ("sales", {"partners-only"}),
]


@pytest.mark.parametrize(("kind", "keys"), REFUSED, ids=[kind for kind, _ in REFUSED])
def test_every_endpoint_of_every_staff_journey_refuses(
    shop: Backend,
    staff_journeys: list[Journey],
    kind: str,
    keys: set[str] | None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if kind == "working-day-over":
        someone = person(shop, "admin")
        offset = tmp_path / "offset"
        offset.write_text(str(staff.SESSION_HOURS * 3600 + 1))
        monkeypatch.setattr(clock, "CLOCK_FILE", str(offset))
    else:
        someone = person(shop, kind)
    before = row_counts(shop)
    # The answers are in English, as the messages are written.
    expected = NOT_YOUR_ROLE % {"role": someone.role} if someone.role else STAFF_ONLY
    checked: set[str] = set()
    for journey in staff_journeys:
        if keys is not None and journey.key not in keys:
            continue
        for method, path, data in endpoints(journey):
            answer = send(shop, someone, journey, method, path, data)
            where = f"{kind}: {method} {path}"
            assert answer.status_code == 403, f"{where} answered {answer.status_code}"
            if "/pages/" in path:  # the page for browsers without JavaScript
                assert 'href="/staff/"' in answer.text, where
            else:
                body = answer.json()
                assert body["error"] == expected, f"{where}: {body}"
                assert body["sign_in_url"] == "/staff/", where
            checked.add(journey.key)
    assert checked == (keys or {journey.key for journey in staff_journeys})
    assert row_counts(shop) == before, f"{kind}'s refused requests wrote rows"


#: The journeys for staff each role walks: those whose audience names it (an admin: all).
WALKS = {
    "sales": {"assisted", "assisted-order", "sales-quote"},
    "partner": {"assisted-order", "partners-only"},
    "admin": {"assisted", "assisted-order", "partners-only", "sales-quote"},
}


@pytest.mark.parametrize("role", list(WALKS))
def test_the_same_cookie_and_token_let_each_role_into_its_journeys(
    shop: Backend, staff_journeys: list[Journey], role: str
) -> None:
    """The control: what the refusals above send is a valid request once the role fits,
    and each role is let into the journeys its audience names, refused the others."""
    member = signed_in(shop, role, "Initech" if role == "partner" else None)
    someone = Person("", staff_cookie(member), role=role)
    for journey in staff_journeys:
        first = journey.steps[0].id
        state = send(shop, someone, journey, "GET", f"/{journey.key}/state?step={first}", {})
        if journey.key not in WALKS[role]:
            assert state.status_code == 403, f"{role} in {journey.key}"
            continue
        assert state.status_code == 200, state.text
        page = send(shop, someone, journey, "GET", f"/{journey.key}/pages/{first}/", {})
        assert page.status_code == 200
        path = f"/{journey.key}/cart/add"
        added = send(shop, someone, journey, "POST", path, adding(journey))
        assert added.status_code == 200, added.text
