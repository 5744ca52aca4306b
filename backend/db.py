"""The database engine: built on first use, kept warm, safe behind PgBouncer, its waits bounded."""

import select
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from math import ceil
from time import monotonic
from typing import Any

import psycopg
from psycopg.abc import PQGen
from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.dialects import registry
from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg
from sqlalchemy.engine.interfaces import IsolationLevel
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection, QueuePool

from backend.config import get_settings, sqlalchemy_url
from backend.errors import DatabaseNotConfigured
from backend.once import Once

POOL_SIZE = 5
MIN_CONNECT_TIMEOUT = 2  # libpq and psycopg round a shorter connect_timeout up to 2 s
PREPARE_THRESHOLD = 5
"""psycopg's own default, for a statement that does not choose (the app's statements do:
`compiled.send`); None turns preparing off on the connection."""

DEADLINE: ContextVar[float | None] = ContextVar("database_deadline", default=None)


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Every database wait inside shares one budget: the pool, the connect, the answer."""
    token = DEADLINE.set(monotonic() + seconds)
    try:
        yield
    finally:
        DEADLINE.reset(token)


def seconds_left(default: float) -> float:
    """What is left of the current deadline; `default` outside one."""
    end = DEADLINE.get()
    return default if end is None else max(0.0, end - monotonic())


class AnswerTimeout(psycopg.OperationalError):
    """Raise when the server has not answered within the time left; the connection is closed."""


class BoundedConnection(psycopg.Connection[Any]):
    """A psycopg connection that waits for the server no longer than the deadline allows.

    psycopg has no statement timeout of its own on the client, and a server-side
    `statement_timeout` cannot be a session SET behind PgBouncer; neither helps when
    the network, not the server, is stuck. Every round trip goes through `wait`.
    """

    timeout: float = 5.0  # outside a deadline (scripts, tests): each wait on its own

    def wait(self, gen: PQGen[Any], interval: float = 0.1, timeout: float | None = None) -> Any:
        if timeout is None:
            timeout = seconds_left(self.timeout)
        try:
            return super().wait(gen, interval, timeout)
        except psycopg.errors._WaitTimeout:
            # The answer may still come: nothing else may ever read from this connection.
            self.pgconn.finish()
            raise AnswerTimeout("no answer from the database in time") from None


class StartupDialect(PGDialect_psycopg):
    """psycopg's dialect, learning at first connect what the server said at startup.

    The stock dialect sends four queries (version, schema, isolation level,
    standard_conforming_strings) before the first statement: four round trips on
    every cold start. libpq already holds the answers the data path needs.
    """

    supports_statement_cache = True

    def connect(self, *cargs: Any, **cparams: Any) -> Any:
        """A BoundedConnection whose connect waits no longer than the deadline allows."""
        timeout = cparams.pop("bounded_timeout", BoundedConnection.timeout)
        left = seconds_left(timeout)
        if left <= 0:
            raise psycopg.errors.ConnectionTimeout("no time left to connect")
        cparams["connect_timeout"] = max(MIN_CONNECT_TIMEOUT, ceil(left))
        connection = BoundedConnection.connect(*cargs, **cparams)
        connection.timeout = timeout
        return connection

    def _get_server_version_info(self, connection: Any) -> tuple[int, int]:
        version: int = connection.connection.dbapi_connection.info.server_version
        return version // 10000, version % 10000  # 150019 -> (15, 19); PostgreSQL 10+

    def _get_default_schema_name(self, connection: Any) -> str:
        return "public"  # the runtime never reflects; migrations use a stock engine

    def get_default_isolation_level(self, dbapi_conn: Any) -> IsolationLevel:
        return "READ COMMITTED"  # PostgreSQL's and PgBouncer's default

    def _set_backslash_escapes(self, connection: Any) -> None:
        info = connection.connection.dbapi_connection.info
        self._backslash_escapes = info.parameter_status("standard_conforming_strings") == b"off"


registry.register("postgresql.psycopg_startup", __name__, "StartupDialect")


class DeadlinePool(QueuePool):
    """A QueuePool whose wait for a free connection is what is left of the deadline."""

    _sqla_logger_namespace = "sqlalchemy.pool.impl.QueuePool"  # not under the app's logger
    _default_timeout: float

    @property
    def _timeout(self) -> float:
        return seconds_left(self._default_timeout)

    @_timeout.setter
    def _timeout(self, value: float) -> None:
        self._default_timeout = value


def timeout_of(engine: Engine) -> float:
    """The engine's bound on each wait: DATABASE_TIMEOUT_SECONDS for the app's engine."""
    assert isinstance(engine.pool, DeadlinePool), "an engine made by engine_for"
    return engine.pool._default_timeout


def socket_bounds(timeout: float) -> dict[str, int]:
    """libpq's bounds on a silently dead peer: unacknowledged sends, and idle pooled sockets.

    A pooled socket whose peer vanished fails its keepalive probes within about 30 s
    of idling, so the zero-round-trip check at checkout sees it and replaces it. The
    floor spares a live peer on a lossy network: one retransmission takes 200 ms or more.
    """
    return {
        "tcp_user_timeout": ceil(max(timeout, MIN_CONNECT_TIMEOUT) * 1000),
        "keepalives": 1,
        "keepalives_idle": 15,
        "keepalives_interval": 5,
        "keepalives_count": 3,
    }


def engine_for(
    url: str, *, pool_size: int = POOL_SIZE, timeout: float = 5.0, prepared: bool = False
) -> Engine:
    """An engine whose single statements commit on their own: no BEGIN/COMMIT round trips.

    `timeout` bounds each wait (a free pooled connection, the connect, an answer); inside
    `deadline()` they share what is left of it. `prepared` lets statements be prepared on
    their connection, which a pooler in transaction mode breaks unless it tracks them.
    """
    engine = create_engine(
        make_url(sqlalchemy_url(url)).set(drivername="postgresql+psycopg_startup"),
        isolation_level="AUTOCOMMIT",
        poolclass=DeadlinePool,
        pool_size=pool_size,
        max_overflow=0,
        pool_timeout=timeout,
        pool_pre_ping=False,
        pool_reset_on_return=None,
        use_native_hstore=False,  # skips a type lookup in its own transaction at first connect
        connect_args={
            "prepare_threshold": PREPARE_THRESHOLD if prepared else None,
            "bounded_timeout": timeout,
            **socket_bounds(timeout),
        },
    )
    event.listen(engine, "checkout", drop_if_closed_by_server)
    return engine


def drop_if_closed_by_server(
    dbapi_connection: Any, _record: ConnectionPoolEntry, _proxy: PoolProxiedConnection
) -> None:
    """Replace a pooled connection the server has closed, without a probe round trip.

    An idle connection has nothing to read. If its socket is readable, the server
    has sent a goodbye (an idle timeout, a restart, a suspended Neon compute) or
    closed it; raising DisconnectionError makes the pool open a fresh one.
    """
    pgconn = dbapi_connection.pgconn
    if pgconn.status != 0:  # CONNECTION_OK
        raise DisconnectionError("connection is closed")
    readable, _, _ = select.select([pgconn.socket], [], [], 0)
    if readable:
        raise DisconnectionError("server closed the connection")


@Once
def get_engine() -> Engine:
    """The instance's engine (not a connection: one is checked out only for a statement).

    Routes call it in their body once the request is valid, not through `Depends`: FastAPI
    solves every dependency level on every request, for nothing here.
    """
    settings = get_settings()
    if settings.database_url is None:
        raise DatabaseNotConfigured(
            "DATABASE_URL is not set: point it at PostgreSQL (Neon's pooled URL in production)"
        )
    url = settings.database_url.get_secret_value()
    return engine_for(
        url,
        timeout=settings.database_timeout_seconds,
        prepared=settings.database_prepared_statements,
    )


def drop_engine() -> None:
    """Forget the engine and close its pooled connections; the next use builds a new one."""
    engine = get_engine.forget()
    if engine is not None:
        engine.dispose()
