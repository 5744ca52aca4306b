"""Counts of the caller's tasks for a dashboard, in the request's one statement."""

from functools import cache
from typing import Any

from sqlalchemy import ColumnElement, Engine, Select, and_, func, select

from backend.envelope import USER, Call, Envelope, Outcome, run
from backend.models import tasks
from backend.schemas import Stats
from backend.trash import in_trash, retained

COUNTS = ("total", "pending", "completed", "overdue", "trashed")


def stats_statement(gate: ColumnElement[bool]) -> Select[Any]:
    """One row of counts: live tasks (`ix_tasks_user_created`) and the trash (its own index).

    Each count is an aggregate without GROUP BY, so the row exists even when the gate is
    shut (a rate-limited call): the envelope answers for it.
    """
    live = and_(tasks.c.user_id == USER, tasks.c.deleted_at.is_(None), gate)
    pending = tasks.c.completed.is_(False)
    counts = select(
        func.count().label("total"),
        func.count().filter(pending).label("pending"),
        func.count().filter(tasks.c.completed).label("completed"),
        func.count().filter(pending, tasks.c.due_at < func.now()).label("overdue"),
    ).where(live)
    trashed = select(func.count()).where(tasks.c.user_id == USER, in_trash(), gate)
    return counts.add_columns(trashed.scalar_subquery().label("trashed"))


@cache
def stats_page_statement(envelope: Envelope) -> Select[Any]:
    return envelope.read(stats_statement(envelope.gate).subquery("op"))


def task_stats(db: Engine, call: Call) -> tuple[Stats, Outcome]:
    envelope = Envelope.of(call)
    row = run(db, stats_page_statement(envelope), {**call.params, **retained()}, write=False)[0]
    outcome = envelope.outcome(call, row, [row])
    return Stats.model_validate({name: row[name] for name in COUNTS}), outcome
