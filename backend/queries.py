"""One task's statements: create, read, edit, toggle, trash; always scoped to the caller."""

from typing import Any

from sqlalchemy import (
    ColumnElement,
    Engine,
    Subquery,
    and_,
    false,
    func,
    literal,
    select,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import insert

from backend.conditions import IfMatch
from backend.envelope import Call, Envelope, Outcome, rows_payload, run
from backend.errors import PreconditionFailed
from backend.models import PRIORITIES, tasks
from backend.recurrence import completion_values, created_completed
from backend.schemas import TaskOut


def priority_number(name: str) -> int:
    return PRIORITIES.index(name) + 1


def to_task(row: Any) -> TaskOut:
    """A task row, from a statement or from a stored outcome's JSON, as the API shows it."""
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


RULE_FIELDS = ("due_at", "recurrence", "timezone")
COMPLETION_COLUMNS = ("due_at", "recurrence", "completed", "completed_at")
"""Set together by `completion_values`: an edit that sets `completed` leaves them to it."""


def edit_values(fields: dict[str, Any]) -> dict[Any, Any]:
    """An edit's UPDATE values; one that sets `completed` advances a recurring task.

    The body's own `due_at`, `recurrence` and `timezone` apply first: the completion
    advances from them.
    """
    if "completed" not in fields:
        return stored(fields)
    given = {
        name: literal(fields[name], tasks.c[name].type) for name in RULE_FIELDS if name in fields
    }
    completion = completion_values(true() if fields["completed"] else false(), **given)
    rest = {k: v for k, v in stored(fields).items() if k not in COMPLETION_COLUMNS}
    return {**completion, **rest}


def owned(user_id: str, task_id: int) -> ColumnElement[bool]:
    """The caller's live task `task_id`: a trashed one is invisible outside the trash."""
    return and_(tasks.c.id == task_id, tasks.c.user_id == user_id, tasks.c.deleted_at.is_(None))


def read(db: Engine, envelope: Envelope, rows: Subquery) -> Outcome:
    """Run a read through the envelope; the rows are the operation's own (none: no row)."""
    result = run(db, envelope.read(rows), write=False)
    return envelope.outcome(result[0], [row for row in result if row["id"] is not None])


def one(outcome: Outcome) -> TaskOut | None:
    return to_task(outcome.rows[0]) if outcome.rows else None


def create_task(db: Engine, call: Call, fields: dict[str, Any]) -> tuple[TaskOut, Outcome]:
    envelope = Envelope(call)
    values = {"user_id": call.user_id, **stored(fields)}
    if values.get("completed"):
        values["completed_at"] = func.now()
    columns: dict[str, ColumnElement[Any]] = {
        k: v if isinstance(v, ColumnElement) else literal(v, tasks.c[k].type)
        for k, v in values.items()
    }
    if values.get("completed") and values.get("recurrence"):
        columns.update(created_completed(*(columns[name] for name in RULE_FIELDS)))
    row = select(*columns.values())
    op = (
        insert(tasks)
        .from_select(list(columns), row.where(envelope.gate))
        .returning(*tasks.c)
        .cte("op")
    )
    outcome = write_outcome(db, envelope, envelope.write(op, rows_payload(op)))
    task = one(outcome)
    assert task is not None  # the gate passed, or the replay stored what it created
    return task, outcome


def get_task(db: Engine, call: Call, task_id: int) -> tuple[TaskOut | None, Outcome]:
    envelope = Envelope(call)
    rows = select(*tasks.c).where(owned(call.user_id, task_id), envelope.gate).subquery("op")
    outcome = read(db, envelope, rows)
    return one(outcome), outcome


def update_task(
    db: Engine, call: Call, task_id: int, fields: dict[str, Any], condition: IfMatch = None
) -> tuple[TaskOut | None, Outcome]:
    """Write the given fields and bump the version, in one statement; no fields is a read."""
    if not fields:
        task, outcome = get_task(db, call, task_id)
        if task is not None and isinstance(condition, frozenset) and task.version not in condition:
            raise PreconditionFailed(headers={**outcome.headers, "ETag": f'"{task.version}"'})
        return task, outcome
    return write(db, call, owned(call.user_id, task_id), edit_values(fields), condition)


def toggle_task(
    db: Engine, call: Call, task_id: int, condition: IfMatch = None
) -> tuple[TaskOut | None, Outcome]:
    """Toggle `completed`: completing a recurring task advances it instead."""
    values = completion_values(~tasks.c.completed)
    return write(db, call, owned(call.user_id, task_id), values, condition)


def trash_task(
    db: Engine, call: Call, task_id: int, condition: IfMatch = None
) -> tuple[TaskOut | None, Outcome]:
    """Move a live task to the trash: a write like any other, answered with the task."""
    return write(db, call, owned(call.user_id, task_id), {"deleted_at": func.now()}, condition)


def write(
    db: Engine,
    call: Call,
    target: ColumnElement[bool],
    values: dict[Any, Any],
    condition: IfMatch = None,
) -> tuple[TaskOut | None, Outcome]:
    """Set `values` on the task `target` names, +1 version; `If-Match` decided in the statement.

    With a list of versions, the task's row is locked first (`FOR UPDATE` returns its
    newest version even when a concurrent write committed after this statement began),
    and the update applies only when that version is listed; otherwise the statement
    answers the newest version for the 412.
    """
    envelope = Envelope(call)
    statement = update(tasks).where(target, envelope.gate)
    extra: list[ColumnElement[Any]] = []
    if isinstance(condition, frozenset):
        current = select(tasks.c.id, tasks.c.version).where(target, envelope.gate)
        current_cte = current.with_for_update().cte("current")
        matching = select(current_cte.c.id).where(current_cte.c.version.in_(condition))
        statement = statement.where(tasks.c.id.in_(matching))
        extra.append(select(current_cte.c.version).scalar_subquery().label("_version"))
    op = (
        statement.values({**values, "version": tasks.c.version + 1, "updated_at": func.now()})
        .returning(*tasks.c)
        .cte("op")
    )
    outcome = write_outcome(db, envelope, envelope.write(op, rows_payload(op), *extra))
    task = one(outcome)
    if task is None and extra and outcome.meta["_version"] is not None:
        etag = f'"{outcome.meta["_version"]}"'
        raise PreconditionFailed(headers={**outcome.headers, "ETag": etag})
    return task, outcome


def write_outcome(db: Engine, envelope: Envelope, statement: Any) -> Outcome:
    """Run a write through the envelope: the rows are its JSON payload, live or replayed."""
    row = run(db, statement, write=True)[0]
    return envelope.outcome(row, row["_payload"])
