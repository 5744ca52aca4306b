"""Lists of live tasks: filters, sorts and keyset pages, read in index order."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any, Literal, NamedTuple, Protocol

from sqlalchemy import (
    ColumnElement,
    Engine,
    Integer,
    Select,
    and_,
    bindparam,
    func,
    literal_column,
    or_,
    select,
    true,
    tuple_,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by

from backend.envelope import USER, Call, Envelope, Outcome, Params, run
from backend.models import SEARCHED, tasks
from backend.pagination import Cursor, Order, Sort
from backend.queries import SHAPES, priority_number
from backend.rows import shown
from backend.schemas import Priority

Status = Literal["all", "pending", "completed"]
LIMIT = bindparam("page_limit", type_=Integer())
"""Rows to read: the page's size, plus one to know whether another page follows."""
PAGE_SIZE = bindparam("page_size", type_=Integer())
"""Rows to serve: the page's size."""
AFTER_VALUE = "after_value"
AFTER_ID = bindparam("after_id", type_=tasks.c.id.type)
"""The cursor's sort value (a parameter of the sort key's type) and id: the page starts
after them."""


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

    @property
    def shape(self) -> "ListShape":
        cursor = None if self.cursor is None else self.cursor.value is not None
        return ListShape(
            self.status,
            self.priority is not None,
            bool(self.tags),
            bool(self.q),
            self.due_before is not None,
            self.due_after is not None,
            self.sort,
            self.order,
            cursor,
        )

    @property
    def params(self) -> dict[str, Any]:
        """The values of its statement's bind parameters (`FILTERS`, the limit, the cursor)."""
        values: dict[str, Any] = {
            "filter_priority": priority_number(self.priority) if self.priority else None,
            "filter_tags": list(self.tags),
            "filter_pattern": f"%{escape_like(self.q)}%" if self.q else None,
            "filter_due_before": self.due_before,
            "filter_due_after": self.due_after,
            LIMIT.key: self.limit + 1,
        }
        if self.cursor is not None:
            values.update({AFTER_VALUE: self.cursor.value, AFTER_ID.key: self.cursor.id})
        return values


class ListShape(NamedTuple):
    """What a list statement's SQL depends on; the values are bind parameters."""

    status: Status
    priority: bool
    tags: bool
    q: bool
    due_before: bool
    due_after: bool
    sort: str
    order: str
    cursor: bool | None
    """None: the first page; else whether the cursor holds a sort value (not a null due_at)."""


SORT_KEYS: dict[str, ColumnElement[Any]] = {
    "created_at": tasks.c.created_at,
    "updated_at": tasks.c.updated_at,
    "due_at": tasks.c.due_at,
    "priority": tasks.c.priority,
    "title": func.lower(tasks.c.title),
}


def list_tasks(db: Engine, call: Call, query: ListQuery) -> tuple[str, Cursor | None, Outcome]:
    """One page of the caller's live tasks (a JSON array's text) and the cursor of the next,
    in one statement."""
    statement = list_page_statement(Envelope.of(call), query.shape)
    return page_of(db, call, statement, query.params, query)


@lru_cache(maxsize=SHAPES)
def list_page_statement(envelope: Envelope, shape: ListShape) -> Select[Any]:
    statement = paged(envelope, list_statement(shape, envelope.gate))
    if shape.q or shape.tags:  # how many rows match decides the plan: planned at each use
        statement = statement.execution_options(prepare=False)
    return statement


def paged(envelope: Envelope, rows: Select[Any]) -> Select[Any]:
    """A list statement's rows as one row: the page's tasks joined in order (`shown`), the
    rows read, and the sort value and id of the page's last task.

    The rows carry their place (`n`), so the page is aggregated in the list's order
    however the server reads them, and a page costs one result row, not one per task.
    """
    op = rows.subquery("op")
    served, last = op.c.n <= PAGE_SIZE, op.c.n == PAGE_SIZE
    in_order: ColumnElement[str] = aggregate_order_by(literal_column("','"), op.c.n)
    page = select(
        func.string_agg(op.c.shown, in_order).filter(served).label("tasks"),
        func.count().label("read"),
        func.max(op.c.sort_key).filter(last).label("last_sort_key"),
        func.max(op.c.id).filter(last).label("last_id"),
    )
    return envelope.read(page.subquery("page"))


def page_of(
    db: Engine, call: Call, statement: Select[Any], params: Params, page: Page
) -> tuple[str, Cursor | None, Outcome]:
    """Run a `paged` statement: the page's JSON array text and the next page's cursor."""
    values = {**call.params, **params, PAGE_SIZE.key: page.limit}
    row = run(db, statement, values, write=False)[0]
    outcome = Envelope.of(call).outcome(call, row, [])
    more = row["read"] > page.limit  # an aggregate: its one row is always there
    cursor = Cursor(page.sort, page.order, row["last_sort_key"], row["last_id"]) if more else None
    return f"[{row['tasks'] or ''}]", cursor, outcome


def list_statement(shape: ListShape, gate: ColumnElement[bool] | None = None) -> Select[Any]:
    """The page plus one row (to know whether another page follows), in index order.

    Each sort reads its `(user_id, key, id)` index in order; only `due_at` has nulls,
    and they sort last in both directions.
    """
    key = SORT_KEYS[shape.sort]
    ascending = shape.order == "asc"
    ordered = key.asc() if ascending else key.desc()
    order = (
        ordered.nulls_last() if shape.sort == "due_at" else ordered,
        tasks.c.id.asc() if ascending else tasks.c.id.desc(),
    )
    statement = (
        select(shown(tasks), key.label("sort_key"), tasks.c.id, place(order))
        .where(tasks.c.user_id == USER, tasks.c.deleted_at.is_(None), *filters(shape))
        .where(true() if gate is None else gate)
        .order_by(*order)
        .limit(LIMIT)
    )
    if shape.cursor is not None:
        statement = statement.where(after(key, shape.sort, shape.cursor, ascending))
    return statement


def place(order: Sequence[ColumnElement[Any]]) -> ColumnElement[int]:
    """A row's place in a list's order (`n`, from 1), for `paged`."""
    return func.row_number().over(order_by=order).label("n")


FILTERS = {
    "priority": bindparam("filter_priority", type_=tasks.c.priority.type),
    "tags": bindparam("filter_tags", type_=tasks.c.tags.type),
    "pattern": bindparam("filter_pattern", type_=tasks.c.title.type),
    "due_before": bindparam("filter_due_before", type_=tasks.c.due_at.type),
    "due_after": bindparam("filter_due_after", type_=tasks.c.due_at.type),
}


def filters(shape: ListShape) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if shape.status != "all":
        conditions.append(tasks.c.completed == (shape.status == "completed"))
    if shape.priority:
        conditions.append(tasks.c.priority == FILTERS["priority"])
    if shape.tags:
        conditions.append(tasks.c.tags.contains(FILTERS["tags"]))
    if shape.q:  # folded by PostgreSQL on both sides: Python folds some letters otherwise
        pattern = func.lower(FILTERS["pattern"])
        conditions.append(or_(*(text.like(pattern, escape="\\") for text in SEARCHED)))
    if shape.due_before:
        conditions.append(tasks.c.due_at < FILTERS["due_before"])
    if shape.due_after:
        conditions.append(tasks.c.due_at > FILTERS["due_after"])
    return conditions


def escape_like(text: str) -> str:
    """`text` as a LIKE pattern matching itself only: `%`, `_` and the escape `\\` escaped."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def after(key: ColumnElement[Any], sort: str, valued: bool, ascending: bool) -> ColumnElement[bool]:
    """Rows that sort after the cursor; tasks without a due date come last either way."""
    if not valued:  # only `due_at` has nulls, and they sort last
        return and_(key.is_(None), tasks.c.id > AFTER_ID if ascending else tasks.c.id < AFTER_ID)
    value = bindparam(AFTER_VALUE, type_=key.type)
    position = tuple_(key, tasks.c.id)
    cursor = tuple_(value, AFTER_ID)
    beyond = position > cursor if ascending else position < cursor
    return or_(key.is_(None), beyond) if sort == "due_at" else beyond
