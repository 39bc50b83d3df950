"""Staff over real HTTP, on SQLite and PostgreSQL: sign-in with a password and a second
factor, sessions that end, and journeys whose ``audience`` and steps' ``actor`` refuse
the wrong people on the server. Members are made with the ``klcheckout staff`` commands."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyotp
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
from click.testing import CliRunner

from klcheckout import clock, staff, totp
from klcheckout.cli import cli

PASSWORD = "a long staff passphrase"

#: Only sales (and admins) walk it; the cart is the customer's to complete.
SALES_JOURNEY = """
name = "Quick order for a customer"
key = "assisted"
business_entity = "acme"
audience = ["sales"]

[[steps]]
name = "Plan"
type = "product_selection"
product_selection = "plans"
actor = "staff"

[[steps]]
name = "Cart"
type = "order"
actor = "customer"

[[steps]]
name = "Done"
type = "order_done"
"""

#: Customers and partners walk it; one step is for partners only.
PARTNER_JOURNEY = """
name = "Shop with partners"
key = "partnered"
business_entity = "acme"
audience = ["customers", "partners"]

[[steps]]
name = "Plan"
type = "product_selection"
product_selection = "plans"

[[steps]]
name = "Partner terms"
type = "order"
actor = "staff"
when = "actor.role == 'partner' and actor.partner == 'Initech'"

[[steps]]
name = "Done"
type = "order_done"
"""


@pytest.fixture(scope="module")
def staff_journeys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = example_with_guest(tmp_path_factory.mktemp("staff-journeys") / "journeys")
    (root / "assisted.toml").write_text(SALES_JOURNEY)
    (root / "partnered.toml").write_text(PARTNER_JOURNEY)
    return root


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def shop(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    staff_journeys: Path,
) -> Iterator[Backend]:
    tmp = tmp_path_factory.mktemp(f"staff-{request.param}")
    with database(request.param, tmp) as database_url:
        config = base_config(tmp, staff_journeys, database_url)
        with served_backend(request.param, config) as up:
            yield up


def cli_env(shop: Backend) -> dict[str, str]:
    return {
        "KEYLIGHT_DATABASE_URL": shop.database_url,
        "KEYLIGHT_JOURNEYS": shop.config["KEYLIGHT_JOURNEYS"],
        "KEYLIGHT_INSTANCE": shop.config["KEYLIGHT_INSTANCE"],
        "KEYLIGHT_SECRET_KEYS": ",".join(shop.config["KEYLIGHT_SECRET_KEYS"]),
    }


def run(shop: Backend, *args: str, password: str | None = PASSWORD) -> Any:
    result = CliRunner().invoke(cli, list(args), env=cli_env(shop), input=password)
    return result


def add_member(shop: Backend, role: str = "sales", partner: str | None = None) -> str:
    email = unique_email()
    args = ["staff", "add", email, "--role", role, "--password-stdin"]
    if partner:
        args += ["--partner", partner]
    result = run(shop, *args, password=PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    return email


class Member:
    """A browser of a member of staff: the staff page's requests, its cookie and token."""

    def __init__(self, shop: Backend, email: str) -> None:
        self.base = shop.url
        self.email = email
        self.http = requests.Session()
        self.http.headers["Origin"] = shop.url
        self.http.headers["X-Forwarded-For"] = (
            f"10.{secrets.randbelow(250)}.{secrets.randbelow(250)}.{secrets.randbelow(250)}"
        )
        self.secret = ""
        self.recovery_codes: list[str] = []

    def state(self) -> dict[str, Any]:
        response = self.http.get(f"{self.base}/staff/state")
        assert response.status_code == 200, response.text
        return response.json()

    def post(self, action: str, data: dict[str, str], *, json: bool = True) -> requests.Response:
        token = self.state()["csrf_token"]
        return self.http.post(
            f"{self.base}/staff/{action}",
            data={**data, "csrf_token": token},
            headers={"Accept": "application/json"} if json else {},
            allow_redirects=False,
        )

    def sign_in(self, password: str = PASSWORD) -> requests.Response:
        return self.post("sign-in", {"email": self.email, "password": password})

    def enrol(self) -> None:
        """Sign in, read the secret as a person would type it, confirm with a code."""
        assert self.sign_in().status_code == 200
        state = self.state()
        assert state["stage"] == "enrol"
        assert state["enrolment"]["qr_svg"].startswith("<svg")
        self.secret = state["enrolment"]["secret"].replace(" ", "")
        confirmed = self.post("enrol", {"code": pyotp.TOTP(self.secret).now()})
        assert confirmed.status_code == 200, confirmed.text
        body = confirmed.json()
        assert body["stage"] == "signed-in"
        self.recovery_codes = body["recovery_codes"]

    def journey(self, key: str) -> Shopper:
        """A Shopper of ``key`` sharing this browser's cookies (the staff cookie too)."""
        shopper = Shopper(self.base, key)
        shopper.http = self.http
        return shopper


def code_at(secret: str, steps_ahead: int) -> str:
    totp_ = pyotp.TOTP(secret)
    return totp_.generate_otp(totp_.timecode(clock.now()) + steps_ahead)


@pytest.fixture
def sales(shop: Backend) -> Member:
    member = Member(shop, add_member(shop, "sales"))
    member.enrol()
    return member


# -- the commands -------------------------------------------------------------------------


def test_staff_add_list_disable_and_revoke(shop: Backend) -> None:
    email = add_member(shop, "partner", partner="Initech")
    listed = run(shop, "staff", "list").output
    assert f"{email}  role=partner  partner=Initech  enrolled=no  disabled=no  sessions=0" in listed
    member = Member(shop, email)
    member.enrol()
    assert f"{email}  role=partner  partner=Initech  enrolled=yes  disabled=no  sessions=1" in (
        run(shop, "staff", "list").output
    )
    revoked = run(shop, "staff", "revoke", email.upper())
    assert revoked.exit_code == 0 and "1 session(s) of" in revoked.output
    assert member.state()["stage"] == "signed-out"
    disabled = run(shop, "staff", "disable", email)
    assert disabled.exit_code == 0, disabled.output
    assert "disabled=20" in run(shop, "staff", "list").output  # the moment, 20xx-…
    assert member.sign_in().status_code == 401  # a disabled member cannot sign in


def test_one_session_of_several_is_ended_alone(shop: Backend) -> None:
    """A member signed in at their desk and on a shared computer: the operator tells the
    two apart by browser and ends the shared one; the desk's goes on."""
    email = add_member(shop)
    desk = Member(shop, email)
    desk.http.headers["User-Agent"] = "Desk laptop (Firefox 140)"
    desk.enrol()
    kiosk = Member(shop, email)
    kiosk.http.headers["User-Agent"] = "Shared kiosk (Chromium 156)"
    assert kiosk.sign_in().status_code == 200
    assert kiosk.post("code", {"code": code_at(desk.secret, 1)}).status_code == 200
    listed = run(shop, "staff", "sessions", email)
    assert listed.exit_code == 0, listed.output
    lines = listed.output.splitlines()
    assert len(lines) == 2 and all("  full  " in line and " ends 20" in line for line in lines)
    [kiosk_line] = [line for line in lines if line.endswith("Shared kiosk (Chromium 156)")]
    session = kiosk_line.split()[0]
    assert len(session) == staff.SESSION_ID_LENGTH
    ended = run(shop, "staff", "revoke", email, "--session", session[:8])
    assert ended.exit_code == 0 and f"Session {session} of {email} ended." in ended.output
    assert kiosk.state()["stage"] == "signed-out"
    assert desk.state()["stage"] == "signed-in"
    [left] = run(shop, "staff", "sessions", email).output.splitlines()
    assert left.endswith("Desk laptop (Firefox 140)")
    # An ended session, or an id too short to name one, is a clear error.
    for typed in (session, "abc"):
        refused = run(shop, "staff", "revoke", email, "--session", typed)
        assert refused.exit_code == 1
        assert f"has no running session '{typed}'" in refused.output
        assert f"klcheckout staff sessions {email}" in refused.output
    assert desk.state()["stage"] == "signed-in"
    unknown = run(shop, "staff", "sessions", "nobody@example.com")
    assert unknown.exit_code == 1 and "no member of staff" in unknown.output


def test_a_new_password_a_reset_factor_and_enabling_again(shop: Backend) -> None:
    member = Member(shop, add_member(shop, "sales"))
    member.enrol()
    changed = run(shop, "staff", "password", member.email, "--password-stdin", password="short\n")
    assert changed.exit_code != 0 and "at least 8 characters" in changed.output
    new_password = "a new and long passphrase"
    changed = run(
        shop, "staff", "password", member.email, "--password-stdin", password=new_password + "\n"
    )
    assert changed.exit_code == 0 and "1 session(s) ended" in changed.output, changed.output
    assert member.state()["stage"] == "signed-out"
    assert member.sign_in().status_code == 401  # the old password is gone
    assert member.sign_in(new_password).status_code == 200
    assert member.state()["stage"] == "code"  # the second factor stayed
    reset = run(shop, "staff", "reset-factor", member.email)
    assert reset.exit_code == 0 and "1 session(s) ended" in reset.output, reset.output
    assert member.state()["stage"] == "signed-out"
    assert member.sign_in(new_password).status_code == 200
    assert member.state()["stage"] == "enrol"  # a new secret, not the old one
    assert member.state()["enrolment"]["secret"].replace(" ", "") != member.secret
    run(shop, "staff", "disable", member.email)
    assert member.sign_in(new_password).status_code == 401
    enabled = run(shop, "staff", "enable", member.email)
    assert enabled.exit_code == 0 and "may sign in again" in enabled.output
    assert "was not disabled" in run(shop, "staff", "enable", member.email).output
    assert member.sign_in(new_password).status_code == 200
    unknown = run(shop, "staff", "reset-factor", "nobody@example.com")
    assert unknown.exit_code != 0 and "staff list" in unknown.output


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--role", "boss"], "unknown role 'boss'; choose one of: sales, partner, admin"),
        (["--role", "partner"], "a partner works for an organisation: add --partner"),
        (["--role", "sales", "--partner", "X"], "--partner is for the role partner only"),
    ],
)
def test_staff_add_refuses_a_wrong_role(shop: Backend, args: list[str], expected: str) -> None:
    result = run(shop, "staff", "add", unique_email(), *args, "--password-stdin")
    assert result.exit_code == 1 and expected in result.output
    assert "Traceback" not in result.output


def test_staff_add_checks_the_password_like_a_customers(shop: Backend) -> None:
    short = run(
        shop,
        "staff",
        "add",
        unique_email(),
        "--role",
        "sales",
        "--password-stdin",
        password="short\n",
    )
    assert short.exit_code == 1 and "at least 8 characters" in short.output
    common = run(
        shop,
        "staff",
        "add",
        unique_email(),
        "--role",
        "sales",
        "--password-stdin",
        password="password123\n",
    )
    assert common.exit_code == 1 and "most common" in common.output
    # Asked twice at the terminal: two different answers are not taken.
    typed = run(
        shop,
        "staff",
        "add",
        unique_email(),
        "--role",
        "sales",
        password=f"{PASSWORD}\n{PASSWORD}x\n{PASSWORD}\n{PASSWORD}\n",
    )
    assert typed.exit_code == 0 and "do not match" in typed.output


def test_unknown_and_taken_emails_are_clear_errors(shop: Backend) -> None:
    for command in ("disable", "revoke"):
        result = run(shop, "staff", command, "nobody@example.com")
        assert result.exit_code == 1
        assert "no member of staff has the email 'nobody@example.com'" in result.output
    email = add_member(shop)
    again = run(
        shop, "staff", "add", email, "--role", "admin", "--password-stdin", password=PASSWORD + "\n"
    )
    assert again.exit_code == 1 and "is already a member of staff" in again.output


# -- signing in ---------------------------------------------------------------------------


def test_a_wrong_password_and_an_unknown_email_answer_alike(shop: Backend) -> None:
    member = Member(shop, add_member(shop))
    wrong = member.sign_in("not the password")
    nobody = Member(shop, unique_email()).sign_in()
    assert wrong.status_code == nobody.status_code == 401
    assert wrong.json()["errors"] == nobody.json()["errors"]
    assert member.state()["stage"] == "signed-out"


def test_after_the_password_only_the_second_factor_follows(shop: Backend, sales: Member) -> None:
    later = Member(shop, sales.email)
    assert later.sign_in().status_code == 200
    state = later.state()
    assert state["stage"] == "code" and "enrolment" not in state
    # Half signed in is no staff: the sales journey still refuses.
    assert later.journey("assisted").http.get(f"{shop.url}/assisted/state").status_code == 403
    # Enrolment is over for this member: a second secret is not handed out.
    assert later.post("enrol", {"code": "123456"}).status_code == 401
    done = later.post("code", {"code": code_at(sales.secret, 1)})
    assert done.status_code == 200 and done.json()["stage"] == "signed-in"
    assert later.journey("assisted").http.get(f"{shop.url}/assisted/state").status_code == 200


def test_a_code_is_taken_once_and_a_wrong_one_never(shop: Backend, sales: Member) -> None:
    other = Member(shop, sales.email)
    other.sign_in()
    assert (
        other.post(
            "code", {"code": "000000" if code_at(sales.secret, 0) != "000000" else "111111"}
        ).status_code
        == 401
    )
    # The code that confirmed the enrolment (this step's) cannot be used again.
    replay = other.post("code", {"code": code_at(sales.secret, 0)})
    assert replay.status_code == 401
    assert "was used already" in replay.json()["errors"]["code"]
    assert other.state()["stage"] == "code"


def test_a_recovery_code_works_once(shop: Backend, sales: Member) -> None:
    first, second = Member(shop, sales.email), Member(shop, sales.email)
    code = sales.recovery_codes[0]
    first.sign_in()
    assert first.post("code", {"recovery_code": code.upper()}).json()["stage"] == "signed-in"
    second.sign_in()
    used = second.post("code", {"recovery_code": code})
    assert used.status_code == 401
    assert "That recovery code is not right, or was used already" in used.json()["errors"]["code"]
    wrong = second.post("code", {"code": "000000"})
    assert "recovery" not in wrong.json()["errors"]["code"]  # a TOTP code's own message
    assert second.post("code", {"recovery_code": sales.recovery_codes[1]}).status_code == 200


def test_wrong_codes_are_rate_limited(shop: Backend, sales: Member) -> None:
    other = Member(shop, sales.email)
    other.sign_in()
    wrong = "999999" if code_at(sales.secret, 1) != "999999" else "888888"
    statuses = [other.post("code", {"code": wrong}).status_code for _ in range(5)]
    assert statuses == [401] * 5
    # Over the limit (5 per 10 minutes in tests) even the right code is not looked at.
    blocked = other.post("code", {"code": code_at(sales.secret, 1)})
    assert blocked.status_code == 429
    assert "Too many failed sign-in attempts" in blocked.json()["errors"]["code"]


def test_wrong_passwords_are_rate_limited_per_email(shop: Backend) -> None:
    email = add_member(shop)
    for _ in range(5):
        assert Member(shop, email).sign_in("wrong password").status_code == 401
    assert Member(shop, email).sign_in().status_code == 429  # from any address


def test_a_form_from_another_site_is_refused(shop: Backend, sales: Member) -> None:
    sales.http.headers["Origin"] = "https://evil.example"
    refused = sales.post("sign-out", {})
    assert refused.status_code == 403
    sales.http.headers["Origin"] = shop.url
    assert sales.state()["stage"] == "signed-in"


def test_the_staff_cookie_is_its_own(shop: Backend, sales: Member) -> None:
    cookie = next(c for c in sales.http.cookies if c.name == "kl_staff")
    assert cookie.has_nonstandard_attr("HttpOnly")
    response = sales.http.get(f"{shop.url}/staff/state")
    assert "SameSite=Strict" in response.headers.get("Set-Cookie", "SameSite=Strict")
    signed_out = sales.post("sign-out", {})
    assert signed_out.json()["stage"] == "signed-out"
    assert "SameSite=Strict" in signed_out.headers["Set-Cookie"]
    assert "HttpOnly" in signed_out.headers["Set-Cookie"]


def test_a_session_ends_after_a_working_day(
    shop: Backend, sales: Member, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert sales.journey("assisted").state()["skipped"] == []
    offset = tmp_path / "offset"
    offset.write_text(str(staff.SESSION_HOURS * 3600 - 60))
    monkeypatch.setattr(clock, "CLOCK_FILE", str(offset))
    assert sales.journey("assisted").http.get(f"{shop.url}/assisted/state").status_code == 200
    offset.write_text(str(staff.SESSION_HOURS * 3600 + 1))
    late = sales.journey("assisted").http.get(f"{shop.url}/assisted/state")
    assert late.status_code == 403
    state = sales.state()
    assert state["stage"] == "signed-out"
    assert "Your staff session has ended" in state["messages"][0]


# -- who walks which journey -----------------------------------------------------------------


def refusal(person: Shopper, key: str) -> requests.Response:
    """The state of the journey's first page, as the page script asks for it."""
    return person.http.get(
        f"{person.base}/{key}/state",
        params={"step": "plan"},
        headers={"Accept": "application/json"},
    )


def test_a_customer_is_refused_a_staff_journey_everywhere(shop: Backend) -> None:
    customer = Shopper(shop.url, "assisted")
    state = refusal(customer, "assisted")
    assert state.status_code == 403
    body = state.json()
    assert "This journey is for the shop's staff" in body["error"]
    assert body["sign_in_url"] == "/staff/"
    # Every step's form, JSON and plain, with a cookie and token the journey handed out
    # while its browser was signed in as staff: refused once the staff session is gone.
    member = Member(shop, add_member(shop))
    member.enrol()
    walker = member.journey("assisted")
    walker.state("plan")
    token = walker.csrf
    member.post("sign-out", {})
    walker.csrf = token
    posted = walker.post("steps/plan", {"product": "starter", "quantity": 1}, json=True)
    assert posted.status_code == 403
    assert "This journey is for the shop's staff" in posted.json()["error"]
    walker.csrf = token
    plain = walker.post("steps/plan", {"product": "starter", "quantity": 1})
    assert plain.status_code == 403 and "Sign in as staff" in plain.text
    # The page for browsers without JavaScript too.
    page = customer.http.get(f"{shop.url}/assisted/pages/plan/")
    assert page.status_code == 403 and 'href="/staff/"' in page.text


def test_a_customer_session_gives_no_staff_rights(shop: Backend) -> None:
    """A member's email as a customer account: signing in there is not signing in as staff."""
    member = Member(shop, add_member(shop))
    customer = Shopper(shop.url, TEST_JOURNEY)
    customer.add("starter", step="plan")
    customer.step("cart")
    customer.step("account", {"action": "signup", "email": member.email, "password": PASSWORD})
    assert customer.state()["customer"]["signed_in"]
    customer.journey = "assisted"
    assert refusal(customer, "assisted").status_code == 403


@pytest.mark.parametrize("role", ["partner", "customer-signed-out"])
def test_others_are_refused_a_sales_journey(shop: Backend, role: str) -> None:
    member = Member(shop, add_member(shop, "partner", partner="Initech"))
    member.enrol()
    if role == "customer-signed-out":
        member.post("sign-out", {})
    found = refusal(member.journey("assisted"), "assisted")
    assert found.status_code == 403
    if role == "partner":
        assert "not for your role (partner)" in found.json()["error"]


def test_a_disabled_member_is_refused_at_once(shop: Backend, sales: Member) -> None:
    walker = sales.journey("assisted")
    assert walker.state("plan")["journey"]["key"] == "assisted"
    run(shop, "staff", "disable", sales.email)
    assert refusal(walker, "assisted").status_code == 403


def test_a_revoked_session_is_refused_at_once(shop: Backend, sales: Member) -> None:
    walker = sales.journey("assisted")
    walker.state("plan")
    run(shop, "staff", "revoke", sales.email)
    assert refusal(walker, "assisted").status_code == 403


def test_an_admin_walks_every_journey(shop: Backend) -> None:
    admin = Member(shop, add_member(shop, "admin"))
    admin.enrol()
    assert admin.journey("assisted").state("plan")["journey"]["key"] == "assisted"
    assert admin.journey("partnered").state("plan")["journey"]["key"] == "partnered"


def test_a_step_refuses_the_wrong_kind_of_actor(shop: Backend, sales: Member) -> None:
    walker = sales.journey("assisted")
    assert walker.add("starter", step="plan", json=True).status_code == 200
    assert walker.step("plan", {}, json=True).status_code == 200
    cart = walker.step("cart", {}, json=True)
    assert cart.status_code == 403
    assert "This step is the customer's to complete" in cart.json()["errors"]["_form"]
    # A customer, who may walk the partners' journey, is refused its staff step alike.
    customer = Shopper(shop.url, "partnered")
    customer.add("starter", step="plan")
    refused = customer.step("partner-terms", {}, json=True)
    assert refused.status_code == 403
    assert "A member of the shop's staff completes this step" in refused.json()["errors"]["_form"]


def test_a_partner_step_is_only_for_partners(shop: Backend) -> None:
    customer = Shopper(shop.url, "partnered")
    assert customer.state("plan")["skipped"] == ["partner-terms"]
    partner = Member(shop, add_member(shop, "partner", partner="Initech"))
    partner.enrol()
    assert partner.journey("partnered").state("plan")["skipped"] == []
    other = Member(shop, add_member(shop, "partner", partner="Globex"))
    other.enrol()
    assert other.journey("partnered").state("plan")["skipped"] == ["partner-terms"]


def test_totp_accepts_a_step_either_side_and_nothing_else() -> None:
    secret = totp.new_secret()
    moment = clock.now()
    step = pyotp.TOTP(secret).timecode(moment)
    for ahead in (-1, 0, 1):
        code = pyotp.TOTP(secret).generate_otp(step + ahead)
        assert totp.counter_of(secret, code[:3] + " " + code[3:], moment) == step + ahead
    assert totp.counter_of(secret, pyotp.TOTP(secret).generate_otp(step + 2), moment) is None
    assert totp.counter_of(secret, "12345", moment) is None
    assert totp.counter_of(secret, "abcdef", moment) is None
    assert totp.grouped("ABCDEFGHIJ") == "ABCD EFGH IJ"
    codes = totp.new_recovery_codes()
    assert len(set(codes)) == totp.RECOVERY_CODES
    assert totp.recovery_hash(codes[0].upper().replace("-", " ")) == totp.recovery_hash(codes[0])


def test_a_signed_in_member_is_offered_the_journeys_of_their_role(shop: Backend) -> None:
    def offered(role: str, partner: str | None = None) -> dict[str, dict[str, str]]:
        member = Member(shop, add_member(shop, role, partner=partner))
        member.enrol()
        return {journey["key"]: journey for journey in member.state()["journeys"]}

    sales = offered("sales")
    assert sorted(sales) == ["assisted", "assisted-order", "sales-quote"]
    assert sales["assisted"] == {
        "key": "assisted",
        "name": "Quick order for a customer",
        "url": "/assisted/plan/",
        "page_url": "/api/assisted/pages/plan/",
    }
    assert sorted(offered("partner", "Initech")) == ["assisted-order", "partnered"]
    # An admin walks every journey; those only customers walk are not offered.
    assert sorted(offered("admin")) == ["assisted", "assisted-order", "partnered", "sales-quote"]
    signed_out = Member(shop, add_member(shop)).state()
    assert "journeys" not in signed_out


def test_without_javascript_the_backend_renders_each_stage(shop: Backend) -> None:
    member = Member(shop, add_member(shop))
    first = member.http.get(f"{shop.url}/staff/page")
    assert first.status_code == 200 and 'id="staff-email"' in first.text
    token = first.text.split('name="csrf_token" value="')[1].split('"')[0]

    def plain(action: str, data: dict[str, str]) -> requests.Response:
        return member.http.post(
            f"{shop.url}/staff/{action}?page=backend",
            data={**data, "csrf_token": token},
            allow_redirects=False,
        )

    wrong = plain("sign-in", {"email": member.email, "password": "not it at all"})
    assert wrong.status_code == 303
    assert wrong.headers["Location"] == "/api/staff/page?notice=wrong"  # the site's api_url
    assert (
        "The email or password is wrong."
        in member.http.get(f"{shop.url}/staff/page?notice=wrong").text
    )
    signed = plain("sign-in", {"email": member.email, "password": PASSWORD})
    assert signed.status_code == 303
    page = member.http.get(f"{shop.url}/staff/page").text
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    assert "<svg" in page and 'autocomplete="one-time-code"' in page
    secret = page.split("<code data-kl-secret>")[1].split("</code>")[0].replace(" ", "")
    done = plain("enrol", {"code": pyotp.TOTP(secret).now()})
    # The recovery codes are shown on this answer itself: a redirect would lose them.
    assert done.status_code == 200
    assert done.text.count("<li><code>") == totp.RECOVERY_CODES
    assert "You are signed in" in done.text
    assert member.state()["stage"] == "signed-in"
    # The journeys to start link to the backend's pages, which need no JavaScript either.
    page = member.http.get(f"{shop.url}/staff/page").text
    assert '<a href="/api/assisted/pages/plan/">Quick order for a customer</a>' in page


def test_the_cart_of_a_staff_step_is_refused_to_a_customer(shop: Backend, sales: Member) -> None:
    """Adding to the cart counts as completing the step it is on: a product selection only
    staff complete is refused to a customer there too."""
    walker = sales.journey("assisted")
    assert walker.add("starter", step="plan", json=True).status_code == 200
    partners = Shopper(shop.url, "partnered")
    assert partners.add("starter", step="plan", json=True).status_code == 200  # actor "any"
    refused = partners.add("starter", step="partner-terms", json=True)
    assert refused.status_code == 403
    assert "A member of the shop's staff completes this step" in refused.json()["errors"]["_form"]
