"""One task's statements: create, read, edit, toggle, trash; always scoped to the caller.

Each statement is built once per shape (see `backend.envelope`): the task's id and the
body's values are bind parameters.
"""

from collections.abc import Mapping
from functools import cache, lru_cache
from typing import Any

from sqlalchemy import (
    BigInteger,
    BindParameter,
    ColumnElement,
    Engine,
    Integer,
    Select,
    and_,
    any_,
    bindparam,
    false,
    func,
    select,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, insert

from backend.conditions import IfMatch
from backend.envelope import USER, Call, Envelope, Outcome, Params, rows_payload, run
from backend.errors import PreconditionFailed
from backend.models import PRIORITIES, tasks
from backend.recurrence import completion_values, created_completed
from backend.schemas import TaskOut

TASK_ID = bindparam("task", type_=BigInteger())
VERSIONS = bindparam("versions", type_=ARRAY(Integer()))
"""The versions an `If-Match` lists."""
SHAPES = 512
"""Statements kept per builder: edits come in one shape per set of fields."""


def priority_number(name: str) -> int:
    return PRIORITIES.index(name) + 1


def to_task(row: Any) -> TaskOut:
    """A task row, from a statement or from a stored outcome's JSON, as the API shows it."""
    return TaskOut.model_validate({**row, "priority": PRIORITIES[row["priority"] - 1]})


def field(name: str) -> BindParameter[Any]:
    """The bind parameter that carries a body's value for the column `name`."""
    return bindparam(f"field_{name}", type_=tasks.c[name].type)


def field_values(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The values of the body's `field()` parameters, as the columns store them."""
    return {
        f"field_{name}": priority_number(value) if name == "priority" else value
        for name, value in fields.items()
    }


RULE_FIELDS = ("due_at", "recurrence", "timezone")
COMPLETION_COLUMNS = ("due_at", "recurrence", "completed", "completed_at")
"""Set together by `completion_values`: an edit that sets `completed` leaves them to it."""


def edit_values(names: tuple[str, ...], completed: bool | None) -> dict[Any, Any]:
    """An edit's UPDATE values for the fields `names`; one that sets `completed` (to
    `completed`) advances a recurring task.

    The body's own `due_at`, `recurrence` and `timezone` apply first: the completion
    advances from them.
    """
    values: dict[Any, Any] = {name: field(name) for name in names}
    if completed is None:
        return values
    given = {name: field(name) for name in RULE_FIELDS if name in names}
    completion = completion_values(true() if completed else false(), **given)
    rest = {k: v for k, v in values.items() if k not in COMPLETION_COLUMNS}
    return {**completion, **rest}


def owned() -> ColumnElement[bool]:
    """The caller's live task `TASK_ID`: a trashed one is invisible outside the trash."""
    return and_(tasks.c.id == TASK_ID, tasks.c.user_id == USER, tasks.c.deleted_at.is_(None))


def read(db: Engine, call: Call, statement: Select[Any], params: Params) -> Outcome:
    """Run a read through the envelope; the rows are the operation's own (none: no row)."""
    result = run(db, statement, {**call.params, **params}, write=False)
    rows = [row for row in result if row["id"] is not None]
    return Envelope.of(call).outcome(call, result[0], rows)


def one(outcome: Outcome) -> TaskOut | None:
    return to_task(outcome.rows[0]) if outcome.rows else None


@lru_cache(maxsize=SHAPES)
def create_statement(
    envelope: Envelope, names: tuple[str, ...], completed: bool, recurring: bool
) -> Select[Any]:
    """An INSERT of the body's fields `names`; a recurring task created completed advances."""
    columns: dict[str, ColumnElement[Any]] = {"user_id": USER}
    columns.update({name: field(name) for name in names})
    if completed:
        columns["completed_at"] = func.now()
    if recurring:
        columns.update(created_completed(*(columns[name] for name in RULE_FIELDS)))
    op = (
        insert(tasks)
        .from_select(list(columns), select(*columns.values()).where(envelope.gate))
        .returning(*tasks.c)
        .cte("op")
    )
    return envelope.write(op, rows_payload(op))


def create_task(db: Engine, call: Call, fields: dict[str, Any]) -> tuple[TaskOut, Outcome]:
    """Insert a task from every field of the body (its defaults included)."""
    completed = bool(fields.get("completed"))
    recurring = completed and bool(fields.get("recurrence"))
    statement = create_statement(Envelope.of(call), tuple(fields), completed, recurring)
    outcome = write_outcome(db, call, statement, field_values(fields))
    task = one(outcome)
    assert task is not None  # the gate passed, or the replay stored what it created
    return task, outcome


@cache
def get_statement(envelope: Envelope) -> Select[Any]:
    return envelope.read_one(tasks, owned())


def get_task(db: Engine, call: Call, task_id: int) -> tuple[TaskOut | None, Outcome]:
    outcome = read(db, call, get_statement(Envelope.of(call)), {TASK_ID.key: task_id})
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
    completed = fields.get("completed")
    names = tuple(sorted(fields))
    statement = edit_statement(Envelope.of(call), names, completed, conditional(condition))
    params = {TASK_ID.key: task_id, **field_values(fields)}
    return write(db, call, statement, params, condition)


@lru_cache(maxsize=SHAPES)
def edit_statement(
    envelope: Envelope, names: tuple[str, ...], completed: bool | None, conditional: bool
) -> Select[Any]:
    return write_statement(envelope, owned(), edit_values(names, completed), conditional)


def toggle_task(
    db: Engine, call: Call, task_id: int, condition: IfMatch = None
) -> tuple[TaskOut | None, Outcome]:
    """Toggle `completed`: completing a recurring task advances it instead."""
    statement = toggle_statement(Envelope.of(call), conditional(condition))
    return write(db, call, statement, {TASK_ID.key: task_id}, condition)


@cache
def toggle_statement(envelope: Envelope, conditional: bool) -> Select[Any]:
    return write_statement(envelope, owned(), completion_values(~tasks.c.completed), conditional)


def trash_task(
    db: Engine, call: Call, task_id: int, condition: IfMatch = None
) -> tuple[TaskOut | None, Outcome]:
    """Move a live task to the trash: a write like any other, answered with the task."""
    statement = to_trash_statement(Envelope.of(call), conditional(condition))
    return write(db, call, statement, {TASK_ID.key: task_id}, condition)


@cache
def to_trash_statement(envelope: Envelope, conditional: bool) -> Select[Any]:
    return write_statement(envelope, owned(), {"deleted_at": func.now()}, conditional)


def conditional(condition: IfMatch) -> bool:
    """Whether an `If-Match` lists versions (`*` asks only that the task exists)."""
    return isinstance(condition, frozenset)


def write_statement(
    envelope: Envelope, target: ColumnElement[bool], values: dict[Any, Any], conditional: bool
) -> Select[Any]:
    """Set `values` on the task `target` names, +1 version; `If-Match` decided in the statement.

    With a list of versions (`VERSIONS`), the task's row is locked first (`FOR UPDATE`
    returns its newest version even when a concurrent write committed after this statement
    began), and the update applies only when that version is listed; otherwise the
    statement answers the newest version for the 412.
    """
    statement = update(tasks).where(target, envelope.gate)
    extra: list[ColumnElement[Any]] = []
    if conditional:
        current = select(tasks.c.id, tasks.c.version).where(target, envelope.gate)
        current_cte = current.with_for_update().cte("current")
        matching = select(current_cte.c.id).where(current_cte.c.version == any_(VERSIONS))
        statement = statement.where(tasks.c.id.in_(matching))
        extra.append(select(current_cte.c.version).scalar_subquery().label("_version"))
    op = (
        statement.values({**values, "version": tasks.c.version + 1, "updated_at": func.now()})
        .returning(*tasks.c)
        .cte("op")
    )
    return envelope.write(op, rows_payload(op), *extra)


def write(
    db: Engine, call: Call, statement: Select[Any], params: Params, condition: IfMatch
) -> tuple[TaskOut | None, Outcome]:
    """Run a `write_statement`: the task, or a 412 naming its version when `If-Match` failed."""
    if isinstance(condition, frozenset):
        params = {**params, VERSIONS.key: sorted(condition)}
    outcome = write_outcome(db, call, statement, params)
    task = one(outcome)
    if task is None and conditional(condition) and outcome.meta["_version"] is not None:
        etag = f'"{outcome.meta["_version"]}"'
        raise PreconditionFailed(headers={**outcome.headers, "ETag": etag})
    return task, outcome


def write_outcome(db: Engine, call: Call, statement: Select[Any], params: Params) -> Outcome:
    """Run a write through the envelope: the rows are its JSON payload, live or replayed."""
    row = run(db, statement, {**call.params, **params}, write=True)[0]
    return Envelope.of(call).outcome(call, row, row["_payload"])
