"""The database engine: built on first use, kept for the warm instance, safe behind PgBouncer."""

import select
from functools import lru_cache
from typing import Annotated, Any

from fastapi import Depends
from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.dialects import registry
from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg
from sqlalchemy.engine.interfaces import IsolationLevel
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection

from backend.config import get_settings, sqlalchemy_url
from backend.errors import DatabaseNotConfigured


class StartupDialect(PGDialect_psycopg):
    """psycopg's dialect, learning at first connect what the server said at startup.

    The stock dialect sends four queries (version, schema, isolation level,
    standard_conforming_strings) before the first statement: four round trips on
    every cold start. libpq already holds the answers the data path needs.
    """

    supports_statement_cache = True

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


def engine_for(url: str, *, pool_size: int = 5) -> Engine:
    """An engine whose single statements commit on their own: no BEGIN/COMMIT round trips."""
    engine = create_engine(
        make_url(sqlalchemy_url(url)).set(drivername="postgresql+psycopg_startup"),
        isolation_level="AUTOCOMMIT",
        pool_size=pool_size,
        max_overflow=0,
        pool_pre_ping=False,
        pool_reset_on_return=None,
        use_native_hstore=False,  # skips a type lookup in its own transaction at first connect
        connect_args={"prepare_threshold": None, "connect_timeout": 5},
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


@lru_cache(maxsize=1)
def get_engine() -> Engine:
    url = get_settings().database_url
    if url is None:
        raise DatabaseNotConfigured(
            "DATABASE_URL is not set: point it at PostgreSQL (Neon's pooled URL in production)"
        )
    return engine_for(url.get_secret_value())


async def database() -> Engine:
    """The engine, not a connection: one is checked out only once the request is valid."""
    return get_engine()


DatabaseDep = Annotated[Engine, Depends(database)]
