"""What advancing a recurring task costs its completing UPDATE, as ratios to a plain toggle.

Each side is one statement on one psycopg connection (autocommit, no preparation, as the
app's): the floor toggles a task without a rule; the other completes a recurring one with
`recurrence.completion_values`, which computes its next occurrence in the same statement.
"""

import argparse
import os
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import case, func, true, update
from sqlalchemy.dialects import postgresql

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script: the repo root
from backend.models import tasks
from backend.recurrence import completion_values

USER = "bench-recurrence"
RULES = {
    "daily, UTC": ("FREQ=DAILY", None),
    "weekly BYDAY, Sydney": ("FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,FR", "Australia/Sydney"),
    "monthly on the 31st, New York": ("FREQ=MONTHLY", "America/New_York"),
}
SEED = """
INSERT INTO tasks (user_id, title, due_at, recurrence, timezone)
SELECT %(user)s, %(label)s, timestamptz '2026-01-31 14:00Z', %(rule)s, %(tz)s
FROM generate_series(1, %(count)s)
RETURNING id
"""
BLOCKS = 10
Statement = tuple[str, dict[str, Any]]


def compiled(values: dict[Any, Any], ids: list[int]) -> Statement:
    statement = (
        update(tasks)
        .where(tasks.c.user_id == USER, tasks.c.id.in_(ids))
        .values({**values, "version": tasks.c.version + 1, "updated_at": func.now()})
        .returning(*tasks.c)
    )
    sql = statement.compile(
        dialect=postgresql.dialect(paramstyle="pyformat"),  # type: ignore[no-untyped-call]
        compile_kwargs={"render_postcompile": True},
    )
    return str(sql), dict(sql.params)


def toggle_values() -> dict[Any, Any]:
    return {
        "completed": ~tasks.c.completed,
        "completed_at": case((tasks.c.completed, None), else_=func.now()),
    }


def block(connection: psycopg.Connection, sql: str, params: dict[str, Any], calls: int) -> float:
    """One block's mean time per statement, µs."""
    started = time.perf_counter()
    for _ in range(calls):
        connection.execute(sql, params).fetchall()
    return (time.perf_counter() - started) / calls * 1e6


def medians(connection: psycopg.Connection, statements: list[Statement], calls: int) -> list[float]:
    """Blocks of each statement in turn, so that a change of load hits all alike; the median
    block of each, after a first round that warms up."""
    rounds = [
        [block(connection, sql, params, calls) for sql, params in statements]
        for _ in range(BLOCKS + 1)
    ]
    return [statistics.median(times) for times in list(zip(*rounds[1:], strict=True))]


def seed(connection: psycopg.Connection, label: str, rule: str | None, tz: str | None) -> list[int]:
    params = {"user": USER, "label": label, "rule": rule, "tz": tz, "count": 100}
    return [row[0] for row in connection.execute(SEED, params).fetchall()]


@contextmanager
def database() -> Iterator[str]:
    from backend.local import throwaway_database, throwaway_server

    with (
        throwaway_server(os.environ.get("BENCH_DATABASE_URL"), "bench-pg-") as admin_url,
        throwaway_database(admin_url, "bench_") as url,
    ):
        yield url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=100, help="statements per block (100)")
    calls = parser.parse_args().calls
    with database() as url, psycopg.connect(url, autocommit=True, prepare_threshold=None) as db:
        db.execute("SET synchronous_commit = off")  # time the statement, not the disk's flush
        sides = [("toggle, no rule (the floor)", toggle_values(), seed(db, "plain", None, None))]
        for label, (rule, tz) in RULES.items():
            sides.append((label, completion_values(true()), seed(db, label, rule, tz)))
        one = medians(db, [compiled(values, ids[:1]) for _, values, ids in sides], calls)
        many = medians(db, [compiled(values, ids) for _, values, ids in sides], calls // 10)
        print(f"{'completing UPDATE':32} {'1 row µs':>9} {'/floor':>8} {'100 µs':>9} {'/floor':>8}")
        for (label, _, _), single, hundred in zip(sides, one, many, strict=True):
            ratios = f"{single / one[0]:7.2f}x {hundred:9.0f} {hundred / many[0]:7.2f}x"
            print(f"{label:32} {single:9.0f} {ratios}")


if __name__ == "__main__":
    main()
