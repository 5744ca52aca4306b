"""Completing a recurring task: one UPDATE built from `recurrence.completion_values`."""

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from sqlalchemy import (
    ColumnElement,
    Connection,
    bindparam,
    create_engine,
    func,
    insert,
    select,
    true,
    update,
)
from sqlalchemy.exc import IntegrityError

from backend.config import sqlalchemy_url
from backend.local import with_database
from backend.migrations import alembic_config, upgrade
from backend.models import tasks
from backend.recurrence import CONSTRAINT_FIELDS, completion_values

SYDNEY_MONDAY = datetime(2026, 3, 29, 22, tzinfo=UTC)  # 09:00 on Monday 30 March, AEDT


@pytest.fixture
def connection(database_url: str) -> Iterator[Connection]:
    """A connection whose writes are rolled back after the test."""
    engine = create_engine(sqlalchemy_url(database_url))
    with engine.connect() as connection:
        yield connection
        connection.rollback()
    engine.dispose()


def new_task(connection: Connection, **fields: Any) -> int:
    values = {"user_id": f"user-{uuid.uuid4().hex[:12]}", "title": "Water the plants", **fields}
    return int(connection.execute(insert(tasks).values(values).returning(tasks.c.id)).scalar_one())


def complete(
    connection: Connection, task_id: int, completed: ColumnElement[bool], **given: Any
) -> dict[str, Any]:
    """Run the completing UPDATE, as a route would, and return the row it left."""
    statement = (
        update(tasks)
        .where(tasks.c.id == task_id)
        .values({**completion_values(completed, **given), "version": tasks.c.version + 1})
        .returning(*tasks.c)
    )
    return dict(connection.execute(statement).mappings().one())


def state(row: dict[str, Any]) -> tuple[bool, bool, datetime | None, str | None]:
    return row["completed"], row["completed_at"] is not None, row["due_at"], row["recurrence"]


def test_completing_a_recurring_task_keeps_it_pending_and_moves_due_at(
    connection: Connection,
) -> None:
    task = new_task(
        connection,
        due_at=SYDNEY_MONDAY,
        recurrence="FREQ=WEEKLY;BYDAY=MO",
        timezone="Australia/Sydney",
    )

    row = complete(connection, task, true())

    assert state(row) == (
        False,
        False,
        datetime(2026, 4, 5, 23, tzinfo=UTC),
        "FREQ=WEEKLY;BYDAY=MO",
    )
    assert row["version"] == 2
    assert row["timezone"] == "Australia/Sydney"


def test_toggling_a_pending_recurring_task_advances_it_and_never_completes_it(
    connection: Connection,
) -> None:
    task = new_task(connection, due_at=SYDNEY_MONDAY, recurrence="FREQ=DAILY")

    first = complete(connection, task, ~tasks.c.completed)
    second = complete(connection, task, ~tasks.c.completed)

    assert state(first) == (False, False, datetime(2026, 3, 30, 22, tzinfo=UTC), "FREQ=DAILY")
    assert state(second) == (False, False, datetime(2026, 3, 31, 22, tzinfo=UTC), "FREQ=DAILY")


def test_count_counts_down_and_the_last_occurrence_completes_keeping_its_rule(
    connection: Connection,
) -> None:
    task = new_task(connection, due_at=SYDNEY_MONDAY, recurrence="FREQ=DAILY;COUNT=3")

    rows = [complete(connection, task, true()) for _ in range(4)]

    assert [state(row) for row in rows] == [
        (False, False, datetime(2026, 3, 30, 22, tzinfo=UTC), "FREQ=DAILY;COUNT=2"),
        (False, False, datetime(2026, 3, 31, 22, tzinfo=UTC), "FREQ=DAILY;COUNT=1"),
        (True, True, datetime(2026, 3, 31, 22, tzinfo=UTC), "FREQ=DAILY;COUNT=1"),
        (True, True, datetime(2026, 3, 31, 22, tzinfo=UTC), "FREQ=DAILY;COUNT=1"),
    ]
    assert rows[3]["completed_at"] == rows[2]["completed_at"]


def test_a_task_past_its_until_completes_as_any_task(connection: Connection) -> None:
    rule = "FREQ=DAILY;UNTIL=20260330T220000Z"
    task = new_task(connection, due_at=SYDNEY_MONDAY, recurrence=rule)

    rows = [complete(connection, task, true()) for _ in range(2)]

    assert [state(row) for row in rows] == [
        (False, False, datetime(2026, 3, 30, 22, tzinfo=UTC), rule),
        (True, True, datetime(2026, 3, 30, 22, tzinfo=UTC), rule),
    ]


def test_reopening_a_completed_recurring_task_leaves_its_due_at_and_rule(
    connection: Connection,
) -> None:
    task = new_task(connection, due_at=SYDNEY_MONDAY, recurrence="FREQ=DAILY;COUNT=1")
    complete(connection, task, true())

    row = complete(connection, task, ~tasks.c.completed)

    assert state(row) == (False, False, SYDNEY_MONDAY, "FREQ=DAILY;COUNT=1")


def test_a_task_without_a_rule_completes_and_toggles_as_before(connection: Connection) -> None:
    task = new_task(connection, due_at=SYDNEY_MONDAY)

    completed = complete(connection, task, ~tasks.c.completed)
    reopened = complete(connection, task, ~tasks.c.completed)

    assert state(completed) == (True, True, SYDNEY_MONDAY, None)
    assert state(reopened) == (False, False, SYDNEY_MONDAY, None)


def test_the_fields_given_in_the_same_body_apply_before_the_completion_advances(
    connection: Connection,
) -> None:
    task = new_task(connection, due_at=SYDNEY_MONDAY, recurrence="FREQ=DAILY")
    due_at = bindparam("due_at", datetime(2026, 6, 1, 9, tzinfo=UTC), type_=tasks.c.due_at.type)
    rule = bindparam("recurrence", "FREQ=MONTHLY;COUNT=2", type_=tasks.c.recurrence.type)

    row = complete(connection, task, true(), due_at=due_at, recurrence=rule)

    assert state(row) == (False, False, datetime(2026, 7, 1, 9, tzinfo=UTC), "FREQ=MONTHLY;COUNT=1")


def test_a_body_that_clears_the_rule_while_completing_completes_the_task(
    connection: Connection,
) -> None:
    task = new_task(connection, due_at=SYDNEY_MONDAY, recurrence="FREQ=DAILY")
    cleared = bindparam("recurrence", None, type_=tasks.c.recurrence.type)

    row = complete(connection, task, true(), recurrence=cleared)

    assert state(row) == (True, True, SYDNEY_MONDAY, None)


def test_one_statement_completes_many_tasks_each_by_its_own_rule(connection: Connection) -> None:
    ids = [
        new_task(connection, due_at=SYDNEY_MONDAY, recurrence=rule, timezone=tz)
        for rule, tz in [("FREQ=WEEKLY;BYDAY=MO", "Australia/Sydney"), ("FREQ=DAILY;COUNT=1", None)]
    ]
    ids.append(new_task(connection, due_at=SYDNEY_MONDAY))
    statement = (
        update(tasks)
        .where(tasks.c.id.in_(ids))
        .values(completion_values(true()))
        .returning(*tasks.c)
    )

    rows = {row["id"]: row for row in connection.execute(statement).mappings()}

    assert [state(dict(rows[i])) for i in ids] == [
        (False, False, datetime(2026, 4, 5, 23, tzinfo=UTC), "FREQ=WEEKLY;BYDAY=MO"),
        (True, True, SYDNEY_MONDAY, "FREQ=DAILY;COUNT=1"),
        (True, True, SYDNEY_MONDAY, None),
    ]


def test_the_next_occurrence_is_computed_once_per_completed_row(connection: Connection) -> None:
    task = new_task(connection, due_at=SYDNEY_MONDAY, recurrence="FREQ=DAILY")
    connection.exec_driver_sql("SET LOCAL track_functions = 'pl'")

    complete(connection, task, true())

    calls = connection.execute(
        select(func.pg_stat_get_xact_function_calls(func.to_regproc("task_next_occurrence")))
    ).scalar_one()
    assert calls == 1


@pytest.mark.parametrize(
    ("fields", "constraint"),
    [
        ({"recurrence": "FREQ=DAILY"}, "recurrence_due_at"),
        ({"due_at": SYDNEY_MONDAY, "recurrence": "freq=daily"}, "recurrence_shape"),
        ({"due_at": SYDNEY_MONDAY, "recurrence": "FREQ=DAILY;COUNT=1;UNTIL=1"}, "recurrence_shape"),
        ({"due_at": SYDNEY_MONDAY, "recurrence": "FREQ=HOURLY"}, "recurrence_shape"),
        ({"timezone": ""}, "timezone_length"),
    ],
)
def test_the_table_refuses_a_rule_sql_could_not_evaluate(
    connection: Connection, fields: dict[str, Any], constraint: str
) -> None:
    with pytest.raises(IntegrityError) as raised:
        new_task(connection, **fields)

    assert raised.value.orig is not None
    assert raised.value.orig.diag.constraint_name == constraint  # type: ignore[attr-defined]
    assert constraint in CONSTRAINT_FIELDS


def test_clearing_due_at_of_a_recurring_task_is_refused_by_the_table(
    connection: Connection,
) -> None:
    task = new_task(connection, due_at=SYDNEY_MONDAY, recurrence="FREQ=DAILY")

    with pytest.raises(IntegrityError, match="recurrence_due_at"):
        connection.execute(update(tasks).where(tasks.c.id == task).values(due_at=None))


@pytest.fixture
def empty_database(database_url: str) -> Iterator[str]:
    name = f"tasks_recurrence_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(database_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"'.encode())
    yield with_database(database_url, name)
    with psycopg.connect(database_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)'.encode())


def test_the_migration_downgrades_to_the_schema_before_it_and_upgrades_again(
    empty_database: str,
) -> None:
    from alembic import command

    upgrade(empty_database)
    command.downgrade(alembic_config(empty_database), "0003")
    with psycopg.connect(empty_database) as db:
        columns = db.execute("SELECT column_name FROM information_schema.columns").fetchall()
        functions = db.execute("SELECT proname FROM pg_proc WHERE proname LIKE 'task_%'")
        assert ("recurrence",) not in columns
        assert functions.fetchall() == []
    upgrade(empty_database)
