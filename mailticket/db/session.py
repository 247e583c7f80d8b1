"""Engine and transactions. SQLite gets WAL, a busy timeout and real SAVEPOINTs; PostgreSQL gets
pre-ping, a connect timeout and TCP keepalives, and its schema upgrades take an advisory lock so that
instances started together migrate once. `wait_for_database` backs off while the database is away.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

SCHEMA_HEAD = "0012"  # the newest Alembic revision; a test keeps it equal to the scripts
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
log = logging.getLogger("mailticket.db")

# The database (not a message) failed: connection refused or lost, server restarting, disk full.
DB_ERRORS = (OperationalError, InterfaceError, DisconnectionError)
# libpq options: give up connecting after 10 s; keepalives notice a server that vanished.
PG_CONNECT_ARGS = {"connect_timeout": 10, "keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10,
                   "keepalives_count": 3, "application_name": "mailticket"}
_MIGRATION_LOCK = 0x6D61696C7469636B  # advisory lock key ("mailtick") held while upgrading the schema


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        return _sqlite_engine(url)
    if url.startswith("postgresql"):
        # pre-ping: a connection the server dropped (restart, failover) is replaced, not handed out
        return create_engine(url, pool_pre_ping=True, pool_recycle=1800, connect_args=dict(PG_CONNECT_ARGS))
    return create_engine(url, pool_pre_ping=True)


def _sqlite_engine(url: str) -> Engine:
    path = url.split(":///", 1)[1] if ":///" in url else ""
    if path and path != ":memory:":
        folder = Path(path).parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DatabaseUnavailable(f"database.url {url}: cannot create the folder {folder}: "
                                      f"{exc.strerror or exc}; hint: {_writable_hint(folder)}") from None
    engine = create_engine(url, connect_args={"timeout": 30})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        # Let SQLAlchemy emit BEGIN itself so that SAVEPOINT works (pysqlite quirk).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")  # a commit survives power loss: we ack after it
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        conn.exec_driver_sql("BEGIN")

    return engine


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions of `engine`, with the store's index of unflushed rows kept right (store.unflushed)."""
    from mailticket.store.unflushed import track

    factory = sessionmaker(engine, expire_on_commit=False)
    track(factory)
    return factory


@contextlib.contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    with factory() as session, session.begin():
        yield session


def alembic_config(engine: Engine):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest revision (`mailticket db upgrade`)."""
    from alembic import command

    with _migration_lock(engine):
        command.upgrade(alembic_config(engine), "head")


@contextlib.contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    """PostgreSQL: one migrator at a time (instances started together); others wait, then find it done."""
    if engine.dialect.name != "postgresql":
        yield
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _MIGRATION_LOCK})
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _MIGRATION_LOCK})


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def ensure_schema(engine: Engine) -> None:
    """Create the schema in an empty database; refuse to work on an outdated one."""
    revision = current_revision(engine)
    if revision == SCHEMA_HEAD:
        return
    if revision is None:
        upgrade(engine)  # another instance may be doing the same: the lock makes it once
        return
    raise OutdatedSchema(f"the database schema is at revision {revision}, this version needs {SCHEMA_HEAD}: "
                         "run 'mailticket db upgrade'")


class OutdatedSchema(Exception):
    """The database was made by an older mailticket; `db upgrade` brings it up to date."""


class DatabaseUnavailable(Exception):
    """The database of `database.url` cannot be opened or reached; the text is one line with a hint."""


def _writable_hint(folder: Path) -> str:
    import getpass

    return f"the folder must exist and be writable by the user running mailticket ({getpass.getuser()})"


def safe_url(url: str) -> str:
    """The URL without its password, for messages."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparsable URL is shown as it is (it holds no password then)
        return url


def failure_line(exc: BaseException, url: str) -> str | None:
    """A failure to open or reach the database as one line naming database.url, the problem and a hint;
    None when `exc` is not such a failure."""
    if isinstance(exc, DatabaseUnavailable):
        return str(exc)
    if not isinstance(exc, DB_ERRORS):
        return None
    orig = getattr(exc, "orig", None) or exc
    first = (str(orig).strip().splitlines() or [""])[0][:200]
    text = str(orig).lower()
    where = f"database.url {safe_url(url)}"
    if url.startswith("sqlite"):
        path = Path(url.split(":///", 1)[1]) if ":///" in url else Path()
        if "readonly" in text or "read-only" in text:
            return f"{where}: the database file is read-only ({first}); hint: {path} and its folder " \
                   f"must be writable by the user running mailticket"
        if "unable to open" in text:
            return f"{where}: cannot open the SQLite file {path} ({first}); " \
                   f"hint: {_writable_hint(path.parent)}"
        return f"{where}: {first}"
    hint = "check database.url's user and password" if "authentication" in text or "password" in text \
        else "create it: sudo -u postgres createdb -O USER DBNAME" if "does not exist" in text \
        else "is the server running and reachable from here? check database.url's host and port, " \
             "pg_hba.conf and firewalls"
    return f"{where}: database server unreachable: {first}; hint: {hint}"


def db_error_line(exc: BaseException) -> str:
    """A database failure as one short line for the log (the driver's first line, no SQL)."""
    orig = getattr(exc, "orig", None) or exc
    lines = str(orig).strip().splitlines()
    return f"{type(orig).__name__}: {lines[0] if lines else ''}"[:300]


def wait_for_database(engine: Engine, stop: threading.Event | None = None, longest: float = 60.0) -> bool:
    """Block until the database answers, backing off 1, 2, 4 … `longest` seconds with jitter.

    Logs one line when it is back (the caller logged the failure). Returns False if `stop` was set
    first. Nothing is lost meanwhile: uncommitted work stays pending and runs again.
    """
    from tenacity import Retrying, retry_if_exception_type, stop_never, wait_exponential_jitter

    stop = stop or threading.Event()
    started = time.monotonic()
    retrying = Retrying(retry=retry_if_exception_type(DB_ERRORS), stop=stop_never, sleep=stop.wait,
                        wait=wait_exponential_jitter(initial=1, max=longest, jitter=1), reraise=True)
    for attempt in retrying:
        with attempt:
            if stop.is_set():
                return False
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
    if attempt.retry_state.attempt_number > 1:
        log.info("database reachable again after %.0fs", time.monotonic() - started)
    return True
