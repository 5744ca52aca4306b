"""The database engine: built on first use, kept for the warm instance, safe behind PgBouncer."""

import select
from collections.abc import Iterator
from functools import lru_cache
from typing import Annotated, Any

from fastapi import Depends
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection

from backend.config import get_settings, sqlalchemy_url
from backend.errors import DatabaseNotConfigured


def engine_for(url: str, *, pool_size: int = 5) -> Engine:
    """An engine whose single statements commit on their own: no BEGIN/COMMIT round trips."""
    engine = create_engine(
        sqlalchemy_url(url),
        isolation_level="AUTOCOMMIT",
        pool_size=pool_size,
        max_overflow=0,
        pool_pre_ping=False,
        pool_reset_on_return=None,
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


def get_connection() -> Iterator[Connection]:
    with get_engine().connect() as connection:
        yield connection


ConnectionDep = Annotated[Connection, Depends(get_connection)]
