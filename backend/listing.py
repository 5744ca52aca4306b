"""Lists of live tasks: filters, sorts and keyset pages, read in index order."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from sqlalchemy import (
    ColumnElement,
    Engine,
    Select,
    and_,
    func,
    literal,
    or_,
    select,
    true,
    tuple_,
)

from backend.envelope import Call, Envelope, Outcome
from backend.models import SEARCHED, tasks
from backend.pagination import Cursor, Order, Sort, split_page
from backend.queries import priority_number, read, to_task
from backend.schemas import Priority, TaskOut

Status = Literal["all", "pending", "completed"]


class Page(Protocol):
    """What `page_of` needs of a list query."""

    @property
    def limit(self) -> int: ...
    @property
    def sort(self) -> str: ...
    @property
    def order(self) -> str: ...


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
    limit: int = 100
    cursor: Cursor | None = None


SORT_KEYS: dict[str, ColumnElement[Any]] = {
    "created_at": tasks.c.created_at,
    "updated_at": tasks.c.updated_at,
    "due_at": tasks.c.due_at,
    "priority": tasks.c.priority,
    "title": func.lower(tasks.c.title),
}


def list_tasks(
    db: Engine, call: Call, query: ListQuery
) -> tuple[list[TaskOut], Cursor | None, Outcome]:
    """One page of the caller's live tasks and the cursor of the next, in one statement."""
    return page_of(db, call, lambda gate: list_statement(call.user_id, query, gate), query)


def page_of(
    db: Engine, call: Call, build: Callable[[ColumnElement[bool]], Select[Any]], page: Page
) -> tuple[list[TaskOut], Cursor | None, Outcome]:
    """Run a list statement that reads one row past the limit: the tasks and the next cursor."""
    envelope = Envelope(call)
    outcome = read(db, envelope, build(envelope.gate).subquery("op"))
    rows, next_cursor = split_page(outcome.rows, page.limit, page.sort, page.order)
    return [to_task(row) for row in rows], next_cursor, outcome


def list_statement(
    user_id: str, query: ListQuery, gate: ColumnElement[bool] | None = None
) -> Select[Any]:
    """The page plus one row (to know whether another page follows), in index order.

    Each sort reads its `(user_id, key, id)` index in order; only `due_at` has nulls,
    and they sort last in both directions.
    """
    key = SORT_KEYS[query.sort]
    ascending = query.order == "asc"
    ordered = key.asc() if ascending else key.desc()
    statement = (
        select(*tasks.c, key.label("sort_key"))
        .where(tasks.c.user_id == user_id, tasks.c.deleted_at.is_(None), *filters(query))
        .where(true() if gate is None else gate)
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
    if query.q:  # folded by PostgreSQL on both sides: Python folds some letters otherwise
        pattern = literal("%") + func.lower(escape_like(query.q)) + literal("%")
        conditions.append(or_(*(text.like(pattern, escape="\\") for text in SEARCHED)))
    if query.due_before is not None:
        conditions.append(tasks.c.due_at < query.due_before)
    if query.due_after is not None:
        conditions.append(tasks.c.due_at > query.due_after)
    return conditions


def escape_like(text: str) -> str:
    """`text` as a LIKE pattern matching itself only: `%`, `_` and the escape `\\` escaped."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def after(key: ColumnElement[Any], cursor: Cursor, ascending: bool) -> ColumnElement[bool]:
    """Rows that sort after the cursor; tasks without a due date come last either way."""
    if cursor.value is None:  # only `due_at` has nulls, and they sort last
        return and_(key.is_(None), tasks.c.id > cursor.id if ascending else tasks.c.id < cursor.id)
    position = tuple_(key, tasks.c.id)
    beyond = (
        position > (cursor.value, cursor.id) if ascending else position < (cursor.value, cursor.id)
    )
    return or_(key.is_(None), beyond) if cursor.sort == "due_at" else beyond
