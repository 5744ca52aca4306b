"""The trash: trashed tasks listed, restored, deleted for good, and purged after retention."""

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import ColumnElement, Engine, Select, and_, delete, func, literal, select, tuple_

from backend.conditions import IfMatch
from backend.config import get_settings
from backend.envelope import KEY_LIFETIME, Call, Envelope, Outcome, rows_payload, run
from backend.listing import page_of
from backend.models import idempotency_keys, task_tombstones, tasks
from backend.pagination import Cursor
from backend.queries import write, write_outcome
from backend.schemas import TaskOut

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


def retention() -> timedelta:
    return timedelta(days=get_settings().trash_retention_days)


def in_trash() -> ColumnElement[bool]:
    """Trashed within the retention period: an older task is gone, whether purged yet or not."""
    return and_(tasks.c.deleted_at.is_not(None), tasks.c.deleted_at > func.now() - retention())


def trashed(user_id: str, task_id: int) -> ColumnElement[bool]:
    return and_(tasks.c.id == task_id, tasks.c.user_id == user_id, in_trash())


def list_trash(
    db: Engine, call: Call, page: TrashPage
) -> tuple[list[TaskOut], Cursor | None, Outcome]:
    build = lambda gate: trash_statement(call.user_id, page.limit, page.cursor, gate)  # noqa: E731
    return page_of(db, call, build, page)


def trash_statement(
    user_id: str, limit: int, cursor: Cursor | None, gate: ColumnElement[bool] | None = None
) -> Select[Any]:
    """One page plus one row, read in `ix_tasks_user_trash` order."""
    statement = (
        select(*tasks.c, tasks.c.deleted_at.label("sort_key"))
        .where(tasks.c.user_id == user_id, in_trash())
        .order_by(tasks.c.deleted_at.desc(), tasks.c.id.desc())
        .limit(limit + 1)
    )
    if gate is not None:
        statement = statement.where(gate)
    if cursor is not None:
        statement = statement.where(
            tuple_(tasks.c.deleted_at, tasks.c.id) < (cursor.value, cursor.id)
        )
    return statement


def restore_task(
    db: Engine, call: Call, task_id: int, condition: IfMatch = None
) -> tuple[TaskOut | None, Outcome]:
    return write(db, call, trashed(call.user_id, task_id), {"deleted_at": None}, condition)


def delete_for_good(db: Engine, call: Call, task_id: int) -> Outcome:
    """Delete a trashed task; the outcome's rows are its id, or none when it was not there."""
    envelope = Envelope(call)
    target = and_(trashed(call.user_id, task_id), envelope.gate)
    op = delete(tasks).where(target).returning(tasks.c.id).cte("op")
    return write_outcome(db, envelope, envelope.write(op, rows_payload(op)))


def empty_trash(db: Engine, call: Call) -> Outcome:
    """Delete the caller's whole trash for good; the payload counts the tasks it showed.

    Tasks past retention that the purge has not reached yet go too, uncounted: the
    caller never saw them.
    """
    envelope = Envelope(call)
    mine = and_(tasks.c.user_id == call.user_id, tasks.c.deleted_at.is_not(None), envelope.gate)
    op = delete(tasks).where(mine).returning(tasks.c.deleted_at).cte("op")
    shown = func.count().filter(op.c.deleted_at > func.now() - retention())
    payload = func.jsonb_build_object(literal("purged"), select(shown).scalar_subquery())
    return write_outcome(db, envelope, envelope.write(op, payload, succeeded=envelope.gate))


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
    return int(run(db, statement, write=True)[0]["purged"])
