"""The trash: trashed tasks listed, restored, deleted for good, and purged after retention."""

from datetime import timedelta
from typing import Any

from sqlalchemy import ColumnElement, Engine, Select, and_, delete, func, select, tuple_
from sqlalchemy.sql import Executable

from backend.config import get_settings
from backend.models import tasks
from backend.pagination import Cursor
from backend.queries import page_of, write
from backend.schemas import TaskOut

SORT = ("deleted_at", "desc")
"""The trash's one order: most recently deleted first, ties by id."""


def retention() -> timedelta:
    return timedelta(days=get_settings().trash_retention_days)


def in_trash() -> ColumnElement[bool]:
    """Trashed within the retention period: an older task is gone, whether purged yet or not."""
    return and_(tasks.c.deleted_at.is_not(None), tasks.c.deleted_at > func.now() - retention())


def trashed(user_id: str, task_id: int) -> ColumnElement[bool]:
    return and_(tasks.c.id == task_id, tasks.c.user_id == user_id, in_trash())


def list_trash(
    db: Engine, user_id: str, limit: int, cursor: Cursor | None
) -> tuple[list[TaskOut], Cursor | None]:
    return page_of(db, trash_statement(user_id, limit, cursor), limit, *SORT)


def trash_statement(user_id: str, limit: int, cursor: Cursor | None) -> Select[Any]:
    """One page plus one row, read in `ix_tasks_user_trash` order."""
    statement = (
        select(*tasks.c, tasks.c.deleted_at.label("sort_key"))
        .where(tasks.c.user_id == user_id, in_trash())
        .order_by(tasks.c.deleted_at.desc(), tasks.c.id.desc())
        .limit(limit + 1)
    )
    if cursor is not None:
        statement = statement.where(
            tuple_(tasks.c.deleted_at, tasks.c.id) < (cursor.value, cursor.id)
        )
    return statement


def restore_task(db: Engine, user_id: str, task_id: int) -> TaskOut | None:
    return write(db, user_id, task_id, {"deleted_at": None}, where=trashed(user_id, task_id))


def delete_for_good(db: Engine, user_id: str, task_id: int) -> bool:
    statement = delete(tasks).where(trashed(user_id, task_id)).returning(tasks.c.id)
    with db.connect() as conn:
        return conn.execute(statement).one_or_none() is not None


def empty_trash(db: Engine, user_id: str) -> int:
    """Delete the caller's whole trash for good; the number of tasks it showed.

    Tasks past retention that the purge has not reached yet go too, uncounted: the
    caller never saw them.
    """
    statement = delete(tasks).where(tasks.c.user_id == user_id, tasks.c.deleted_at.is_not(None))
    gone = statement.returning(tasks.c.deleted_at).cte("gone")
    shown = func.count().filter(gone.c.deleted_at > func.now() - retention())
    return scalar(db, select(shown).select_from(gone))


def purge_expired(db: Engine) -> int:
    """Delete every user's tasks trashed longer than the retention period ago."""
    expired = and_(tasks.c.deleted_at.is_not(None), tasks.c.deleted_at <= func.now() - retention())
    gone = delete(tasks).where(expired).returning(tasks.c.id).cte("gone")
    return scalar(db, select(func.count()).select_from(gone))


def scalar(db: Engine, statement: Executable) -> int:
    with db.connect() as conn:
        return int(conn.execute(statement).scalar_one())
