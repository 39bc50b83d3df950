"""The database schema, in SQLAlchemy Core: what the migrations create and the code queries.

Money is stored as exact decimal strings (SQLite has no decimal type, and a float
would lose cents); structured answers as JSON.
The unique constraints carry the guarantees: one order per checkout and per
confirm token (idempotent confirmation), one account per email.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)


class UTCDateTime(TypeDecorator[datetime]):
    """A moment, written and read back in UTC with its offset, on either database.

    PostgreSQL keeps the offset (``timestamptz``); SQLite keeps text without one,
    so what it gives back is marked as UTC, which is what ``clock.now`` wrote.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

customers = Table(
    "customers",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("email", String(254), nullable=False, unique=True),
    Column("password_hash", String(255), nullable=False),
    #: Sold-to answers by autocomplete token (or "name:<field>"), for auto-fill.
    Column("profile", JSON, nullable=False, default=dict),
    #: The customer's segment for journey conditions (``customer.segment``); "" when none.
    Column("segment", String(64), nullable=False, default="", server_default=""),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("password_changed_at", UTCDateTime(), nullable=False),
)

#: Logins. The cookie holds a random token; only its SHA-256 is stored, so a
#: database leak does not hand out live sessions.
sessions = Table(
    "sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column(
        "customer_id",
        Integer,
        ForeignKey("customers.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
)

#: What a checkout collected so far, under the random checkout id from the cookie.
checkouts = Table(
    "checkouts",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("journey_key", String(64), nullable=False),
    Column("guest_email", String(254)),
    #: {step_id: {field: value}}
    Column("answers", JSON, nullable=False, default=dict),
    #: {"method": ..., details...}
    Column("payment", JSON),
    #: The query parameters the journey was entered with (``entry`` in conditions).
    Column("entry", JSON),
    #: Errors, submitted values and messages handed out once by the state endpoint.
    Column("flash", JSON, nullable=False, default=dict),
    #: The public id of the subscription a subscription journey acts on.
    Column("subscription", String(32)),
    #: The change a subscription journey applied: what its done page shows, and how a
    #: repeated confirmation of the same page knows it was applied already.
    Column("applied", JSON),
    #: The customer a member of staff orders for (found or created at a customer_lookup
    #: step); None when the customer walks the journey themselves.
    Column("customer_id", Integer, ForeignKey("customers.id", ondelete="SET NULL")),
    Column("updated_at", UTCDateTime(), nullable=False, index=True),
    #: Raised by every change: a write based on an earlier read can tell it is stale.
    Column("version", Integer, nullable=False, default=0, server_default="0"),
)

orders = Table(
    "orders",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("number", String(32), nullable=False, unique=True),
    Column("checkout_id", String(32), nullable=False, unique=True),
    Column("confirm_token", String(64), unique=True),
    Column("journey_key", String(64), nullable=False, index=True),
    Column("journey_version", String(32), nullable=False),
    Column("business_entity", String(64), nullable=False),
    Column("order_channel", String(200), nullable=False, default=""),
    Column("customer_id", Integer, ForeignKey("customers.id", ondelete="SET NULL")),
    Column("email", String(254), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("totals", JSON, nullable=False),
    #: {form_target: {field: value}}
    Column("answers", JSON, nullable=False),
    Column("payment_method", String(32), nullable=False),
    Column("payment", JSON, nullable=False),
    Column("status", String(16), nullable=False),
    #: The language of the pages it was placed on (``de-DE``): its emails speak it.
    Column("locale", String(35)),
    #: Seconds from the first page of the customer's walk to this order (the funnel's
    #: median time to complete); None when the cookie did not know when it started.
    Column("seconds_to_order", Integer),
    #: The member of staff who placed the order on the customer's behalf, and the partner
    #: organisation they placed it for (their own, when they are a partner); None when
    #: the customer ordered themselves.
    Column("placed_by_staff_id", Integer, ForeignKey("staff.id", ondelete="SET NULL")),
    Column("partner", String(200)),
    Column("created_at", UTCDateTime(), nullable=False, index=True),
    Column("updated_at", UTCDateTime(), nullable=False),
)

order_lines = Table(
    "order_lines",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "order_id", Integer, ForeignKey("orders.id", ondelete="CASCADE"), nullable=False, index=True
    ),
    Column("position", Integer, nullable=False),
    Column("product", String(64), nullable=False),
    Column("name", Text, nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("billing", String(16), nullable=False),
    Column("unit_price", String(32), nullable=False),
    Column("line_total", String(32), nullable=False),
    Column("tax_rate", String(16), nullable=False),
    Column("tax", String(32), nullable=False),
)

#: The outbox: one row per delivery of an event to one hook (webhook, email, Python
#: function), written in the same transaction as what the event reports, delivered
#: at least once by ``klcheckout worker`` (see ``outbox.py``).
events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True),
    #: The event's id, as the receiver sees it ("evt_..."); shared by its deliveries.
    Column("event_id", String(40), nullable=False, index=True),
    Column("type", String(32), nullable=False),
    Column("journey_key", String(64), nullable=False),
    #: The hook as configured when the event happened: {"type": "webhook", "url": ...}.
    Column("hook", JSON, nullable=False),
    #: The event document sent (id, type, created, journey, data).
    Column("payload", JSON, nullable=False),
    #: pending, sending (claimed by a worker until locked_until), delivered or failed.
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UTCDateTime(), nullable=False, index=True),
    Column("locked_until", UTCDateTime()),
    #: A random token of the worker's claim; only that claim may record the outcome.
    Column("claim", String(32)),
    Column("last_error", Text),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("delivered_at", UTCDateTime()),
)


#: One subscription per recurring line of an order: what the customer has now. The
#: price and tax are a snapshot of the order's (a later catalog change does not alter
#: them); periods are counted from ``started_at`` (``periods``).
subscriptions = Table(
    "subscriptions",
    metadata,
    Column("id", Integer, primary_key=True),
    #: Random and unguessable: it is in the URLs of the customer's journeys.
    Column("public_id", String(32), nullable=False, unique=True),
    Column("order_id", Integer, ForeignKey("orders.id", ondelete="RESTRICT"), nullable=False),
    Column("customer_id", Integer, ForeignKey("customers.id", ondelete="SET NULL"), index=True),
    #: The owner's email: a guest's subscription is theirs by it.
    Column("email", String(254), nullable=False, index=True),
    Column("journey_key", String(64), nullable=False),
    Column("business_entity", String(64), nullable=False),
    Column("product", String(64), nullable=False),
    Column("name", String(200), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("billing", String(16), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("unit_price", String(32), nullable=False),
    Column("line_total", String(32), nullable=False),
    Column("tax_rate", String(16), nullable=False),
    Column("tax", String(32), nullable=False),
    #: active, paused, cancelling (ends at the period's end) or cancelled
    Column("status", String(16), nullable=False),
    Column("started_at", UTCDateTime(), nullable=False),
    Column("current_period_start", UTCDateTime(), nullable=False),
    Column("current_period_end", UTCDateTime(), nullable=False, index=True),
    #: When a ``cancelling`` subscription ends (its period's end); when it did.
    Column("cancel_at", UTCDateTime()),
    Column("cancelled_at", UTCDateTime()),
    #: When a ``paused`` subscription is billed again.
    Column("resume_at", UTCDateTime()),
    #: A plan change taking effect at the period's end: the new plan's snapshot and "at".
    Column("scheduled_change", JSON),
    #: A discount on the price: {"id", "name", "percent" or "amount", "periods_left"}
    #: (renewals still reduced; None: forever). The prices above are before it.
    Column("discount", JSON),
    #: A cancelled subscription whose customer ordered again: the new one's public id.
    Column("won_back_by", String(32)),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    #: Bumped by every change: a change based on an earlier read can tell it is stale.
    Column("version", Integer, nullable=False, default=0),
)

#: Every change of a subscription: who, what, when, from and to.
subscription_history = Table(
    "subscription_history",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "subscription_id",
        Integer,
        ForeignKey("subscriptions.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("at", UTCDateTime(), nullable=False),
    #: customer, support (with a reason) or system (the worker)
    Column("actor", String(16), nullable=False),
    Column("action", String(32), nullable=False),
    Column("before", JSON),
    Column("after", JSON),
    Column("reason", Text, nullable=False, default=""),
)

#: One-time sign-in links for guests who bought a subscription: only the token's
#: SHA-256 is kept; a link works once, for 15 minutes.
sign_in_links = Table(
    "sign_in_links",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("email", String(254), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("used_at", UTCDateTime()),
    #: "sign_in": a guest's link to their subscriptions; "invitation": the link a customer
    #: created by staff sets their first password with. One kind never does the other's work.
    Column("purpose", String(16), nullable=False, default="sign_in", server_default="sign_in"),
)

#: A guest signed in by a link: the session knows their email, not an account.
email_sessions = Table(
    "email_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("email", String(254), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
)

#: Visitors per step and UTC day, for the funnel report: each visitor counts once per
#: step (their cart cookie remembers the steps counted). Each backend process adds views
#: up in memory and adds them here once a second (``step_views.py``). Counts only.
step_views = Table(
    "step_views",
    metadata,
    Column("journey_key", String(64), primary_key=True),
    Column("step_id", String(200), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("visitors", Integer, nullable=False),
)

#: The shop's own people who walk staff journeys (``audience``): sales, partners, admins.
#: Made by an operator (``klcheckout staff add``), never by signing up. The second factor
#: (TOTP) is enrolled at the first sign-in: ``totp_secret`` is empty until then.
staff = Table(
    "staff",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("email", String(254), nullable=False, unique=True),
    Column("password_hash", String(255), nullable=False),
    #: "sales", "partner" or "admin" (``staff.ROLES``).
    Column("role", String(16), nullable=False),
    #: The partner's organisation, for the role "partner" (``actor.partner``).
    Column("partner", String(200)),
    Column("totp_secret", String(64)),
    #: The time step of the last code accepted: a code is taken once, never again.
    Column("totp_last_counter", Integer),
    #: SHA-256 of each unused recovery code; a used one is taken out.
    Column("recovery_codes", JSON, nullable=False, default=list),
    Column("disabled_at", UTCDateTime()),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("password_changed_at", UTCDateTime(), nullable=False),
)

#: Staff sign-ins, apart from customers' ``sessions``: their own cookie holds a random
#: token, only its SHA-256 is kept. "password": only the second factor (or its
#: enrolment) may follow; "full": staff rights. Absolute expiry, never extended.
staff_sessions = Table(
    "staff_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column(
        "staff_id",
        Integer,
        ForeignKey("staff.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("stage", String(16), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("revoked_at", UTCDateTime()),
    #: The browser it was started in (its User-Agent, cut to 200 characters), so that an
    #: operator can tell a member's sessions apart and end one (``staff sessions``).
    Column("user_agent", String(200)),
)

#: The audit trail of guided selling: what happened to an order, a quote or a checkout
#: staff and a customer share (created, sent, viewed, handed over, accepted, declined,
#: revised, discount given), who did it and when. A checkout's rows are kept under its
#: id: the order or quote it becomes shows them with its own (``audit.trail``). Rows are
#: only ever added.
history = Table(
    "history",
    metadata,
    Column("id", Integer, primary_key=True),
    #: "order", "quote" or "checkout" (``audit.SUBJECTS``).
    Column("subject", String(16), nullable=False),
    #: The order's number, the quote's number or the checkout's id.
    Column("reference", String(64), nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Column("action", String(32), nullable=False),
    #: "customer", "staff" or "system" (the worker, an expiry).
    Column("actor", String(16), nullable=False),
    #: The person's email (a member of staff's, or the customer's); empty for the system.
    Column("who", String(254), nullable=False, default=""),
    #: What else the action needs to be understood: a version, a discount, a reason.
    Column("detail", JSON),
    Index("ix_history_subject_reference", "subject", "reference"),
)

#: Steps a member of staff handed to the customer (a step whose ``actor`` is
#: "customer"): the emailed link's token is kept as its SHA-256 only, with its first
#: characters (``token_prefix``, too few to guess the rest) for an operator to name it.
#: The link opens that checkout at that step, for that customer, until it expires, is
#: revoked (or replaced by a new one) or the step is completed. ``lines`` is the cart as
#: staff had it when they sent the link: the customer's browser shows the same totals.
handovers = Table(
    "handovers",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("token_prefix", String(8), nullable=False),
    Column("checkout_id", String(32), nullable=False, index=True),
    Column("journey_key", String(64), nullable=False),
    Column("step_id", String(200), nullable=False),
    Column("customer_id", Integer, ForeignKey("customers.id", ondelete="CASCADE"), nullable=False),
    Column("staff_id", Integer, ForeignKey("staff.id", ondelete="SET NULL")),
    Column("lines", JSON, nullable=False),
    #: The customer's language (their emails and pages), and the member's (their email).
    Column("locale", String(35), nullable=False),
    Column("staff_locale", String(35), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("completed_at", UTCDateTime()),
    Column("revoked_at", UTCDateTime()),
)

#: Quotes staff send a customer (a ``confirmation_type = "quote"`` step): one row per
#: version. A revision is a new row under the same ``number``, the older one then
#: ``superseded``. The lines and totals are frozen when the version is made: a later
#: change to the catalog does not touch them, and accepting it orders them as they are.
#: The link's token is kept as its SHA-256 only (``token_prefix`` names it to operators),
#: with the nonce it was made from; every version has its own. ``order_number`` is the
#: order an accepted version became.
quotes = Table(
    "quotes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("number", String(32), nullable=False, index=True),
    Column("version", Integer, nullable=False),
    #: draft, sent, accepted, declined, expired, superseded, withdrawn (``quotes.STATUSES``).
    Column("status", String(16), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("token_prefix", String(8), nullable=False),
    #: The random half of the token (``quotes.link_token``: an HMAC under the secret key).
    Column("token_nonce", String(32), nullable=False),
    #: The checkout staff walked to make it: walking it again revises the quote.
    Column("checkout_id", String(32), nullable=False, index=True),
    #: The page's one-time token of the send: a double click sends one version.
    Column("confirm_token", String(64), unique=True),
    Column("journey_key", String(64), nullable=False),
    Column("journey_version", String(32), nullable=False),
    Column("step_id", String(200), nullable=False),
    Column("business_entity", String(64), nullable=False),
    Column("order_channel", String(200), nullable=False, default=""),
    Column("customer_id", Integer, ForeignKey("customers.id", ondelete="SET NULL")),
    Column("email", String(254), nullable=False),
    Column("staff_id", Integer, ForeignKey("staff.id", ondelete="SET NULL")),
    Column("partner", String(200)),
    Column("currency", String(3), nullable=False),
    #: The lines as priced for the quote: product, name, quantity, billing, prices, tax.
    Column("lines", JSON, nullable=False),
    Column("totals", JSON, nullable=False),
    #: The formatted totals and lines as the quote page shows them, in its language.
    Column("shown", JSON, nullable=False),
    #: The staff discount, in percent, as a decimal string ("0" for none).
    Column("discount_percent", String(8), nullable=False, default="0"),
    Column("answers", JSON, nullable=False),
    Column("payment_method", String(32), nullable=False),
    Column("payment", JSON, nullable=False),
    #: Who sells: the business entity's name, address, VAT id and legal pages.
    Column("seller", JSON, nullable=False),
    Column("locale", String(35), nullable=False),
    Column("valid_until", UTCDateTime(), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("sent_at", UTCDateTime()),
    Column("viewed_at", UTCDateTime()),
    #: When the status last changed, and why: the name typed to accept, a reason to decline.
    Column("decided_at", UTCDateTime()),
    Column("accepted_name", String(200)),
    Column("decline_reason", Text),
    Column("order_number", String(32), unique=True),
    UniqueConstraint("number", "version"),
)
