"""The database: one engine per app, durable SQLite settings, schema upgrades on start.

SQLite is opened in WAL mode with ``synchronous=FULL`` (a commit is on disk
before the customer hears about it, even across a power cut) and a busy timeout
(several worker processes wait for the write lock instead of failing). Write
transactions start with ``BEGIN IMMEDIATE``: a deferred transaction that later
wants to write can fail at once with "database is locked" instead of waiting.
Writers take turns for SQLite's write lock in a queue rather than in the busy
timeout's polling sleeps (which back off up to 100 ms and made the slowest
answers under load): the threads of one process on a ``threading.Lock``, the
worker processes on an ``flock`` of a file next to the database.

Durability per transaction: every transaction that acknowledges something to
the customer that must survive a crash (an order, an account, a login, a
logout, a password change) is flushed to disk before its commit returns.
``writing(..., durable=False)`` and ``write_scratch`` are only for a checkout's
scratch data (answers, chosen payment method, messages for the next page): their
commit skips the flush (SQLite ``synchronous=NORMAL`` for that transaction,
PostgreSQL ``synchronous_commit`` off). Both databases write their log in
order, so the next durable commit (the order's) flushes those earlier changes
too; a power cut can only lose the last few steps' answers of a checkout not yet
ordered, and the customer is then asked for them again. Neither setting can
corrupt the database or lose a durable commit.

On PostgreSQL the driver runs in autocommit mode and the "begin" event sends
BEGIN itself, together with the transaction's durability in one round trip: a
connection's own default is ``synchronous_commit`` off, and every transaction but
a scratch one sets it on (``SET LOCAL synchronous_commit TO ON``: explicitly, not
"the server's default", which a server may have turned off). A request's reads,
and a scratch write of a single statement, then need no BEGIN and COMMIT at all
(see ``reads_outside_transactions``).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import time
import weakref
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import sqlalchemy.exc
from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url

from .settings import SettingsError

BUSY_TIMEOUT_MS = 10_000
#: See ``_pinger``.
PING_AFTER_IDLE_S = 10.0


class WriteQueue:
    """SQLite writers wait here, in order, for the one write lock the database has.

    Threads queue on a lock; processes on ``flock``, which blocks in the kernel
    (without holding the GIL) and is released by the kernel if a process dies.
    The lock file is opened once per process: a descriptor inherited across a
    fork shares its lock with the parent, so it would not keep the two apart.
    """

    def __init__(self, database: str | None) -> None:
        self.path = database + "-writers" if database and database != ":memory:" else None
        self.threads = threading.Lock()
        self._file: tuple[int, int] | None = None  # (pid, descriptor)

    def _descriptor(self) -> int:
        if self._file is None or self._file[0] != os.getpid():
            assert self.path is not None
            descriptor = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            weakref.finalize(self, os.close, descriptor)
            self._file = (os.getpid(), descriptor)
        return self._file[1]

    @contextlib.contextmanager
    def turn(self) -> Iterator[None]:
        with self.threads:
            if self.path is None:
                yield
                return
            descriptor = self._descriptor()
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(descriptor, fcntl.LOCK_UN)


#: One queue per SQLite engine for this process's writers (see the module's docstring).
_WRITE_QUEUES: weakref.WeakKeyDictionary[Engine, WriteQueue] = weakref.WeakKeyDictionary()


class DatabaseError(SettingsError):
    """The database is not what the backend needs (e.g. durability settings did not stick)."""


def open_database(url: str) -> Engine:
    """An engine on an upgraded, durable database, or ``SettingsError`` saying what to fix."""
    engine = make_engine(url)
    forget_after_fork(engine)
    try:
        upgrade(engine)
        check_durability(engine)
    except sqlalchemy.exc.DBAPIError as error:
        engine.dispose()
        shown = engine.url.render_as_string(hide_password=True)
        reason = str(error.orig).strip().splitlines()[0] if error.orig else str(error)
        raise SettingsError(
            f"cannot use the database {shown}: {reason}. Check KEYLIGHT_DATABASE_URL "
            "and that the database server is running."
        ) from None
    return engine


def make_engine(url: str) -> Engine:
    """An engine with the settings above; a SQLite file's folder is created if missing."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            _private_file(Path(parsed.database))
        engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        _WRITE_QUEUES[engine] = WriteQueue(parsed.database)
        return engine
    if parsed.get_backend_name() == "postgresql":
        engine = create_engine(url, pool_size=5, max_overflow=10)
        event.listen(engine, "connect", _postgresql_connect)
        event.listen(engine, "begin", _postgresql_begin)
        event.listen(engine, "checkout", _pinger(engine.dialect))
        event.listen(engine, "checkin", _note_idle)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)


def _private_file(database: Path) -> None:
    """Create the SQLite file (and its folder) readable by its owner only: it holds
    customers' emails, addresses and IBANs. SQLite gives its -wal and -shm files the
    database file's permissions."""
    database.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        os.close(os.open(database, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass


def forget_after_fork(engine: Engine) -> None:
    """Let a forked child (gunicorn ``--preload``) open its own connections.

    A connection inherited across a fork is shared with the parent: two processes
    talking over one socket, or one SQLite handle, corrupt each other's work. The
    child drops the inherited pool without closing what the parent still uses.
    """
    reference = weakref.ref(engine)

    def in_child() -> None:
        inherited = reference()
        if inherited is not None:
            inherited.dispose(close=False)

    os.register_at_fork(after_in_child=in_child)


def reads_outside_transactions(connection: Connection) -> Connection:
    """Let ``connection``'s reads run as single statements, outside any transaction.

    For a request's connection: its reads need no snapshot across statements
    (read committed gives each statement its own anyway), and leaving out BEGIN
    and ROLLBACK saves PostgreSQL two round trips per request. Writes still go
    through ``writing`` (a real transaction) or ``write_scratch``.
    """
    return connection.execution_options(keylight_reads_outside=True)


def write_scratch(connection: Connection, statement: Any, parameters: dict[str, Any]) -> Any:
    """Run one statement writing a checkout's scratch data; the first row it returns
    (its ``RETURNING``: the row as written), or None when it changed none.

    On PostgreSQL a request's connection runs it on its own, without BEGIN and
    COMMIT (one round trip instead of three): one statement is atomic by itself,
    and outside a transaction the connection's ``synchronous_commit`` is off.
    Elsewhere (SQLite, whose writers queue for their turn) it is a scratch
    transaction of its own.
    """
    inside = bool(connection.info.get("keylight_write"))
    if not inside and connection.dialect.name == "postgresql" and _reads_outside(connection):
        try:
            row = connection.execute(statement, parameters).first()
        except BaseException:
            connection.rollback()
            raise
        connection.commit()  # SQLAlchemy's side: the server committed the statement
        return row
    with writing(connection, durable=False) as same:  # or the transaction it is called in
        return same.execute(statement, parameters).first()


def _reads_outside(connection: Connection) -> bool:
    return bool(connection.get_execution_options().get("keylight_reads_outside"))


def _begin_statement(connection: Connection) -> str | None:
    """What opens this transaction, or None for statements outside one."""
    mode = connection.info.get("keylight_write")
    if mode is None and _reads_outside(connection):
        return None
    if connection.dialect.name == "sqlite":
        return "BEGIN IMMEDIATE" if mode else "BEGIN"
    # One round trip for both (the simple query protocol takes several statements).
    return "BEGIN" if mode == "scratch" else "BEGIN; SET LOCAL synchronous_commit TO ON"


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's own is too late).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    statement = _begin_statement(connection)
    if statement is not None:
        connection.connection.dbapi_connection.execute(statement)  # type: ignore[union-attr]


def _postgresql_connect(dbapi_connection: Any, record: Any) -> None:
    # The driver's own BEGIN would be a round trip of its own: "begin" sends ours,
    # with the durability the transaction needs (see the module's docstring).
    dbapi_connection.autocommit = True
    cursor = dbapi_connection.cursor()
    cursor.execute("SET synchronous_commit TO OFF")
    cursor.close()
    record.info["keylight_idle_since"] = time.monotonic()


def _postgresql_begin(connection: Connection) -> None:
    statement = _begin_statement(connection)
    if statement is not None:
        cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        cursor.execute(statement)
        cursor.close()


def _pinger(dialect: Any) -> Any:
    """A pool "checkout" listener pinging connections that sat unused for a while.

    SQLAlchemy's ``pool_pre_ping`` pings on every checkout: a round trip per
    request. A connection in steady use has just proven itself; one idle for
    ``PING_AFTER_IDLE_S`` may have met a server restart or an idle timeout, and is
    replaced by a fresh one if the ping fails.
    """

    def ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle = time.monotonic() - record.info.get("keylight_idle_since", 0.0)
        if idle < PING_AFTER_IDLE_S:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as error:
            raise sqlalchemy.exc.DisconnectionError(str(error)) from error

    return ping_if_idle


def _note_idle(_dbapi_connection: Any, record: Any) -> None:
    record.info["keylight_idle_since"] = time.monotonic()


@contextlib.contextmanager
def writing(bind: Engine | Connection, *, durable: bool = True) -> Iterator[Connection]:
    """A write transaction, committed when the block ends without an exception.

    ``bind`` is an engine (a connection is taken for the block) or a request's own
    connection (a read transaction still open on it is ended first). ``durable``:
    see the module's docstring; leave it on unless the data is a checkout's scratch.
    """
    if isinstance(bind, Engine):
        with bind.connect() as connection:
            with writing(connection, durable=durable) as same:
                yield same
        return
    connection = bind
    if connection.info.get("keylight_write"):  # inside a write transaction: part of it
        yield connection
        return
    if connection.in_transaction():
        connection.rollback()
    sqlite = connection.dialect.name == "sqlite"
    queue = _WRITE_QUEUES.get(connection.engine) if sqlite else None
    with queue.turn() if queue is not None else contextlib.nullcontext():
        raw = connection.connection.dbapi_connection if sqlite else None
        if raw is not None and not durable:
            raw.execute("PRAGMA synchronous=NORMAL")
        connection.info["keylight_write"] = "durable" if durable else "scratch"
        try:
            with connection.begin():
                yield connection
        finally:
            connection.info["keylight_write"] = None
            if raw is not None and not durable:
                raw.execute("PRAGMA synchronous=FULL")


def check_durability(engine: Engine) -> dict[str, object]:
    """Read back what the connection really runs with; raise if it is not durable."""
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            found = {
                "journal_mode": connection.exec_driver_sql("PRAGMA journal_mode").scalar(),
                "synchronous": connection.exec_driver_sql("PRAGMA synchronous").scalar(),
                "busy_timeout": connection.exec_driver_sql("PRAGMA busy_timeout").scalar(),
            }
            database = engine.url.database or ""
            in_memory = database in ("", ":memory:")
            # synchronous: 2 is FULL, 3 is EXTRA; both survive a power cut in WAL mode.
            if (
                (found["journal_mode"] != "wal" and not in_memory)
                or found["synchronous"] not in (2, 3)
                or not found["busy_timeout"]
            ):
                raise DatabaseError(f"SQLite is not durable with these settings: {found}")
            return found
        if engine.dialect.name == "postgresql":
            # Read inside a durable transaction: what an order's commit runs with.
            found = {
                "fsync": connection.exec_driver_sql("SHOW fsync").scalar(),
                "synchronous_commit": connection.exec_driver_sql(
                    "SHOW synchronous_commit"
                ).scalar(),
            }
            if found["fsync"] != "on" or found["synchronous_commit"] != "on":
                raise DatabaseError(f"PostgreSQL is not durable with these settings: {found}")
            return found
        return {}


def alembic_config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option(
        "script_location", str(resources.files("klcheckout").joinpath("migrations"))
    )
    config.attributes["connection"] = connection
    return config


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest revision, one process at a time.

    Several gunicorn workers start together; a lock (a PostgreSQL advisory lock,
    or a lock file next to the SQLite file) lets the first migrate and the others
    find nothing left to do.
    """
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(7140457)"))
            connection.commit()
            try:
                command.upgrade(alembic_config(connection), "head")
                connection.commit()
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(7140457)"))
                connection.commit()
        return
    with _file_lock(engine), engine.connect() as connection:
        command.upgrade(alembic_config(connection), "head")
        connection.commit()


@contextlib.contextmanager
def _file_lock(engine: Engine) -> Iterator[None]:
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        yield
        return
    with open(database + ".migrate-lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        try:
            return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
        except Exception:
            return None
