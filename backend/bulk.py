"""One action on many of the caller's tasks, in the request's one statement."""

from functools import cache
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Engine,
    Select,
    and_,
    any_,
    bindparam,
    func,
    literal,
    select,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, aggregate_order_by

from backend.envelope import USER, Call, Envelope, Outcome
from backend.models import tasks
from backend.queries import to_task, write_outcome
from backend.recurrence import completion_values
from backend.schemas import BulkAction, BulkResult
from backend.trash import in_trash, retained

IDS = bindparam("ids", type_=ARRAY(BigInteger))


def applies(action: BulkAction) -> ColumnElement[bool]:
    """The tasks an action applies to; any other id is answered in `not_found`."""
    live = tasks.c.deleted_at.is_(None)
    conditions: dict[str, ColumnElement[bool]] = {
        "complete": and_(live, tasks.c.completed.is_(False)),
        "reopen": and_(live, tasks.c.completed),
        "delete": live,
        "restore": in_trash(),
    }
    return conditions[action]


def changes(action: BulkAction) -> dict[Any, Any]:
    """What an action sets; completing advances each recurring task by its own rule."""
    if action == "complete":
        return completion_values(true())
    if action == "reopen":
        return {"completed": False, "completed_at": None}
    return {"deleted_at": func.now() if action == "delete" else None}


def apply(db: Engine, call: Call, action: BulkAction, ids: list[int]) -> tuple[BulkResult, Outcome]:
    """Apply `action` to the caller's tasks `ids` that it applies to, in one statement."""
    statement = bulk_statement(Envelope.of(call), action)
    outcome = write_outcome(db, call, statement, {IDS.key: ids, **retained()})
    body = cast(dict[str, Any], outcome.rows)  # this payload is an object, not rows
    result = BulkResult(items=[to_task(row) for row in body["items"]], not_found=body["not_found"])
    return result, outcome


@cache
def bulk_statement(envelope: Envelope, action: BulkAction) -> Select[Any]:
    """Lock the tasks in id order (two bulk calls of one user never deadlock), then update them.

    The payload is built in SQL: the updated tasks by id, and the requested ids that were
    not updated; it is stored under the Idempotency-Key even when nothing applied.
    """
    target = and_(tasks.c.user_id == USER, tasks.c.id == any_(IDS), applies(action))
    locked = (
        select(tasks.c.id)
        .where(target, envelope.gate)
        .order_by(tasks.c.id)
        .with_for_update()
        .cte("locked")
    )
    op = (
        update(tasks)
        .where(tasks.c.id.in_(select(locked.c.id)), target)
        .values({**changes(action), "version": tasks.c.version + 1, "updated_at": func.now()})
        .returning(*tasks.c)
        .cte("op")
    )
    return envelope.write(op, payload(op, IDS), succeeded=envelope.gate)


def payload(op: Any, requested: Any) -> ColumnElement[Any]:
    """`{"items": [updated tasks by id], "not_found": [the other requested ids, ascending]}`."""
    empty = func.jsonb_build_array()
    items = select(
        func.coalesce(func.jsonb_agg(aggregate_order_by(op.table_valued(), op.c.id)), empty)
    )
    asked = func.unnest(requested).table_valued("id").render_derived(name="asked")
    missing = select(
        func.coalesce(func.jsonb_agg(aggregate_order_by(asked.c.id, asked.c.id)), empty)
    ).where(asked.c.id.not_in(select(op.c.id)))
    return func.jsonb_build_object(
        literal("items"), items.scalar_subquery(), literal("not_found"), missing.scalar_subquery()
    )
