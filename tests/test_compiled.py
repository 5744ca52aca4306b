"""Statements sent to psycopg directly answer what SQLAlchemy's `Connection.execute` answers:
the same rows and types, its processing of values both ways, and its errors, whether they
are prepared or not."""

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from sqlalchemy import Boolean, Connection, Engine, Numeric, bindparam, literal, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.sql import ClauseElement

from backend import db, envelope, queries
from backend.compiled import Row, send
from backend.envelope import Call
from backend.models import tasks
from tests.conftest import Env


@pytest.fixture(params=[False, True], ids=["unprepared", "prepared"])
def engine(env: Env, request: pytest.FixtureRequest) -> Engine:
    """The app's engine, with statements prepared (at first use, `test_prepared.py`) or not."""
    env(DATABASE_PREPARED_STATEMENTS=str(request.param).lower())
    return db.get_engine()


def sent(
    connection: Connection, statement: ClauseElement, params: dict[str, Any] | None
) -> list[Row]:
    """`send` on the pooled connection a SQLAlchemy `Connection` holds, beside its `execute`."""
    return send(connection.connection, connection.dialect, statement, params)


@pytest.fixture
def connection(engine: Engine) -> Iterator[Connection]:
    with engine.connect() as connection:
        yield connection


def test_a_task_read_answers_the_rows_and_types_sqlalchemy_answers(
    connection: Connection, user_id: str
) -> None:
    due = datetime(2030, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    created = connection.execute(
        tasks.insert()
        .values(user_id=user_id, title="t", tags=["a", "b"], due_at=due)
        .returning(tasks.c.id)
    ).scalar_one()
    statement = queries.get_statement(envelope.envelope(False, False))
    params = {**Call(user_id).params, "task": created}

    answered = sent(connection, statement, params)
    executed = [dict(row) for row in connection.execute(statement, params).mappings()]

    assert [row["tags"] for row in answered] == [["a", "b"]]
    assert [row["due_at"] for row in answered] == [due]
    assert [{k: v for k, v in row.items() if k != "_now"} for row in answered] == [
        {k: v for k, v in row.items() if k != "_now"} for row in executed
    ]
    assert [{k: type(v) for k, v in row.items()} for row in answered] == [
        {k: type(v) for k, v in row.items()} for row in executed
    ]


def test_a_parameter_is_processed_by_its_type_as_sqlalchemy_does(connection: Connection) -> None:
    statement = select(bindparam("flag", type_=Boolean()).label("flag"))

    with pytest.raises(TypeError, match="Not a boolean value"):
        sent(connection, statement, {"flag": "yes"})
    assert sent(connection, statement, {"flag": 0}) == [{"flag": False}]


def test_a_column_is_processed_by_its_type_as_sqlalchemy_does(connection: Connection) -> None:
    statement = select(literal(Decimal("1.5"), Numeric(asdecimal=False)).label("n"))

    assert sent(connection, statement, None) == [{"n": 1.5}]
    assert type(sent(connection, statement, None)[0]["n"]) is float


def test_an_expanding_parameter_is_refused_before_anything_is_sent(
    connection: Connection,
) -> None:
    statement = select(tasks.c.id).where(tasks.c.id.in_(bindparam("ids", expanding=True)))

    with pytest.raises(ValueError, match="ANY"):
        sent(connection, statement, {"ids": [1]})


def test_a_refused_statement_raises_sqlalchemys_error_and_keeps_the_connection(
    connection: Connection, user_id: str
) -> None:
    row = {"user_id": user_id, "title": "t", "version": 0}

    with pytest.raises(IntegrityError) as refused:
        sent(connection, tasks.insert().values(row), None)

    assert isinstance(refused.value.orig, psycopg.errors.CheckViolation)
    assert (refused.value.statement or "").startswith("INSERT INTO tasks")
    assert not refused.value.connection_invalidated
    assert sent(connection, text("SELECT 1 AS one"), None) == [{"one": 1}]


def test_a_broken_connection_is_invalidated_and_the_pool_replaces_it(
    engine: Engine, database_url: str
) -> None:
    pooled = engine.raw_connection()
    try:
        pid = send(pooled, engine.dialect, text("SELECT pg_backend_pid() AS pid"), None)[0]["pid"]
        with psycopg.connect(database_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", [pid])

        with pytest.raises(DBAPIError) as broken:
            send(pooled, engine.dialect, text("SELECT 1"), None)

        assert broken.value.connection_invalidated
        assert not pooled.is_valid
    finally:
        pooled.close()
    with engine.connect() as connection:
        fresh: Any = sent(connection, text("SELECT pg_backend_pid() AS pid"), None)
    assert fresh[0]["pid"] != pid
