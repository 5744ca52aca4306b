"""A statement compiled once by SQLAlchemy, then sent on the pooled psycopg connection itself.

The connection comes from the engine's pool as it is (`Engine.raw_connection`), not
wrapped in a `Connection`, which nothing here uses: about 30 thousand instructions a
request (`bench/README.md`).

Statements are built once per shape (`backend.envelope`), so each is compiled once, here,
and a request sends its SQL with the request's values to psycopg's cursor directly.
`Connection.execute` would do the same with more around it on every call (an execution
context, the compiled cache's key, a result and its rows): about 0.1 ms a statement, a
tenth of a warm request (`bench/README.md`). Rows come back as dicts.

Nothing is lost on the way. Each value goes through its type's processing both ways, as
`Connection.execute` would do it (few of the statements' types have any: a `Boolean` checks
its value, an `ARRAY` copies its list); an expanding parameter, whose SQL changes with each
call's values, is refused. A failure is what `Connection.execute` raises: the `DBAPIError`
subclass of the driver's error, whose `connection_invalidated` says the connection broke,
and then the connection is dropped. SQLAlchemy's cursor events do not fire for these
statements; the pool's do.

Where the engine allows it (DATABASE_PREPARED_STATEMENTS), a statement is prepared on each
connection at its first use there, its Parse sent with it in one round trip: the server
then neither parses nor plans it again on that connection, which was half of its time
(`bench/README.md`). A statement whose best plan depends on its values says
`execution_options(prepare=False)` and is planned at each use.
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from weakref import WeakSet

import psycopg
from psycopg import Column
from psycopg.rows import dict_row
from sqlalchemy.engine.interfaces import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.sql import ClauseElement, Executable
from sqlalchemy.sql.compiler import SQLCompiler

Row = dict[str, Any]
Processor = Callable[[Any], Any]
STATEMENTS = 4096
"""Compiled statements kept: every builder keeps at most 512 shapes."""


@dataclass
class Sendable:
    """A statement's SQL, and what SQLAlchemy's types do to its values on the way in and out."""

    compiled: SQLCompiler
    dialect: Dialect
    binds: tuple[tuple[str, Processor], ...]
    """Each parameter whose type processes its value (a `Boolean` checks that it is one)."""
    results: tuple[tuple[str, Processor], ...] | None = None
    """Each column whose type processes its value; known from the first answer's columns
    (threads that meet a statement's first answer at once find the same)."""
    prepare: bool = True
    """False (its `prepare` execution option) where its plan depends on its values."""
    prepared_on: WeakSet[psycopg.Connection[Any]] = field(default_factory=WeakSet)
    """The connections that hold it prepared (each is used by one thread at a time)."""

    def execute(self, cursor: psycopg.Cursor[Row], values: dict[str, Any]) -> None:
        """Send the statement, prepared if the connection allows it and the statement wants it."""
        driver = cursor.connection
        if driver.prepare_threshold is None or not self.prepare:
            cursor.execute(self.compiled.string, values, prepare=False)
        elif driver in self.prepared_on:
            cursor.execute(self.compiled.string, values, prepare=True)
        else:
            with driver.pipeline():  # its Parse goes with it: still one round trip
                cursor.execute(self.compiled.string, values, prepare=True)
            self.prepared_on.add(driver)

    def values(self, params: Mapping[str, Any] | None) -> dict[str, Any]:
        values = dict(self.compiled.construct_params(params))
        for name, process in self.binds:
            values[name] = process(values[name])
        return values

    def rows(self, cursor: psycopg.Cursor[Row]) -> list[Row]:
        rows = cursor.fetchall()
        if self.results is None:
            self.results = result_processors(self.compiled, self.dialect, cursor.description)
        for name, process in self.results:
            for row in rows:
                row[name] = process(row[name])
        return rows


@lru_cache(maxsize=STATEMENTS)
def sendable(statement: ClauseElement, dialect: Dialect) -> Sendable:
    """The statement compiled for the dialect, once per statement object."""
    compiled = statement.compile(dialect=dialect)
    assert isinstance(compiled, SQLCompiler)  # a statement, not DDL
    if compiled.post_compile_params:
        raise ValueError("an expanding parameter renders its SQL per call: use = ANY(an array)")
    binds = []
    for bind, name in compiled.bind_names.items():
        process = bind.type.dialect_impl(dialect).bind_processor(dialect)
        if process is not None:
            binds.append((compiled.escaped_bind_names.get(name, name), process))
    options = statement.get_execution_options() if isinstance(statement, Executable) else {}
    return Sendable(compiled, dialect, tuple(binds), prepare=options.get("prepare", True))


def result_processors(
    compiled: SQLCompiler, dialect: Dialect, description: Sequence[Column] | None
) -> tuple[tuple[str, Processor], ...]:
    """The columns that SQLAlchemy's types would process, as `Connection.execute` finds them:
    the statement's selected columns in order, each with the type the server sent."""
    selected = list(getattr(compiled.statement, "selected_columns", ()))
    if not description or not selected:
        return ()
    processors = []
    for column, sent in zip(selected, description, strict=True):
        process = column.type.dialect_impl(dialect).result_processor(dialect, sent.type_code)
        if process is not None:
            processors.append((sent.name, process))
    return tuple(processors)


def send(
    pooled: PoolProxiedConnection,
    dialect: Dialect,
    statement: ClauseElement,
    params: Mapping[str, Any] | None,
) -> list[Row]:
    """Run the statement with `params` on the pooled psycopg connection; its rows."""
    known = sendable(statement, dialect)
    sql, values = known.compiled.string, known.values(params)
    driver = pooled.driver_connection
    assert isinstance(driver, psycopg.Connection)
    try:
        with driver.cursor(row_factory=dict_row) as cursor:
            known.execute(cursor, values)
            return known.rows(cursor)
    except psycopg.Error as error:
        broken = driver.closed  # lost, or closed for a timeout (`db.BoundedConnection`)
        if broken:
            pooled.invalidate()
        raise DBAPIError.instance(
            sql,
            None,
            error,
            psycopg.Error,
            connection_invalidated=broken,
            dialect=dialect,
        ) from error
    except BaseException:  # interrupted mid-statement: the connection's state is unknown
        pooled.invalidate()
        raise
