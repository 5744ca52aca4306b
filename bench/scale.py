"""The data path at scale: 1,000,000 tasks, 100,000 of them one user's (see bench/README.md).

Each operation runs through the app's own functions (the statement as the app builds it,
`statements.run`, the response models), timed warm, with its EXPLAIN (ANALYZE, BUFFERS).
A page 90,000 rows deep is timed beside the first page: keyset pagination should make
them cost the same. A sync from an old token (issued before 1,000 of the user's tasks were
edited) should read only what changed since.
"""

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import true

ROOT = Path(__file__).resolve().parent.parent
BIG = "scale-big"
WORDS = "ARRAY['milk','report','call','invoice','garden','review']"
SEED = f"""
INSERT INTO tasks (user_id, title, description, priority, tags, due_at,
                   completed, completed_at, created_at, updated_at, deleted_at)
SELECT CASE WHEN i <= %(big)s::int THEN '{BIG}' ELSE 'user-' || (i %% %(others)s::int) END,
       'Task ' || i || ' ' || ({WORDS})[1 + i %% 6],
       CASE WHEN i %% 3 = 0 THEN 'Notes ' || md5(i::text) END,
       1 + i %% 3,
       (CASE WHEN i %% 100 = 7 THEN '{{urgent,work}}'
             WHEN i %% 4 = 0 THEN '{{home}}' WHEN i %% 4 = 1 THEN '{{work}}'
             ELSE '{{}}' END)::text[],
       CASE WHEN i %% 5 <> 0 THEN now() + (i %% 97 - 30) * interval '1 day' END,
       i %% 4 = 0, CASE WHEN i %% 4 = 0 THEN now() END,
       now() - i * interval '1 second', now() - i * interval '1 second',
       CASE WHEN i %% 50 = 0 THEN now() - (i %% 20) * interval '1 day' END
FROM generate_series(%(start)s::int, %(stop)s::int) AS i
"""
BATCH = 100_000
RUNS = 20
EDITED = 1_000
"""The big user's tasks edited after the old sync token was issued."""


def seed(url: str, total: int, big: int) -> float:
    """Seconds to write `total` tasks (`big` of them BIG's, the rest 100 a user) and ANALYZE."""
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as connection:
        for start in range(1, total + 1, BATCH):
            stop = min(start + BATCH - 1, total)
            params = {"big": big, "others": max(1, (total - big) // 100), "start": start}
            connection.execute(SEED, {**params, "stop": stop})
        connection.execute("VACUUM ANALYZE tasks")
    return time.perf_counter() - started


def explain(url: str, statement: Any, params: dict[str, Any]) -> str:
    from backend import db

    compiled = statement.compile(dialect=db.get_engine().dialect)
    values = compiled.construct_params({"caller": BIG, **params})
    with psycopg.connect(url, autocommit=True) as connection:
        rows = connection.execute(f"EXPLAIN (ANALYZE, BUFFERS) {compiled}", values)
        return "\n".join(f"    {row[0]}" for row in rows)


def timed(runs: dict[str, Callable[[], object]]) -> dict[str, float]:
    """Median ms of RUNS warm calls of each, taking turns call by call so drift hits all alike."""
    times: dict[str, list[float]] = {label: [] for label in runs}
    for round_ in range(RUNS + 1):  # the first round warms up
        for label, run in runs.items():
            started = time.perf_counter()
            run()
            if round_:
                times[label].append((time.perf_counter() - started) * 1000)
    return {label: statistics.median(values) for label, values in times.items()}


def deep_cursor(url: str, offset: int) -> Any:
    """The cursor a client holds after paging `offset` rows down the default sort."""
    from backend.pagination import Cursor

    with psycopg.connect(url) as connection:
        row = connection.execute(
            "SELECT created_at, id FROM tasks WHERE user_id = %s AND deleted_at IS NULL"
            " ORDER BY created_at DESC, id DESC OFFSET %s LIMIT 1",
            [BIG, offset - 1],
        ).fetchone()
    assert row is not None, "fewer live tasks than the offset"
    return Cursor("created_at", "desc", row[0], row[1])


Case = tuple[Callable[[], object], Any, dict[str, Any]]


def old_token(url: str) -> Any:
    """A token as a finished full sync would hold it, then EDITED of the user's tasks edited."""
    from backend import sync

    with psycopg.connect(url, autocommit=True) as connection:
        row = connection.execute(
            "SELECT pg_snapshot_xmin(s)::text, pg_snapshot_xmax(s)::text"
            " FROM pg_current_snapshot() AS s"
        ).fetchone()
        assert row is not None
        connection.execute(
            "UPDATE tasks SET title = title || ' (edited)' WHERE id IN"
            " (SELECT id FROM tasks WHERE user_id = %s ORDER BY id LIMIT %s)",
            [BIG, EDITED],
        )
        connection.execute("ANALYZE tasks")
    return sync.Token((int(row[1]), 0), floor=int(row[0]), issued=int(time.time()))


def cases(url: str, depth: int) -> dict[str, Case]:
    """Each operation: the app's call, and the statement it sends with its values (EXPLAIN)."""
    from backend import listing, sync, trash
    from backend.db import get_engine
    from backend.envelope import Call

    engine, call = get_engine(), Call(user_id=BIG, rate_limit=10**9)
    queries = {
        "first page (50, created_at desc)": listing.ListQuery(limit=50),
        f"page {depth:,} rows deep (cursor)": listing.ListQuery(
            limit=50, cursor=deep_cursor(url, depth)
        ),
        "q=invoice (common word, 1 in 6)": listing.ListQuery(limit=50, q="invoice"),
        "q=task 4242 (rare, 11 matches)": listing.ListQuery(limit=50, q="task 4242"),
        "tag=home (1 in 4)": listing.ListQuery(limit=50, tags=("home",)),
        "tag=urgent (1 in 100)": listing.ListQuery(limit=50, tags=("urgent",)),
    }

    def listed(query: listing.ListQuery) -> Callable[[], object]:
        return lambda: listing.list_tasks(engine, call, query)

    found: dict[str, Case] = {
        label: (listed(query), listing.list_statement(query.shape), query.params)
        for label, query in queries.items()
    }
    page = trash.TrashPage(limit=50, cursor=None)
    found["trash list (50)"] = (
        lambda: trash.list_trash(engine, call, page),
        trash.trash_statement(paged=False),
        page.params,
    )
    token = old_token(url)
    since = token.encode()
    found[f"sync from an old token ({EDITED:,} edited since; 50)"] = (
        lambda: sync.changes(engine, call, since, 50),
        sync.task_rows(sync.shape_of(token), true()),
        sync.params_of(token, 50),
    )
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=1_000_000, help="in all (1,000,000)")
    parser.add_argument("--big", type=int, default=100_000, help="the one user's (100,000)")
    parser.add_argument("--depth", type=int, default=90_000, help="the deep page's offset")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from backend.local import throwaway_database, throwaway_server

    with (
        throwaway_server(os.environ.get("BENCH_DATABASE_URL"), "scale-pg-") as admin_url,
        throwaway_database(admin_url, "scale_") as url,
    ):
        seconds = seed(url, args.tasks, args.big)
        print(f"Seeded {args.tasks:,} tasks ({args.big:,} of one user's) in {seconds:.0f} s")
        os.environ.update(DATABASE_URL=url, BETTER_AUTH_SECRET="scale-bench-secret-long-enough")
        os.environ.pop("APP_SECRETS_ARN", None)
        found = cases(url, args.depth)
        results = timed({label: run for label, (run, _, _) in found.items()})
        for label, (_, statement, params) in found.items():
            print(
                f"\n== {label}: {results[label]:.2f} ms (median of {RUNS}, warm, through the app)"
            )
            print(explain(url, statement, params))
        first, deep = list(results.values())[:2]
        print(f"\nSummary (median ms of {RUNS} warm calls through the app's functions)")
        for label, ms in results.items():
            print(f"  {label:40} {ms:8.2f}")
        print(f"  deep page / first page: {deep / first:.2f}x (goal: at most 1.5x)")


if __name__ == "__main__":
    main()
