"""One action on many of the caller's tasks, in the request's one statement."""

from functools import cache
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Engine,
    Select,
    Text,
    and_,
    any_,
    bindparam,
    func,
    literal,
    literal_column,
    select,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, aggregate_order_by

from backend.envelope import USER, Call, Envelope, Outcome
from backend.models import tasks
from backend.queries import to_task, write_outcome
from backend.recurrence import completion_values
from backend.rows import shown
from backend.schemas import BulkAction, BulkResult
from backend.trash import in_trash, retained

IDS = bindparam("ids", type_=ARRAY(BigInteger))
COMMA: ColumnElement[str] = literal_column("','")


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


def apply(db: Engine, call: Call, action: BulkAction, ids: list[int]) -> tuple[str, Outcome]:
    """Apply `action` to the caller's tasks `ids` that it applies to, in one statement; the
    answer's JSON text, as the statement wrote it or, for a replay, as `BulkResult` writes
    the stored outcome."""
    statement = bulk_statement(Envelope.of(call), action)
    outcome = write_outcome(db, call, statement, {IDS.key: ids, **retained()})
    if outcome.replayed_status is None:
        return cast(str, outcome.rows), outcome  # `answer`'s text
    stored = cast(dict[str, Any], outcome.rows)  # `payload`'s object
    items = [to_task(row) for row in stored["items"]]
    return BulkResult(items=items, not_found=stored["not_found"]).model_dump_json(), outcome


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
    return envelope.write(op, payload(op, IDS), succeeded=envelope.gate, answer=answer(op, IDS))


def payload(op: Any, requested: Any) -> ColumnElement[Any]:
    """`{"items": [updated tasks by id], "not_found": [the other requested ids, ascending]}`,
    the rows as the table holds them: what a replay answers from."""
    empty = func.jsonb_build_array()
    items = select(
        func.coalesce(func.jsonb_agg(aggregate_order_by(op.table_valued(), op.c.id)), empty)
    )
    asked, missing = unapplied(op, requested)
    not_found = select(
        func.coalesce(func.jsonb_agg(aggregate_order_by(asked, asked)), empty)
    ).where(missing)
    return func.jsonb_build_object(
        literal("items"), items.scalar_subquery(), literal("not_found"), not_found.scalar_subquery()
    )


def answer(op: Any, requested: Any) -> ColumnElement[str]:
    """The same outcome as the text `BulkResult` writes: the tasks as `rows.shown` writes
    them, joined by the server as a list page's are, so no task passes through Python."""
    items = select(func.string_agg(shown(op), aggregate_order_by(COMMA, op.c.id)))
    asked, missing = unapplied(op, requested)
    not_found = select(func.string_agg(asked.cast(Text), aggregate_order_by(COMMA, asked)))
    return func.concat(
        literal_column("""'{"items":['"""),
        items.scalar_subquery(),
        literal_column("""'],"not_found":['"""),
        not_found.where(missing).scalar_subquery(),
        literal_column("""']}'"""),
    )


def unapplied(op: Any, requested: Any) -> tuple[ColumnElement[int], ColumnElement[bool]]:
    """Each requested id, and whether the action did not apply to it."""
    asked = func.unnest(requested).table_valued("id").render_derived(name="asked")
    return asked.c.id, asked.c.id.not_in(select(op.c.id))
