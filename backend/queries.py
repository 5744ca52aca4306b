"""The task statements: one SQL statement per operation, always scoped to the caller."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import (
    ColumnElement,
    Engine,
    RowMapping,
    Select,
    and_,
    case,
    delete,
    func,
    insert,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.sql import Executable

from backend.models import PRIORITIES, tasks
from backend.pagination import Cursor, Order, Sort
from backend.schemas import Priority, TaskOut
from backend.statements import run

Status = Literal["all", "pending", "completed"]


@dataclass(frozen=True)
class ListQuery:
    status: Status = "all"
    priority: Priority | None = None
    tags: Sequence[str] = field(default_factory=tuple)
    q: str | None = None
    due_before: datetime | None = None
    due_after: datetime | None = None
    sort: Sort = "created_at"
    order: Order = "desc"
    limit: int = 20
    cursor: Cursor | None = None


def priority_number(name: str) -> int:
    return PRIORITIES.index(name) + 1


def to_task(row: RowMapping) -> TaskOut:
    return TaskOut.model_validate({**row, "priority": PRIORITIES[row["priority"] - 1]})


def completed_at_for(completed: bool) -> ColumnElement[Any] | None:
    """Keep the first completion time while a task stays completed; clear it otherwise."""
    return func.coalesce(tasks.c.completed_at, func.now()) if completed else None


def stored(fields: dict[str, Any]) -> dict[str, Any]:
    values = dict(fields)
    if "priority" in values:
        values["priority"] = priority_number(values["priority"])
    if "completed" in values:
        values["completed_at"] = completed_at_for(values["completed"])
    return values


def one_task(db: Engine, statement: Executable, *, write: bool = True) -> TaskOut | None:
    """Run a statement returning at most one task row, on a connection held only for it."""
    rows = run(db, statement, write=write)
    return to_task(rows[0]) if rows else None


def owned(user_id: str, task_id: int) -> ColumnElement[bool]:
    return and_(tasks.c.id == task_id, tasks.c.user_id == user_id)


def create_task(db: Engine, user_id: str, fields: dict[str, Any]) -> TaskOut:
    values = stored(fields)
    if values.get("completed"):
        values["completed_at"] = func.now()
    statement = insert(tasks).values(user_id=user_id, **values).returning(*tasks.c)
    return to_task(run(db, statement, write=True)[0])


def get_task(db: Engine, user_id: str, task_id: int) -> TaskOut | None:
    return one_task(db, select(*tasks.c).where(owned(user_id, task_id)), write=False)


def update_task(db: Engine, user_id: str, task_id: int, fields: dict[str, Any]) -> TaskOut | None:
    """Write the given fields (PUT passes all of them) and bump the version, in one statement."""
    if not fields:
        return get_task(db, user_id, task_id)
    return write(db, user_id, task_id, stored(fields))


def toggle_task(db: Engine, user_id: str, task_id: int) -> TaskOut | None:
    values = {
        "completed": ~tasks.c.completed,
        "completed_at": case((tasks.c.completed, None), else_=func.now()),
    }
    return write(db, user_id, task_id, values)


def write(db: Engine, user_id: str, task_id: int, values: dict[str, Any]) -> TaskOut | None:
    statement = (
        update(tasks)
        .where(owned(user_id, task_id))
        .values(**values, version=tasks.c.version + 1, updated_at=func.now())
        .returning(*tasks.c)
    )
    return one_task(db, statement)


def delete_task(db: Engine, user_id: str, task_id: int) -> bool:
    statement = delete(tasks).where(owned(user_id, task_id)).returning(tasks.c.id)
    return bool(run(db, statement, write=True))


SORT_KEYS: dict[str, ColumnElement[Any]] = {
    "created_at": tasks.c.created_at,
    "updated_at": tasks.c.updated_at,
    "due_at": tasks.c.due_at,
    "priority": tasks.c.priority,
    "title": func.lower(tasks.c.title),
}


def list_tasks(db: Engine, user_id: str, query: ListQuery) -> tuple[list[TaskOut], Cursor | None]:
    """One page of the caller's tasks and the cursor of the next, in one statement."""
    rows = run(db, list_statement(user_id, query), write=False)
    page = rows[: query.limit]
    next_cursor = None
    if len(rows) > query.limit:
        last = page[-1]
        next_cursor = Cursor(query.sort, query.order, last["sort_key"], last["id"])
    return [to_task(row) for row in page], next_cursor


def list_statement(user_id: str, query: ListQuery) -> Select[Any]:
    """The page plus one row (to know whether another page follows), in index order.

    Each sort reads its `(user_id, key, id)` index in order; only `due_at` has nulls,
    and they sort last in both directions.
    """
    key = SORT_KEYS[query.sort]
    ascending = query.order == "asc"
    ordered = key.asc() if ascending else key.desc()
    statement = (
        select(*tasks.c, key.label("sort_key"))
        .where(tasks.c.user_id == user_id, *filters(query))
        .order_by(
            ordered.nulls_last() if query.sort == "due_at" else ordered,
            tasks.c.id.asc() if ascending else tasks.c.id.desc(),
        )
        .limit(query.limit + 1)
    )
    if query.cursor is not None:
        statement = statement.where(after(key, query.cursor, ascending))
    return statement


def filters(query: ListQuery) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if query.status != "all":
        conditions.append(tasks.c.completed == (query.status == "completed"))
    if query.priority is not None:
        conditions.append(tasks.c.priority == priority_number(query.priority))
    if query.tags:
        conditions.append(tasks.c.tags.contains(list(query.tags)))
    if query.q:
        needle = query.q.lower()
        conditions.append(
            or_(
                func.strpos(func.lower(tasks.c.title), needle) > 0,
                func.strpos(func.lower(func.coalesce(tasks.c.description, "")), needle) > 0,
            )
        )
    if query.due_before is not None:
        conditions.append(tasks.c.due_at < query.due_before)
    if query.due_after is not None:
        conditions.append(tasks.c.due_at > query.due_after)
    return conditions


def after(key: ColumnElement[Any], cursor: Cursor, ascending: bool) -> ColumnElement[bool]:
    """Rows that sort after the cursor; tasks without a due date come last either way."""
    if cursor.value is None:  # only `due_at` has nulls, and they sort last
        return and_(key.is_(None), tasks.c.id > cursor.id if ascending else tasks.c.id < cursor.id)
    position = tuple_(key, tasks.c.id)
    beyond = (
        position > (cursor.value, cursor.id) if ascending else position < (cursor.value, cursor.id)
    )
    return or_(key.is_(None), beyond) if cursor.sort == "due_at" else beyond
