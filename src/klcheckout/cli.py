"""``klcheckout``: run the backend locally, look at orders, see how journeys perform.

Commands are thin: each builds the app from the ``KEYLIGHT_*`` environment and
calls the module that does the work. Errors are printed without a traceback.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import sys
from collections.abc import Callable, Iterator
from decimal import Decimal
from functools import partial
from typing import Any, TypeVar

import click
from flask import Flask

from kljourney.durations import spoken

from . import funnel
from . import orders as order_store
from . import quotes as quote_store
from .app import create_app, mount
from .clock import shown
from .payment import mask_iban
from .settings import SettingsError

T = TypeVar("T")


def _app() -> Flask:
    try:
        return create_app()
    except SettingsError as error:
        raise click.ClickException(str(error)) from None


@contextlib.contextmanager
def _database() -> Iterator[Any]:
    """A connection for one command; the engine is closed afterwards."""
    engine = _app().extensions["keylight_db"]
    try:
        with engine.connect() as connection:
            yield connection
    finally:
        engine.dispose()


@click.group()
def cli() -> None:
    """The keylight checkout backend (configured by KEYLIGHT_* environment variables)."""


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
def serve(host: str, port: int) -> None:
    """Serve the backend for local use, under the site's api_url path.

    For production use a WSGI server with several workers, e.g.
    gunicorn -w 4 'klcheckout.wsgi:application'.
    """
    from werkzeug.serving import run_simple

    app = _app()
    click.echo(f"klcheckout on http://{host}:{port} (Ctrl+C to stop)")
    run_simple(host, port, mount(app), threaded=True)


@cli.group()
def orders() -> None:
    """Look at placed orders."""


@orders.command("list")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 100000))
@click.option("--journey", default=None, help="Only orders of this journey key.")
def list_orders(limit: int, journey: str | None) -> None:
    """The newest orders, one a line."""
    with _database() as connection:
        found = order_store.recent(connection, limit, journey)
    if not found:
        click.echo("No orders yet.")
    for order in found:
        click.echo(
            f"{order['number']}  {order['created_at']}  {order['journey_key']}  "
            f"{order['email'] or '-'}  {amounts(order)}  {order['payment_method']}  "
            f"{order['status']}{_placed_by(order)}"
        )


def _placed_by(order: dict[str, Any]) -> str:
    """'  placed by ann@example.com for Reseller GmbH' for an order staff placed on the
    customer's behalf; nothing for one the customer placed."""
    if order.get("placed_by_staff_id") is None:
        return ""
    who = order.get("placed_by") or f"staff #{order['placed_by_staff_id']}"
    partner = f" for {order['partner']}" if order.get("partner") else ""
    return f"  placed by {who}{partner}"


def amounts(order: dict[str, Any]) -> str:
    """What an order costs, by when it is paid: '249.00 EUR now + 9.90 EUR a month'.

    A one-time price and a monthly one do not add up to one meaningful figure.
    """
    totals, currency = order["totals"], order["currency"]
    recurring = totals.get("recurring", {})
    parts = []
    for figures, when in (
        (totals.get("one_time", {}), "now"),
        (recurring.get("monthly", {}), "a month"),
        (recurring.get("yearly", {}), "a year"),
    ):
        gross = figures.get("gross", "0")
        if Decimal(gross):
            parts.append(f"{gross} {currency} {when}")
    return " + ".join(parts) or f"{totals.get('gross', '0')} {currency}"


def _masked(order: dict[str, Any]) -> dict[str, Any]:
    """The order with its bank account masked: what a screen or a log may show."""
    payment = order.get("payment") or {}
    if not payment.get("iban"):
        return order
    return {**order, "payment": {**payment, "iban": mask_iban(payment["iban"])}}


@orders.command("show")
@click.argument("number")
@click.option("--full", is_flag=True, help="Show the bank account in full (masked by default).")
def show_order(number: str, full: bool) -> None:
    """One order with its lines, answers and payment, as JSON.

    The IBAN is masked unless --full: a look at an order ends up on screens and in
    terminal logs, and only collecting the payment needs the whole number.
    """
    with _database() as connection:
        order = order_store.find(connection, number.strip().upper())
    if order is None:
        raise click.ClickException(f"no order {number!r}; `klcheckout orders list` shows them")
    if not full:
        order = _masked(order)
    click.echo(json.dumps(order, indent=2, ensure_ascii=False, default=str))


@orders.command("export")
@click.option(
    "--format", "fmt", type=click.Choice(["csv", "json"]), default="csv", show_default=True
)
@click.option("--limit", default=100000, show_default=True, type=click.IntRange(1, 10**7))
@click.option("--journey", default=None, help="Only orders of this journey key.")
@click.option(
    "--full",
    is_flag=True,
    help="Give bank accounts in full, to collect payments (masked by default).",
)
def export_orders(fmt: str, limit: int, journey: str | None, full: bool) -> None:
    """All orders: JSON (one document) or CSV (one row per order line).

    IBANs are masked unless --full, as in `orders show`: an export is a file that
    travels, and only collecting the payments needs the whole numbers.
    """
    with _database() as connection:
        found = order_store.recent(connection, limit, journey)
    if not full:
        found = [_masked(order) for order in found]
    if fmt == "json":
        click.echo(json.dumps(found, indent=2, ensure_ascii=False, default=str))
        return
    click.echo(to_csv(found), nl=False)


CSV_COLUMNS = (
    "number",
    "created_at",
    "status",
    "journey_key",
    "business_entity",
    "order_channel",
    "email",
    "currency",
    "payment_method",
    "position",
    "product",
    "name",
    "quantity",
    "billing",
    "unit_price",
    "line_total",
    "tax_rate",
    "tax",
    # Orders placed on a customer's behalf: the member of staff's email and the partner
    # organisation (empty when the customer ordered). Last, so older readers of the
    # file find every earlier column where it was.
    "placed_by",
    "partner",
)


def _cell(value: object) -> str:
    """A CSV cell a spreadsheet will not run as a formula (a customer typed the text)."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def to_csv(found: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for order in found:
        for line in order["lines"]:
            row = {**order, **line}
            writer.writerow([_cell(row.get(column, "")) for column in CSV_COLUMNS])
    return out.getvalue()


@cli.command()
@click.option(
    "--interval",
    default=1.0,
    show_default=True,
    type=click.FloatRange(0.05, 3600),
    help="Seconds between looks for due events.",
)
@click.option("--once", is_flag=True, help="Deliver what is due now, then stop.")
def worker(interval: float, once: bool) -> None:
    """Deliver hook events (webhooks, emails, Python hooks) from the outbox, and
    delete abandoned checkouts hourly (KEYLIGHT_CHECKOUT_RETENTION).

    Run one or more next to the backend; they never deliver the same attempt twice.
    """
    import logging
    import signal
    import threading

    from . import worker as helper
    from .hooks import outbox

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    app = _app()
    if once:
        click.echo(f"{outbox.run_once(app)} deliveries attempted")
        return
    stop = threading.Event()
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, lambda *_: stop.set())
    click.echo(f"klcheckout worker delivering events every {interval:g} s (Ctrl+C to stop)")
    helper.run(app, stop, interval)


@cli.group()
def customers() -> None:
    """Look at accounts and put them in segments."""


@customers.command("list")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 100000))
def list_customers(limit: int) -> None:
    """The newest accounts, one a line: email, segment, created."""
    from . import accounts

    with _database() as connection:
        found = accounts.recent_customers(connection, limit)
    if not found:
        click.echo("No accounts yet.")
    for row in found:
        click.echo(f"{row.email}  segment={row.segment or '-'}  {shown(row.created_at)}")


@customers.command("set-segment")
@click.argument("email")
@click.argument("segment")
def set_segment(email: str, segment: str) -> None:
    """Put the account EMAIL in SEGMENT ("" for none): conditions read customer.segment."""
    from . import accounts

    if len(segment) > 64:
        raise click.ClickException("a segment has at most 64 characters")
    with _database() as connection:
        found = accounts.set_segment(connection, email, segment.strip())
        connection.commit()
    if not found:
        raise click.ClickException(
            f"no account with the email {email!r}; `klcheckout customers list` shows them"
        )
    click.echo(f"{email} is now in segment {segment.strip() or '(none)'}.")


@cli.group()
def subscriptions() -> None:
    """Look at customers' subscriptions (one per recurring line of an order)."""


@subscriptions.command("list")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 100000))
@click.option(
    "--status",
    type=click.Choice(["active", "paused", "cancelling", "cancelled"]),
    default=None,
    help="Only subscriptions with this status.",
)
@click.option("--email", default=None, help="Only the subscriptions of this customer.")
def list_subscriptions(limit: int, status: str | None, email: str | None) -> None:
    """The newest subscriptions, one a line: id, email, plan, price, status, period end."""
    from . import subscriptions as stored

    with _database() as connection:
        found = stored.recent(connection, limit, status, email)
    if not found:
        click.echo("No subscriptions yet.")
    period = {"monthly": "a month", "yearly": "a year"}
    for row in found:
        click.echo(
            f"{row['public_id']}  {row['email']}  {row['quantity']} × {row['name']}  "
            f"{row['line_total']} {row['currency']} {period[row['billing']]}  {row['status']}  "
            f"renews {row['current_period_end']}"
        )


@subscriptions.command("show")
@click.argument("public_id")
def show_subscription(public_id: str) -> None:
    """One subscription with its history, as JSON."""
    from . import subscriptions as stored

    with _database() as connection:
        found = stored.find(connection, public_id.strip())
    if found is None:
        raise click.ClickException(
            f"no subscription {public_id!r}; `klcheckout subscriptions list` shows them"
        )
    click.echo(json.dumps(found, indent=2, ensure_ascii=False, default=str))


@subscriptions.command("cancel")
@click.argument("public_id")
@click.option("--reason", required=True, help="Why support cancels it: kept in its history.")
@click.option("--immediately", is_flag=True, help="End it now, not at the end of its period.")
def cancel_subscription(public_id: str, reason: str, immediately: bool) -> None:
    """Cancel a subscription for the customer: at the end of its period, or --immediately."""
    from . import subscriptions as stored

    _change_subscription(public_id, partial(stored.cancel, immediately=immediately, reason=reason))


@subscriptions.command("reactivate")
@click.argument("public_id")
@click.option("--reason", required=True, help="Why support takes the cancellation back.")
def reactivate_subscription(public_id: str, reason: str) -> None:
    """Take back a cancellation that has not taken effect yet."""
    from . import subscriptions as stored

    _change_subscription(public_id, partial(stored.reactivate, reason=reason))


@subscriptions.command("pause")
@click.argument("public_id")
@click.option(
    "--periods",
    type=click.IntRange(1, 24),
    required=True,
    help="Billing periods to skip after the one already paid.",
)
@click.option("--reason", required=True, help="Why support pauses it: kept in its history.")
def pause_subscription(public_id: str, periods: int, reason: str) -> None:
    """Stop billing for a while; it resumes by itself (the worker) or with `resume`."""
    from . import subscriptions as stored

    _change_subscription(public_id, partial(stored.pause, periods=periods, reason=reason))


@subscriptions.command("resume")
@click.argument("public_id")
@click.option("--reason", required=True, help="Why support resumes it early.")
def resume_subscription(public_id: str, reason: str) -> None:
    """Bill a paused subscription again now."""
    from . import subscriptions as stored

    _change_subscription(public_id, partial(stored.resume, reason=reason))


def _change_subscription(public_id: str, act: Any) -> None:
    """Make one change of support's (``act(connection, row, actor=, moment=)``) in a durable
    transaction, announce it, and say what it did."""
    from . import db
    from . import subscriptions as stored
    from .clock import now

    app = _app()
    engine = app.extensions["keylight_db"]
    try:
        with db.writing(engine) as connection:
            row = stored.row_of(connection, public_id.strip())
            if row is None:
                raise click.ClickException(
                    f"no subscription {public_id!r}; `klcheckout subscriptions list` shows them"
                )
            action, after = act(connection, row, actor="support", moment=now())
            extra = stored.billed(row, after)  # resumed into a new period: charged
            stored.announce(connection, app.extensions["keylight"].shop, row, action, after, extra)
    except stored.Refused as refused:
        raise click.ClickException(refused.message) from None
    finally:
        engine.dispose()
    click.echo(f"{public_id}: {action.replace('_', ' ')}; status {after['status']}.")


@subscriptions.command("due")
@click.option("--apply", "apply_changes", is_flag=True, help="Apply them (the worker does).")
@click.option(
    "--now",
    "moment",
    type=click.DateTime(formats=["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d"]),
    default=None,
    help="As if it were this moment (UTC unless given), e.g. 2027-03-01.",
)
def due_subscriptions(apply_changes: bool, moment: Any) -> None:
    """Renewals, plan changes, pause ends and cancellations due by now: listed, or applied
    with --apply (from cron)."""
    from datetime import UTC

    from . import subscriptions as stored
    from .clock import now

    when = now() if moment is None else moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    app = _app()
    engine = app.extensions["keylight_db"]
    try:
        if apply_changes:
            done = stored.apply_due(engine, app.extensions["keylight"].shop, when)
            for public_id, action in done:
                click.echo(f"{public_id}: {action.replace('_', ' ')}")
            click.echo(f"{len(done)} changes applied.")
            return
        with engine.connect() as connection:
            rows = stored.due(connection, when)
        for row in rows:
            what = {"cancelling": "cancellation", "paused": "resumption"}.get(row.status, "renewal")
            if row.status == "active" and row.scheduled_change:
                what = f"change to {row.scheduled_change['name']}, then renewal"
            click.echo(f"{row.public_id}: {what} due")
        click.echo(f"{len(rows)} subscriptions with something due.")
    finally:
        engine.dispose()


@cli.group()
def report() -> None:
    """How the journeys perform (counts only: nothing about anyone in particular)."""


@report.command("funnel")
@click.option("--journey", "journey_key", required=True, help="The journey's key.")
@click.option(
    "--days",
    default=30,
    show_default=True,
    type=click.IntRange(1, 366),
    help="The last DAYS days (UTC), today included.",
)
def report_funnel(journey_key: str, days: int) -> None:
    """Visitors per step and where they leave, then the orders placed, the conversion
    from the first step and the median time from the first page to the order."""
    app = _app()
    try:
        found = funnel.funnel_report(app, journey_key.strip(), days)
    except funnel.UnknownJourney as error:
        raise click.ClickException(str(error)) from None
    finally:
        app.extensions["keylight_db"].dispose()
    click.echo(funnel_table(found))


def funnel_table(found: funnel.Funnel) -> str:
    """A ``funnel.Funnel`` as a table for the terminal."""
    if found.days == 1:
        window = f"today, {found.last_day} (UTC)"
    else:
        window = f"the last {found.days} days, {found.first_day} to {found.last_day} (UTC)"
    heading = f"{found.journey_name} ({found.journey_key}), {window}"
    names = [step.name for step in found.steps]
    width = max([len("step"), *(len(name) for name in names)])
    rows = [f"{'step':<{width}}  {'visitors':>8}  {'left here':>9}"]
    for step in found.steps:
        rows.append(f"{step.name:<{width}}  {step.visitors:>8}  {step.left:>9}")
    if found.conversion is None:
        conversion = "- (no visitors)"
    else:
        conversion = f"{found.conversion * 100:.1f} % of the first step's {found.visitors} visitors"
    summary = [
        f"orders placed  {found.orders}",
        f"conversion     {conversion}",
        f"median time    {spoken(found.median_seconds)} from the first page to the order",
    ]
    if found.median_seconds is None:
        summary[-1] = "median time    - (no order with a known time)"
    return "\n".join([heading, "", *rows, "", *summary])


@cli.group()
def checkouts() -> None:
    """Unfinished checkouts: what customers answered before ordering."""


@checkouts.command("purge")
def purge_checkouts() -> None:
    """Delete checkouts unchanged for KEYLIGHT_CHECKOUT_RETENTION, now (a running
    `klcheckout worker` does it hourly)."""
    from . import checkouts as stored

    app = _app()
    try:
        deleted = stored.purge_abandoned(app)
    finally:
        app.extensions["keylight_db"].dispose()
    days = app.config["KEYLIGHT_CHECKOUT_RETENTION"] / 86400
    click.echo(f"{deleted} abandoned checkouts deleted (unchanged for more than {days:g} days)")


@cli.group()
def events() -> None:
    """Look at hook events and send them again."""


@events.command("list")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 100000))
@click.option(
    "--status",
    type=click.Choice(["pending", "sending", "delivered", "failed"]),
    default=None,
    help="Only deliveries with this status.",
)
def list_events(limit: int, status: str | None) -> None:
    """The newest deliveries, one a line: event, type, hook, status, attempts, next, error."""
    from .hooks import outbox

    with _database() as connection:
        found = outbox.recent(connection, limit, status)
    if not found:
        click.echo("No events yet.")
    for row in found:
        waiting = row["status"] in ("pending", "sending")
        following = shown(row["next_attempt_at"]) if waiting else "-"
        error = (row["last_error"] or "").replace("\n", " ")[:160] or "-"
        click.echo(
            f"{row['event_id']}  {shown(row['created_at'])}  {row['type']}  "
            f"{outbox.describe(row['hook'])}  {row['status']}  attempts={row['attempts']}  "
            f"next={following}  error={error}"
        )


@events.command("resend")
@click.argument("event_id")
def resend_event(event_id: str) -> None:
    """Queue every delivery of EVENT_ID again (delivered and failed ones too)."""
    from .hooks import outbox

    app = _app()
    engine = app.extensions["keylight_db"]
    try:
        count = outbox.resend(engine, event_id.strip())
    finally:
        engine.dispose()
    if not count:
        raise click.ClickException(
            f"no event {event_id!r} to resend (or it is being sent right now); "
            "`klcheckout events list` shows them"
        )
    click.echo(f"{count} deliveries of {event_id} queued; `klcheckout worker` sends them")


@cli.group("staff")
def staff_group() -> None:
    """The shop's sales team, partners and admins, who walk staff journeys."""


@staff_group.command("add")
@click.argument("email")
@click.option(
    "--role",
    required=True,
    help="sales (journeys for sales), partner (journeys for partners) or admin (every journey).",
)
@click.option("--partner", default=None, help="The partner's organisation (role partner only).")
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from the first line of standard input (for scripts).",
)
def add_staff(email: str, role: str, partner: str | None, password_stdin: bool) -> None:
    """Make EMAIL a member of staff. The password is asked twice (or read from standard
    input); the second factor is enrolled at the first sign-in, on the staff page."""
    from . import accounts, staff

    email = accounts.normal_email(email)
    if "@" not in email or len(email) > 254:
        raise click.ClickException(f"{email!r} is not an email address")
    try:
        staff.check_role(role, partner)
    except staff.StaffError as error:
        raise click.ClickException(str(error)) from None
    password = _new_password(password_stdin)
    app = _app()
    engine = app.extensions["keylight_db"]
    password_hash = accounts.hasher(app.config["KEYLIGHT_ARGON2"]).hash(password)
    try:
        with engine.begin() as connection:
            staff.add(connection, email, password_hash, role, partner)
    except staff.StaffError as error:
        raise click.ClickException(str(error)) from None
    finally:
        engine.dispose()
    where = f" of {partner.strip()}" if partner else ""
    click.echo(
        f"{email} is a member of staff ({role}{where}). They sign in on the staff page "
        "and enrol their second factor there."
    )


def _new_password(from_stdin: bool) -> str:
    """A new password, asked twice (or read from standard input), checked as customers'
    are; a ClickException saying what is wrong with it."""
    from . import accounts

    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    problem = accounts.password_problem(password)
    if problem:
        raise click.ClickException(problem)
    return password


@staff_group.command("list")
def list_staff() -> None:
    """Every member, one a line: email, role, partner, second factor enrolled, disabled,
    sessions running."""
    from . import staff

    with _database() as connection:
        found = staff.members(connection)
    if not found:
        click.echo("No staff yet: `klcheckout staff add EMAIL --role sales` makes one.")
    for row in found:
        disabled = shown(row.disabled_at) if row.disabled_at else "no"
        click.echo(
            f"{row.email}  role={row.role}  partner={row.partner or '-'}  "
            f"enrolled={'yes' if staff.enrolled(row) else 'no'}  disabled={disabled}  "
            f"sessions={row.sessions}"
        )


def _change_member(change: Callable[[Any, str], T], email: str) -> T:
    """Make one change to the member with ``email`` in a transaction of its own; an
    operator's mistake (an unknown email) is said as a ClickException."""
    from . import staff

    with _database() as connection:
        try:
            result = change(connection, email)
        except staff.StaffError as error:
            raise click.ClickException(str(error)) from None
        connection.commit()
    return result


@staff_group.command("disable")
@click.argument("email")
def disable_staff(email: str) -> None:
    """Take EMAIL's staff rights away: they cannot sign in, and every session ends now."""
    from . import staff

    ended = _change_member(staff.disable, email)
    click.echo(f"{email} is disabled; {ended} session(s) ended.")


@staff_group.command("sessions")
@click.argument("email")
def staff_sessions(email: str) -> None:
    """EMAIL's running sessions, newest first, one a line: the id `staff revoke
    --session` takes, the stage (password: the second factor is still to come), when it
    started and ends, and the browser it was started in."""
    from . import staff

    with _database() as connection:
        try:
            running = staff.sessions(connection, email)
        except staff.StaffError as error:
            raise click.ClickException(str(error)) from None
    if not running:
        click.echo(f"{email} has no running session.")
    for row in running:
        click.echo(
            f"{staff.session_id(row)}  {row.stage:8}  started {shown(row.created_at)}  "
            f"ends {shown(row.expires_at)}  {row.user_agent or '(browser not known)'}"
        )


@staff_group.command("revoke")
@click.argument("email")
@click.option(
    "--session",
    "session",
    default=None,
    help="End only this session (its id from `klcheckout staff sessions EMAIL`).",
)
def revoke_staff(email: str, session: str | None) -> None:
    """End every session of EMAIL (a lost laptop), or only the one --session names (a
    browser left signed in elsewhere); they may sign in again."""
    from . import staff

    if session is not None:
        ended = _change_member(partial(staff.revoke_session, session=session), email)
        click.echo(f"Session {ended} of {email} ended.")
        return
    ended = _change_member(staff.revoke, email)
    click.echo(f"{ended} session(s) of {email} ended.")


@staff_group.command("enable")
@click.argument("email")
def enable_staff(email: str) -> None:
    """Let a disabled EMAIL sign in again (with both factors, as before)."""
    from . import staff

    changed = _change_member(staff.enable, email)
    click.echo(f"{email} may sign in again." if changed else f"{email} was not disabled.")


@staff_group.command("password")
@click.argument("email")
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from the first line of standard input (for scripts).",
)
def staff_password(email: str, password_stdin: bool) -> None:
    """Give EMAIL a new password (a forgotten one, or one that leaked) and end every
    session of theirs. Their second factor stays."""
    from . import accounts, staff

    password = _new_password(password_stdin)
    app = _app()
    engine = app.extensions["keylight_db"]
    password_hash = accounts.hasher(app.config["KEYLIGHT_ARGON2"]).hash(password)
    try:
        with engine.begin() as connection:
            ended = staff.set_password(connection, email, password_hash)
    except staff.StaffError as error:
        raise click.ClickException(str(error)) from None
    finally:
        engine.dispose()
    click.echo(f"{email} has a new password; {ended} session(s) ended.")


@staff_group.command("reset-factor")
@click.argument("email")
def reset_factor(email: str) -> None:
    """Forget EMAIL's second factor and recovery codes (a lost phone, the codes gone
    too) and end every session; they enrol a new one at their next sign-in."""
    from . import staff

    ended = _change_member(staff.reset_factor, email)
    click.echo(
        f"{email}'s second factor is reset; {ended} session(s) ended. They enrol a new one "
        "on the staff page at their next sign-in (with their password)."
    )


@cli.group("handovers")
def handovers_group() -> None:
    """Steps staff handed to the customer by an emailed link."""


@handovers_group.command("list")
@click.option("--open", "only_open", is_flag=True, help="Only the links that still work.")
def list_handovers(only_open: bool) -> None:
    """Every hand-over, newest first: id, the link's first characters, status, the
    checkout and step, the customer, the member who sent it, and when it ends."""
    from . import handovers

    with _database() as connection:
        found = handovers.listing(connection, only_open=only_open)
    if not found:
        click.echo("No open hand-overs." if only_open else "No hand-overs.")
    for item in found:
        row = item["row"]
        click.echo(
            f"{row.id}  {row.token_prefix}…  {item['status']}  checkout={row.checkout_id}  "
            f"{row.journey_key}/{row.step_id}  customer={row.customer_email}  "
            f"sent_by={row.staff_email or '-'}  sent={shown(row.created_at)}  "
            f"expires={shown(row.expires_at)}"
        )


@handovers_group.command("revoke")
@click.argument("reference")
def revoke_handover(reference: str) -> None:
    """Stop the link of the hand-over REFERENCE (its id, or the first characters of its
    token as `handovers list` shows them) from working."""
    from . import db, handovers

    engine = _app().extensions["keylight_db"]
    try:
        # One write transaction from its first read (SQLite: the write lock is taken at
        # once, so a read turned write never finds the backend writing meanwhile).
        with db.writing(engine) as connection:
            row = handovers.for_operator(connection, reference)
            if not handovers.revoke(connection, row, actor="system", who=""):
                state = handovers.status(row)
                raise click.ClickException(
                    f"hand-over {row.id} is {state} already: only an open link can be revoked"
                )
    except handovers.HandoverError as error:
        raise click.ClickException(str(error)) from None
    finally:
        engine.dispose()
    click.echo(f"Hand-over {row.id} ({row.token_prefix}…) is revoked: its link no longer works.")


@cli.group("quotes")
def quotes_group() -> None:
    """Quotes staff sent customers (a journey's confirmation_type = "quote")."""


@quotes_group.command("list")
@click.option(
    "--status",
    type=click.Choice(quote_store.STATUSES),
    help="Only the quotes whose newest version has this status.",
)
def list_quotes(status: str | None) -> None:
    """Every quote's newest version, newest first: number, version, status, customer,
    the member who sent it, its total and until when it can be accepted."""
    from . import quotes

    with _database() as connection:
        found = quotes.listing(connection, only=status)
    if not found:
        click.echo("No quotes.")
    for item in found:
        row = item["row"]
        click.echo(
            f"{row.number}  v{row.version}  {item['status']}  {row.email}  "
            f"sent_by={row.staff_email or '-'}  total={quotes.total_text(row)!r}  "
            f"valid_until={shown(row.valid_until)}"
            + (f"  order={row.order_number}" if row.order_number else "")
        )


@quotes_group.command("show")
@click.argument("number")
def show_quote(number: str) -> None:
    """One quote with every version (lines, totals, discount, status) and its history,
    as JSON."""
    from . import quotes

    with _database() as connection:
        found = quotes.show(connection, number)
    if found is None:
        raise click.ClickException(f"no quote {number!r}; `klcheckout quotes list` shows them")
    click.echo(json.dumps(found, indent=2, ensure_ascii=False, default=str))


def _change_quote(change: Callable[[Flask, Any], T]) -> T:
    """Make one change to a quote in a durable transaction of its own; a refusal (an
    unknown number, a quote no longer open) is said as a ClickException."""
    from . import db, quotes

    app = _app()
    engine = app.extensions["keylight_db"]
    try:
        with db.writing(engine) as connection:
            return change(app, connection)
    except quotes.QuoteRefused as error:
        raise click.ClickException(error.message) from None
    finally:
        engine.dispose()


@quotes_group.command("resend")
@click.argument("number")
def resend_quote(number: str) -> None:
    """Email the customer quote NUMBER's open version again, with a new link: the link
    of the earlier email stops working (only a link's hash is kept, so it cannot be sent
    twice)."""
    from . import quotes

    def resend(app: Flask, connection: Any) -> Any:
        loaded = app.extensions["keylight"]
        keys = quotes.secret_keys(app.config)
        quotes.resend(connection, loaded.shop, loaded.folders, number, keys)
        return quotes.newest(connection, number.strip().upper(), drafts=False)

    row = _change_quote(resend)
    click.echo(
        f"Quote {row.number} (version {row.version}) is sent again to {row.email} with a new "
        "link; the earlier link no longer works."
    )


@quotes_group.command("send")
@click.argument("number")
def send_quote(number: str) -> None:
    """Send quote NUMBER's draft (saved from the journey's quote step) as it was saved:
    the customer is emailed its link, and it is valid from now for the days the step
    gives. A version the customer holds already is replaced by it."""
    from . import quotes

    def send(app: Flask, connection: Any) -> Any:
        loaded = app.extensions["keylight"]
        keys = quotes.secret_keys(app.config)
        return quotes.send_draft(connection, loaded.shop, loaded.folders, number, keys)

    row = _change_quote(send)
    click.echo(
        f"Quote {row.number} (version {row.version}) is sent to {row.email}, valid until "
        f"{shown(row.valid_until)}."
    )


@quotes_group.command("withdraw")
@click.argument("number")
def withdraw_quote(number: str) -> None:
    """Withdraw quote NUMBER's open version: its link then says it was withdrawn and it
    can no longer be accepted. A draft above it is discarded first (run it again to
    withdraw the version sent)."""
    from . import quotes

    row = _change_quote(lambda _app, connection: quotes.withdraw(connection, number))
    what = "draft is discarded" if row.status == "draft" else "is withdrawn"
    click.echo(f"Quote {row.number} (version {row.version}) {what}.")


@quotes_group.command("expire")
def expire_quotes() -> None:
    """Mark the quotes past their valid_until expired now (the worker does it every
    minute; each once, with the quote_expired event)."""
    from . import quotes

    count = _change_quote(
        lambda app, connection: quotes.expire_due(connection, app.extensions["keylight"].shop)
    )
    click.echo(f"{count} quote(s) expired.")
