"""The trash: trashed tasks listed, restored, deleted for good, and purged after retention."""

from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Engine,
    Interval,
    Select,
    and_,
    bindparam,
    delete,
    func,
    literal,
    select,
    tuple_,
)

from backend import statements
from backend.conditions import IfMatch
from backend.config import get_settings
from backend.envelope import KEY_LIFETIME, USER, Call, Envelope, Outcome, rows_payload
from backend.listing import AFTER_ID, AFTER_VALUE, LIMIT, page_of, paged, place
from backend.models import idempotency_keys, task_tombstones, tasks
from backend.pagination import Cursor
from backend.queries import TASK_ID, conditional, write, write_outcome, write_statement
from backend.rows import shown
from backend.schemas import TaskOut

RETENTION = bindparam("retention", type_=Interval())
"""TRASH_RETENTION_DAYS, a parameter of every statement that reads the trash."""

TOMBSTONE_GRACE = timedelta(days=1)
"""Tombstones outlive retention by this much: a deleting transaction may commit well after
it began (its `now()`), and a sync token older than retention is refused anyway."""

SORT = ("deleted_at", "desc")
"""The trash's one order: most recently deleted first, ties by id."""


@dataclass(frozen=True)
class TrashPage:
    limit: int
    cursor: Cursor | None
    sort: str = SORT[0]
    order: str = SORT[1]

    @property
    def params(self) -> dict[str, Any]:
        values: dict[str, Any] = {LIMIT.key: self.limit + 1, **retained()}
        if self.cursor is not None:
            values.update({AFTER_VALUE: self.cursor.value, AFTER_ID.key: self.cursor.id})
        return values


def retention() -> timedelta:
    return timedelta(days=get_settings().trash_retention_days)


def retained() -> dict[str, timedelta]:
    """The value of `RETENTION`."""
    return {RETENTION.key: retention()}


def in_trash() -> ColumnElement[bool]:
    """Trashed within the retention period: an older task is gone, whether purged yet or not."""
    return and_(tasks.c.deleted_at.is_not(None), tasks.c.deleted_at > func.now() - RETENTION)


def trashed() -> ColumnElement[bool]:
    """The caller's task `TASK_ID`, in the trash."""
    return and_(tasks.c.id == TASK_ID, tasks.c.user_id == USER, in_trash())


def list_trash(db: Engine, call: Call, page: TrashPage) -> tuple[str, Cursor | None, Outcome]:
    statement = trash_page_statement(Envelope.of(call), page.cursor is not None)
    return page_of(db, call, statement, page.params, page)


@cache
def trash_page_statement(envelope: Envelope, after_cursor: bool) -> Select[Any]:
    return paged(envelope, trash_statement(after_cursor, envelope.gate))


def trash_statement(paged: bool, gate: ColumnElement[bool] | None = None) -> Select[Any]:
    """One page plus one row, read in `ix_tasks_user_trash` order; `paged`: after a cursor."""
    order = (tasks.c.deleted_at.desc(), tasks.c.id.desc())
    statement = (
        select(shown(tasks), tasks.c.deleted_at.label("sort_key"), tasks.c.id, place(order))
        .where(tasks.c.user_id == USER, in_trash())
        .order_by(*order)
        .limit(LIMIT)
    )
    if gate is not None:
        statement = statement.where(gate)
    if paged:
        value = bindparam(AFTER_VALUE, type_=tasks.c.deleted_at.type)
        statement = statement.where(
            tuple_(tasks.c.deleted_at, tasks.c.id) < tuple_(value, AFTER_ID)
        )
    return statement


def restore_task(
    db: Engine, call: Call, task_id: int, condition: IfMatch = None
) -> tuple[TaskOut | None, Outcome]:
    statement = restore_statement(Envelope.of(call), conditional(condition))
    return write(db, call, statement, {TASK_ID.key: task_id, **retained()}, condition)


@cache
def restore_statement(envelope: Envelope, conditional: bool) -> Select[Any]:
    return write_statement(envelope, trashed(), {"deleted_at": None}, conditional)


def delete_for_good(db: Engine, call: Call, task_id: int) -> Outcome:
    """Delete a trashed task; the outcome's rows are its id, or none when it was not there."""
    statement = delete_statement(Envelope.of(call))
    return write_outcome(db, call, statement, {TASK_ID.key: task_id, **retained()})


@cache
def delete_statement(envelope: Envelope) -> Select[Any]:
    op = delete(tasks).where(trashed(), envelope.gate).returning(tasks.c.id).cte("op")
    return envelope.write(op, rows_payload(op))


def empty_trash(db: Engine, call: Call) -> Outcome:
    """Delete the caller's whole trash for good; the payload counts the tasks it showed.

    Tasks past retention that the purge has not reached yet go too, uncounted: the
    caller never saw them.
    """
    return write_outcome(db, call, empty_statement(Envelope.of(call)), retained())


@cache
def empty_statement(envelope: Envelope) -> Select[Any]:
    mine = and_(tasks.c.user_id == USER, tasks.c.deleted_at.is_not(None), envelope.gate)
    op = delete(tasks).where(mine).returning(tasks.c.deleted_at).cte("op")
    shown = func.count().filter(op.c.deleted_at > func.now() - RETENTION)
    payload = func.jsonb_build_object(literal("purged"), select(shown).scalar_subquery())
    return envelope.write(op, payload, succeeded=envelope.gate)


def purge_expired(db: Engine) -> int:
    """Delete every user's tasks trashed past retention (the trigger buries each in a
    tombstone), tombstones past retention, and idempotency keys past their lifetime."""
    expired = and_(tasks.c.deleted_at.is_not(None), tasks.c.deleted_at <= func.now() - retention())
    gone = delete(tasks).where(expired).returning(tasks.c.id).cte("gone")
    old_keys = idempotency_keys.c.created_at <= func.now() - KEY_LIFETIME
    keys = delete(idempotency_keys).where(old_keys).returning(idempotency_keys.c.key).cte("keys")
    stone = task_tombstones.c
    old_stones = stone.deleted_at <= func.now() - retention() - TOMBSTONE_GRACE
    stones = delete(task_tombstones).where(old_stones).returning(stone.task_id).cte("stones")
    count = select(func.count()).select_from(gone).scalar_subquery()
    statement = select(count.label("purged")).add_cte(keys).add_cte(stones)
    return int(statements.run(db, statement, write=True)[0]["purged"])
