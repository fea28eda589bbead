"""SQLAlchemy engines whose every wait is bounded, and the 503 a database that does not answer becomes.

A frozen PostgreSQL (stopped, partitioned, a proxy that stops forwarding) still accepts TCP: the
kernel acknowledges what is sent and nothing comes back, so neither TCP timeouts nor the server's
own `statement_timeout` end the wait. Three bounds, from `[database]` (decision 0126):

- connect: psycopg's `connect_timeout` (client side; PostgreSQL counts at least 2 s);
- pool checkout: SQLAlchemy's `pool_timeout` (all of a worker's connections busy);
- statements: the server's `statement_timeout` (a lock wait, a slow plan), and the same bound on the
  client for every wait of a connection (`BoundedConnection.wait`), after which the connection is
  closed and SQLAlchemy discards it. `pool_pre_ping` then replaces dead connections, so the service
  recovers by itself when the database answers again.

On SQLite the statement bound is the busy timeout (a write lock held by another process).
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Table, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, InternalError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from cds_service.config import DatabaseSettings
from cds_service.errors import ConfigError, ServiceUnavailable
from cds_service.http import metrics

# What a slow or lost database raises; `IntegrityError` and `ProgrammingError` are our bugs, not outages.
_OUTAGES = (OperationalError, InterfaceError, InternalError)


def engine_url(database_url: str) -> str:
    if database_url.startswith("postgresql://"):
        return "postgresql+psycopg://" + database_url.removeprefix("postgresql://")
    return database_url


def require_existing(database_url: str | URL) -> None:
    """A one-line ConfigError when `database_url` names a SQLite file that is not there.

    Connecting to a SQLite path creates an empty database, so a command that only uses a database (`db purge`,
    `report`, `serve` without --dev) checks first; `db upgrade` is the command that makes one. A PostgreSQL
    database is never created by connecting: a missing one fails on connect and is said then.
    """
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return
    path = Path(url.database)
    if not path.is_file():
        shown = url.render_as_string(hide_password=True)
        raise ConfigError(f"the database {shown} does not exist (no file {path.resolve()}): point database_url "
                          "(--config, or $SIROLIMUS_CDS_DATABASE_URL) at the service's database, or make a new "
                          "one with `sirolimus-cds db upgrade`")


def bounded_engine(database_url: str, bounds: DatabaseSettings) -> Engine:
    url = engine_url(database_url)
    kwargs: dict[str, Any] = {"pool_pre_ping": True, "pool_timeout": bounds.pool_timeout_seconds}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": bounds.statement_timeout_seconds}
        return create_engine(url, **kwargs)
    statement_ms = round(bounds.statement_timeout_seconds * 1000)
    kwargs["connect_args"] = {
        "connect_timeout": max(2, round(bounds.connect_timeout_seconds)),
        "options": f"-c statement_timeout={statement_ms}",
    }
    engine = create_engine(url, **kwargs)
    connection_class = _bounded_connection_class(bounds.statement_timeout_seconds + 0.5)

    @event.listens_for(engine, "do_connect")
    def _connect(_dialect: Any, _record: Any, cargs: Any, cparams: dict[str, Any]) -> Any:
        return connection_class.connect(*cargs, **cparams)

    return engine


def upsert_insert(engine: Engine, table: Table) -> Any:
    """INSERT with ON CONFLICT support, for the engine's dialect (PostgreSQL or SQLite)."""
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


def _bounded_connection_class(seconds: float) -> Any:
    """A psycopg Connection that waits at most `seconds` for any answer, then closes itself.

    The server-side `statement_timeout` fires first while the server is alive (the connection then
    stays usable); this bound, half a second later, is for a server that answers nothing at all.
    Relies on psycopg >= 3.3: `Connection.wait(gen, interval, timeout)` and its `_WaitTimeout`.
    """
    import psycopg

    class BoundedConnection(psycopg.Connection):  # type: ignore[type-arg]
        def wait(self, gen: Any, interval: float = 0.1, timeout: float | None = None) -> Any:
            try:
                return super().wait(gen, interval, seconds if timeout is None else timeout)
            except psycopg.errors._WaitTimeout:
                self.close()  # mid-statement: never reusable; SQLAlchemy sees it closed and discards it
                raise psycopg.OperationalError(f"the database did not answer within {seconds:g} s") from None

    return BoundedConnection


@contextmanager
def pool_timeouts_counted() -> Iterator[None]:
    """Count a pool checkout that timed out as a database error, then let it go on.

    The engine's `handle_error` event counts the errors of the database itself (http/operations.py); a
    checkout that waited `pool_timeout_seconds` for a free connection never reaches the database, so no
    event sees it: every use of the service's engine goes through here or `unavailable_when_unanswered`.
    """
    try:
        yield
    except PoolTimeout:
        metrics.count_database_error(PoolTimeout.__name__)
        raise


@contextmanager
def unavailable_when_unanswered(what: str) -> Iterator[None]:
    """Turn a database that did not answer (or refused the connection, or whose pool had no free
    connection in time) into a 503 naming `what`; each counted as a database error.

    The message holds exception type names only: SQLAlchemy's own text carries the SQL parameters.
    """
    try:
        with pool_timeouts_counted():
            yield
    except PoolTimeout:
        raise ServiceUnavailable(f"the database is busy: no free connection for {what}") from None
    except DBAPIError as exc:
        cause = type(exc.orig).__name__ if exc.orig is not None else type(exc).__name__
        if not isinstance(exc, _OUTAGES) and not exc.connection_invalidated:
            raise
        raise ServiceUnavailable(f"the database did not answer ({what}: {cause})") from None
