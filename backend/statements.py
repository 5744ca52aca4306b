"""Running one statement within one deadline, and what a broken connection means for it."""

import logging
from collections.abc import Mapping
from typing import Any

import psycopg
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.sql import ClauseElement

from backend import compiled
from backend.compiled import Row
from backend.db import AnswerTimeout, deadline, seconds_left, timeout_of
from backend.errors import DatabaseUnavailable, OutcomeUnknown
from backend.timing import Measured

log = logging.getLogger("backend")


class Broken(Exception):
    """Raise when a connection failed once its statement was sent (it may have run)."""

    def __init__(self, error: DBAPIError) -> None:
        super().__init__(type(error.orig).__name__)
        self.timed_out = isinstance(error.orig, AnswerTimeout)


def run(
    engine: Engine,
    statement: ClauseElement,
    params: Mapping[str, Any] | None = None,
    *,
    write: bool,
) -> list[Row]:
    """Run one statement, with its bind parameters' values, on a connection held only for it.

    Every wait (a free pooled connection, the connect, the answer, a retry) shares one
    deadline: the engine's timeout, DATABASE_TIMEOUT_SECONDS. No connection in time is
    DatabaseUnavailable: nothing was sent. A connection that fails once the statement
    was sent is OutcomeUnknown for a write; a read is retried once on a fresh connection.
    """
    if not write and getattr(statement, "is_dml", False):
        raise ValueError("an INSERT, UPDATE or DELETE is a write: retrying it could apply it twice")
    with Measured(), deadline(timeout_of(engine)):
        try:
            return attempt(engine, statement, params)
        except Broken as broken:
            if write:
                log.error("database outcome unknown: %s after a write was sent", broken)
                raise OutcomeUnknown() from None
            if broken.timed_out:
                log.error("database unavailable: no answer to a read in time")
                raise DatabaseUnavailable() from None
            log.warning("database read retried: %s", broken)
        try:
            return attempt(engine, statement, params)
        except Broken as broken:
            log.error("database unavailable: %s on a retried read", broken)
            raise DatabaseUnavailable() from None


def attempt(
    engine: Engine, statement: ClauseElement, params: Mapping[str, Any] | None
) -> list[Row]:
    pooled = checkout(engine)
    try:
        if seconds_left(0.0) <= 0:  # the wait for a connection took it all: send nothing
            log.error("database unavailable: no time left once connected")
            raise DatabaseUnavailable()
        try:
            return compiled.send(pooled, engine.dialect, statement, params)
        except DBAPIError as error:
            if error.connection_invalidated:
                raise Broken(error) from None
            raise  # a statement the server refused: handlers.handle_database_error decides
    finally:
        pooled.close()  # back to the pool, or gone if it was invalidated


def checkout(engine: Engine) -> PoolProxiedConnection:
    """A pooled or new connection within the deadline, else DatabaseUnavailable.

    A failure to connect that is not the server's or the network's is raised as
    `Engine.connect` would raise it, a `DBAPIError` (handlers.handle_database_error).
    """
    try:
        return engine.raw_connection()
    except PoolTimeout:
        log.error("database unavailable: no pooled connection came free in time")
    except psycopg.Error as error:
        if not isinstance(error, psycopg.OperationalError):
            raise DBAPIError.instance(
                None, None, error, psycopg.Error, dialect=engine.dialect
            ) from error
        log.error("database unavailable: %s on connect", type(error).__name__)
    raise DatabaseUnavailable()
