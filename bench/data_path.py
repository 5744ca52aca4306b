"""The data path's speed, as ratios to a floor measured in the same run (see bench/README.md).

Warm: each operation through the real Lambda entry, against raw psycopg sending the
operation's natural single statement plus `json.dumps` of the rows (and against the app's
own SQL sent the same way). Cold: a fresh interpreter importing the entry and serving its
first request, against one importing only what the app cannot avoid and sending the same
query. Throughput: 32 clients against uvicorn, beside 32 connections sending the statement.
"""

import argparse
import compileall
import contextlib
import copy
import http.client
import json
import logging
import multiprocessing
import os
import queue
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import types
import zipfile
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import psycopg
import sqlalchemy.orm
import sqlmodel
from psycopg.rows import dict_row
from sqlalchemy import event, make_url

ROOT = Path(__file__).resolve().parent.parent
SITE = Path(sqlmodel.__file__).parent.parent
"""Where this interpreter's packages are (the floor's sqlmodel and ORM come from there)."""
SAMPLE = json.loads((ROOT / "tests/events/http_api_v2.json").read_text())
SECRET = "bench-secret-that-is-long-enough-for-hs256"
CONTEXT = types.SimpleNamespace(aws_request_id="bench", get_remaining_time_in_millis=lambda: 30_000)
SMALL, LARGE, WRITER = "bench-50", "bench-5000", "bench-writer"
LIVE, TRASHED = "bench-live", "bench-trashed"  # a fresh task for each delete, each restore
BULK, BATCH = "bench-bulk", 10  # ten fresh tasks for each bulk delete
BLOCKS = 10
CLIENTS = 32
ROW = "{:32} {:>8} {:>8} {:>9} {:>10} {:>9} {:>10} {:>6}"
COLUMNS = ("app p50", "app p95", "floor p50", "app/floor", "same p50", "app/same", "trips")
DEPENDENCIES = "import fastapi, mangum, sqlmodel, psycopg, jwt, pydantic_settings"
LIST_50 = (
    "SELECT * FROM tasks WHERE user_id = %(user)s AND deleted_at IS NULL"
    " ORDER BY created_at DESC, id DESC LIMIT 50"
)
QUERY_FLOOR = f"""
{DEPENDENCIES}
import json, os
from psycopg.rows import dict_row
connection = psycopg.connect(
    os.environ["DATABASE_URL"], autocommit=True, prepare_threshold=None, row_factory=dict_row
)
rows = connection.execute({LIST_50!r}, {{"user": {SMALL!r}}}).fetchall()
json.dumps(rows, default=str)
"""
# Peak resident memory of this process image: VmHWM, reset by exec (getrusage's ru_maxrss
# is not: a child of a large parent reports the parent's size).
MEMORY = """
import json as _json
_peak = [line for line in open("/proc/self/status") if line.startswith("VmHWM:")]
print(_json.dumps({"maxrss_kb": int(_peak[0].split()[1])}), flush=True)
"""
SIZE_LINES = ("Unzipped", "Zipped")
"""The lines of `scripts/package_lambda.py`'s output that give the sizes and their goals."""
EXIT = "\nimport os; os._exit(0)"  # interpreter shutdown is no part of a cold start
SEED = """
INSERT INTO tasks (user_id, title, description, priority, tags, due_at,
                   completed, completed_at, created_at, updated_at)
SELECT %(user)s, 'Task ' || i, CASE WHEN i %% 3 = 0 THEN 'Notes on task ' || i END, 1 + i %% 3,
       (CASE i %% 4 WHEN 0 THEN '{home}' WHEN 1 THEN '{work,urgent}' WHEN 2 THEN '{}'
        ELSE '{errands,home,q&a}' END)::text[],
       CASE WHEN i %% 5 <> 0 THEN now() + (i %% 97 - 30) * interval '1 day' END,
       i %% 4 = 0, CASE WHEN i %% 4 = 0 THEN now() END,
       now() - i * interval '1 minute', now() - i * interval '1 minute'
FROM generate_series(1, %(count)s) AS i
"""
TRASH = "UPDATE tasks SET deleted_at = now() WHERE user_id = %(user)s"
COLD_START = """
import json, sys, time, types
event = json.load(sys.stdin)
started = time.perf_counter()
import backend.lambda_handler
imported = time.perf_counter()
import psycopg
from backend import db
connect = db.BoundedConnection.connect
def traced(*args, **kwargs):  # libpq's trace of the first connection, on stderr
    connection = connect(*args, **kwargs)
    connection.pgconn.trace(sys.stderr.fileno())
    connection.pgconn.set_trace_flags(psycopg.pq.Trace.SUPPRESS_TIMESTAMPS)
    return connection
db.BoundedConnection.connect = traced
response = backend.lambda_handler.handler(event, types.SimpleNamespace(aws_request_id="cold"))
served = time.perf_counter()
print(json.dumps([response["statusCode"], (imported - started) * 1e3, (served - imported) * 1e3]))
sys.stdout.flush()
"""

Invoke = Callable[[], object]
Probed = tuple[bytes, Any, float]
"""An operation's SQL and parameters as the app sends them, and its round trips per call."""


@dataclass(frozen=True)
class Operation:
    """A request, and the single statement a hand-written backend would send for it.

    `{id}` in the path and `%(id)s` in the statement stand for the task; with a `pool`,
    each call takes a task (or a `batch` of them) of its own from it (a task is deleted or
    restored once).
    """

    label: str
    method: str
    path: str
    user: str
    natural: str
    query: str = ""
    body: dict[str, Any] | None = None
    status: int = 200
    pool: str = ""
    batch: int = 0
    """Tasks per call, named in the body's `ids` (and `%(ids)s`); else one, `{id}`."""


WHERE_LIVE = "WHERE id = %(id)s AND user_id = %(user)s AND deleted_at IS NULL"
BUMP = "version = version + 1, updated_at = now()"


def operations() -> list[Operation]:
    by_due = "sort=due_at&order=desc&limit=20"
    toggle = (
        "completed = NOT completed, completed_at = CASE WHEN completed THEN NULL ELSE now() END"
    )
    return [
        Operation("GET list of 50", "GET", "/api/tasks", SMALL, LIST_50, "limit=50"),
        Operation(
            "GET one task", "GET", "/api/tasks/{id}", SMALL, f"SELECT * FROM tasks {WHERE_LIVE}"
        ),
        Operation(
            "POST a task",
            "POST",
            "/api/tasks",
            WRITER,
            "INSERT INTO tasks (user_id, title) VALUES (%(user)s, 'B') RETURNING *",
            body={"title": "B"},
            status=201,
        ),
        Operation(
            "PATCH a task",
            "PATCH",
            "/api/tasks/{id}",
            SMALL,
            f"UPDATE tasks SET title = 'C', {BUMP} {WHERE_LIVE} RETURNING *",
            body={"title": "C"},
        ),
        Operation(
            "PATCH …/complete (toggle)",
            "PATCH",
            "/api/tasks/{id}/complete",
            SMALL,
            f"UPDATE tasks SET {toggle}, {BUMP} {WHERE_LIVE} RETURNING *",
        ),
        Operation(
            "DELETE a task (to the trash)",
            "DELETE",
            "/api/tasks/{id}",
            LIVE,
            f"UPDATE tasks SET deleted_at = now(), {BUMP} {WHERE_LIVE} RETURNING *",
            pool=LIVE,
        ),
        Operation(
            "POST …/restore",
            "POST",
            "/api/tasks/{id}/restore",
            TRASHED,
            f"UPDATE tasks SET deleted_at = NULL, {BUMP} WHERE id = %(id)s"
            " AND user_id = %(user)s AND deleted_at IS NOT NULL RETURNING *",
            pool=TRASHED,
        ),
        Operation(
            "POST …/bulk delete of 10",
            "POST",
            "/api/tasks/bulk",
            BULK,
            f"UPDATE tasks SET deleted_at = now(), {BUMP} WHERE user_id = %(user)s"
            " AND id = ANY(%(ids)s) AND deleted_at IS NULL RETURNING *",
            body={"action": "delete"},
            pool=BULK,
            batch=BATCH,
        ),
        Operation(
            "GET changes (first sync, 50)",
            "GET",
            "/api/tasks/changes",
            SMALL,
            "SELECT * FROM tasks WHERE user_id = %(user)s ORDER BY write_xid, id LIMIT 51",
            "limit=50",
        ),
        Operation(
            "GET 20 of 5,000 by due_at desc",
            "GET",
            "/api/tasks",
            LARGE,
            "SELECT * FROM tasks WHERE user_id = %(user)s AND deleted_at IS NULL"
            " ORDER BY due_at DESC NULLS LAST, id DESC LIMIT 20",
            by_due,
        ),
    ]


@dataclass
class Ids:
    """The task each operation addresses: the one task, or fresh ones from its pool."""

    task_id: int
    pools: dict[str, deque[int]] = field(default_factory=dict)

    def take(self, op: Operation, count: int) -> list[list[int]]:
        """The tasks of `count` calls: one each, or a batch each."""
        if not op.pool:
            return [[self.task_id]] * count
        pool, size = self.pools[op.pool], max(1, op.batch)
        if len(pool) < count * size:
            sys.exit(
                f"{op.pool}: {len(pool)} tasks left, {count * size} needed; fewer --iterations"
            )
        return [[pool.popleft() for _ in range(size)] for _ in range(count)]


def lambda_event(op: Operation, tasks: list[int] | None = None) -> dict[str, Any]:
    """The SAM sample changed only in method, path, headers, query and body."""
    from backend.local import mint_token

    tasks = tasks or [0]
    path = op.path.format(id=tasks[0])
    body = {**op.body, "ids": tasks} if op.batch and op.body is not None else op.body
    headers = {"authorization": f"Bearer {mint_token(SECRET, op.user)}"}
    if body is not None:
        headers["content-type"] = "application/json"
    event: dict[str, Any] = copy.deepcopy(SAMPLE)
    event["headers"].update(headers)
    event["requestContext"]["http"].update(method=op.method, path=path)
    event.update(rawPath=path, rawQueryString=op.query, isBase64Encoded=False)
    event.update(queryStringParameters=dict(parse_qsl(op.query)))
    event.update(body=None if body is None else json.dumps(body))
    return event


@contextlib.contextmanager
def seeded_database(pool_size: int) -> Iterator[tuple[str, Ids]]:
    """A migrated throwaway database holding the users' tasks, and the tasks to address.

    On BENCH_DATABASE_URL's server, or an embedded PostgreSQL in a temporary folder.
    """
    from backend.local import throwaway_database, throwaway_server

    with (
        throwaway_server(os.environ.get("BENCH_DATABASE_URL"), "bench-pg-") as admin_url,
        throwaway_database(admin_url, "bench_") as url,
    ):
        with psycopg.connect(url, autocommit=True) as conn:
            for user, count in (
                (SMALL, 50),
                (LARGE, 5000),
                (LIVE, pool_size),
                (TRASHED, pool_size),
                (BULK, pool_size * BATCH),
            ):
                conn.execute(SEED, {"user": user, "count": count})
            conn.execute(TRASH, {"user": TRASHED})
            conn.execute("ANALYZE tasks")
            row = conn.execute("SELECT min(id) FROM tasks WHERE user_id = %s", [SMALL]).fetchone()
            pools = {
                user: deque(
                    r[0]
                    for r in conn.execute(
                        "SELECT id FROM tasks WHERE user_id = %s ORDER BY id", [user]
                    )
                )
                for user in (LIVE, TRASHED, BULK)
            }
        yield url, Ids(row[0] if row else 0, pools)


def round_trips(trace: bytes) -> int:
    """Sync (extended protocol) and Query (simple) messages sent: each waits for the server."""
    sent = [line.split(b"\t")[2] for line in trace.splitlines() if line.startswith(b"F\t")]
    return sum(message.startswith((b"Sync", b"Query")) for message in sent)


def probe(invokers: list[Invoke], calls: int = 3) -> list[Probed]:
    """Each operation's SQL and parameters as the app sends them, and its round trips per call.

    Measured on an engine thrown away afterwards, so the timed runs carry no listeners, and
    with `compiled.send` wrapped only meanwhile.
    """
    from backend import compiled, db

    engine, sent, results, send = db.get_engine(), [], [], compiled.send

    def recorded(pooled: Any, dialect: Any, statement: Any, params: Any) -> Any:
        sendable = compiled.sendable(statement, dialect)
        sent.append((sendable.compiled.string, sendable.values(params)))
        return send(pooled, dialect, statement, params)

    with tempfile.TemporaryFile() as trace:

        def start(dbapi_connection: Any, *_: Any) -> None:
            dbapi_connection.pgconn.trace(trace.fileno())
            dbapi_connection.pgconn.set_trace_flags(psycopg.pq.Trace.SUPPRESS_TIMESTAMPS)

        hooks: dict[str, Callable[..., None]] = {
            "checkout": start,
            "checkin": lambda dbapi_connection, *_: dbapi_connection.pgconn.untrace(),
        }
        for invoke in invokers:
            invoke()  # the connection exists: a warm instance
            for name, hook in hooks.items():
                event.listen(engine, name, hook)
            compiled.send = recorded
            for _ in range(calls):
                invoke()
            compiled.send = send
            for name, hook in hooks.items():
                event.remove(engine, name, hook)
            assert len(sent) == calls, f"{len(sent) / calls} statements per invocation"
            trace.seek(0)
            results.append((sent[-1][0].encode(), sent[-1][1], round_trips(trace.read()) / calls))
            trace.seek(0)
            trace.truncate()
            sent.clear()
    db.drop_engine()
    return results


def alternating(sides: list[Invoke], size: int) -> list[list[float]]:
    """µs per call in blocks of `size`, each side in turn: each runs warm, drift hits all.

    The first block of each is a warm-up. Alternating single calls made the floor about 50%
    slower: each side evicts the other's caches.
    """
    times: list[list[float]] = [[] for _ in sides]
    for block in range(BLOCKS + 1):
        for side, call in zip(times, sides, strict=True):
            for _ in range(size):
                started = time.perf_counter_ns()
                call()
                if block:
                    side.append((time.perf_counter_ns() - started) / 1000)
    return times


def summary(times: list[float]) -> tuple[float, float]:
    return statistics.median(times), statistics.quantiles(times, n=20)[-1]


def raw_preparing() -> dict[str, Any]:
    """The raw clients prepare when the app does, as psycopg does by default; else never."""
    prepared = os.environ.get("DATABASE_PREPARED_STATEMENTS") == "true"
    return {} if prepared else {"prepare_threshold": None}


def bench_warm(url: str, ids: Ids, iterations: int) -> tuple[bytes, Any]:
    """Print the warm table; return the list's SQL and parameters as the app sends them."""
    size = iterations // BLOCKS
    calls = size * (BLOCKS + 1)
    ops, probed_ids, probes = probed_operations(ids)
    print(f"\nWarm invocations: {iterations} of each, in {BLOCKS} blocks per side; µs per call")
    print("floor: the natural statement; same: the app's own SQL, both by raw psycopg + json")
    print(ROW.format("operation", *COLUMNS))
    with psycopg.connect(url, autocommit=True, row_factory=dict_row, **raw_preparing()) as c:
        for op, probed, (sql, params, trips) in zip(ops, probed_ids, probes, strict=True):
            times = alternating(sides(c, op, ids, calls, sql, params, probed[-1]), size)
            (a50, a95), (n50, _), (s50, _) = (summary(side) for side in times)
            figures = (f"{a50:.0f}", f"{a95:.0f}", f"{n50:.0f}", f"{a50 / n50:.2f}x")
            print(ROW.format(op.label, *figures, f"{s50:.0f}", f"{a50 / s50:.2f}x", f"{trips:g}"))
    return probes[0][0], probes[0][1]


def app_invoker(op: Operation, targets: list[list[int]]) -> Invoke:
    """`op` through the Lambda entry, addressing each call's tasks in turn."""
    from backend import lambda_handler

    requests = deque(lambda_event(op, tasks) for tasks in targets)

    def invoke() -> None:
        response = lambda_handler.handler(requests.popleft(), CONTEXT)
        assert response["statusCode"] == op.status, response

    return invoke


def raw_invoker(conn: psycopg.Connection[dict[str, Any]], sql: Any, params: list[Any]) -> Invoke:
    """`sql` by raw psycopg with each call's parameters in turn, its rows as JSON."""
    calls = deque(params)

    def run() -> str:
        rows = conn.execute(sql, calls.popleft()).fetchall()
        return json.dumps(rows, default=lambda value: value.isoformat())

    return run


def probed_operations(ids: Ids) -> tuple[list[Operation], list[list[list[int]]], list[Probed]]:
    """The operations, the tasks each one's probe addressed, and what the probes found."""
    quiet_request_log()
    ops = operations()
    probed_ids = [ids.take(op, 4) for op in ops]  # the probe's warm-up call and its 3
    pairs = zip(ops, probed_ids, strict=True)
    return ops, probed_ids, probe([app_invoker(op, task_ids) for op, task_ids in pairs])


def sides(
    conn: psycopg.Connection[dict[str, Any]],
    op: Operation,
    ids: Ids,
    calls: int,
    sql: bytes,
    params: Any,
    probed: list[int],
) -> list[Invoke]:
    """`calls` of `op` three ways: the app, the natural statement, and the app's SQL, raw.

    `sql` and `params` are the app's as the probe captured them addressing `probed`."""
    app = app_invoker(op, ids.take(op, calls))
    natural = [{"user": op.user, "id": t[0], "ids": t} for t in ids.take(op, calls)]
    same = [readdressed(params, probed, t) for t in ids.take(op, calls)]
    return [app, raw_invoker(conn, op.natural, natural), raw_invoker(conn, sql, same)]


def quiet_request_log() -> None:
    """The request log: formatted and written as on Lambda, to /dev/null."""
    import backend.lambda_handler  # noqa: F401  (the app configures its log as it is built)

    for handler in logging.getLogger("backend").handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(open(os.devnull, "w"))  # noqa: SIM115


def readdressed(params: Any, old: list[int], new: list[int]) -> Any:
    """The app's captured parameters, addressing the tasks `new` where they addressed `old`."""

    def value_of(value: Any) -> Any:
        return new if value == old else new[0] if value == old[0] else value

    if isinstance(params, dict):
        return {name: value_of(value) for name, value in params.items()}
    return [value_of(value) for value in params]


def cold_run(code: str, stdin: str, package: Path | None) -> tuple[float, str, bytes]:
    """Wall time of a fresh interpreter running `code` to its os._exit, its stdout and stderr.

    With a `package` folder, in it under `python -I -S` (no environment, no site-packages),
    importing only from it: the function as Lambda runs it.
    """
    started = time.perf_counter()
    if package is None:
        command, folder = [sys.executable, "-c", code + EXIT], ROOT
    else:
        path = "import sys; sys.path.insert(0, '.')\n"
        command, folder = [sys.executable, "-I", "-S", "-c", path + code + EXIT], package
    done = subprocess.run(
        command, input=stdin.encode(), capture_output=True, cwd=folder, check=False
    )
    elapsed = (time.perf_counter() - started) * 1e3
    if done.returncode:
        sys.exit(f"cold start failed:\n{done.stderr.decode()}")
    return elapsed, done.stdout.decode(), done.stderr


@contextlib.contextmanager
def lambda_package() -> Iterator[Path]:
    """The Lambda package (`scripts/package_lambda.py --native`: this interpreter), unzipped."""
    with tempfile.TemporaryDirectory(prefix="bench-package-") as folder:
        archive = Path(folder) / "lambda.zip"
        script = [sys.executable, str(ROOT / "scripts/package_lambda.py"), "--native"]
        built = subprocess.run(
            [*script, "--output", str(archive)], check=True, capture_output=True, text=True
        )
        print("\nThe Lambda package (scripts/package_lambda.py --native: this interpreter)")
        for line in built.stdout.splitlines():
            if line.startswith(SIZE_LINES):
                print(f"  {line}")
        with zipfile.ZipFile(archive) as unzipped:
            unzipped.extractall(Path(folder) / "package")
        # The floor imports sqlmodel and with it SQLAlchemy's ORM, which the function does
        # not carry (backend/models.py): the floor's alone, the app never imports them.
        for module in (sqlmodel, sqlalchemy.orm):
            source = Path(module.__file__ or "").parent
            shutil.copytree(source, Path(folder) / "package" / source.relative_to(SITE))
        yield Path(folder) / "package"


def bench_cold(runs: int, package: Path | None) -> None:
    if package is None:
        # Lambda's package carries the app's bytecode, like site-packages; a checkout may
        # not (PYTHONDONTWRITEBYTECODE), and compiling sources is no part of a cold start.
        for folder in ("backend", "api"):
            compileall.compile_dir(ROOT / folder, quiet=1)
    request = json.dumps(lambda_event(operations()[0]))
    codes = {"bare": "pass", "deps": DEPENDENCIES, "floor": QUERY_FLOOR, "app": COLD_START}
    walls: dict[str, list[float]] = {name: [] for name in codes}
    memory: dict[str, list[float]] = {name: [] for name in codes}
    inside: list[tuple[float, float, int]] = []
    for run in range(runs + 1):  # the first round fills the page cache
        for name, code in codes.items():
            elapsed, out, err = cold_run(code + MEMORY, request, package)
            lines = out.splitlines()
            if run:
                walls[name].append(elapsed)
                memory[name].append(json.loads(lines[-1])["maxrss_kb"] / 1024)
            if run and name == "app":
                status, import_ms, first_ms = json.loads(lines[-2])
                assert status == 200, out
                inside.append((import_ms, first_ms, round_trips(err)))
    wall = {name: statistics.median(times) for name, times in walls.items()}
    rss = {name: statistics.median(sizes) for name, sizes in memory.items()}
    import_ms, first_ms, trips = (statistics.median(f) for f in zip(*inside, strict=True))
    labels = {
        "bare": "python -c pass",
        "deps": f"python -c {DEPENDENCIES!r}",
        "floor": "those imports + connect + the list's natural query + json",
        "app": "app: import the entry + first authenticated GET list",
    }
    where = "the checkout's .venv" if package is None else "the Lambda package, python -I -S"
    print(f"\nCold start from {where}: fresh interpreter to os._exit, median of {runs} runs")
    print(f"{'':80} {'wall ms':>8} {'x floor':>8} {'peak MB':>8} {'x floor':>8}")
    for name, label in labels.items():
        ratios = (
            f"{wall[name] / wall['floor']:7.2f}x {rss[name]:8.1f} {rss[name] / rss['floor']:7.2f}x"
        )
        print(f"{label:80} {wall[name]:8.0f} {ratios}")
    print(f"  inside the app: import {import_ms:.0f} ms, first GET {first_ms:.1f} ms", end="")
    print(f" (connect, then {trips:g} round trip)")


def free_port() -> int:
    with socket.socket() as probe_socket:
        probe_socket.bind(("127.0.0.1", 0))
        port: int = probe_socket.getsockname()[1]
        return port


def hammer(work: Callable[[], Callable[[], bool]], seconds: float) -> tuple[float, int]:
    """CLIENTS threads, each calling its own `work()` until the deadline: (calls/s, failures)."""
    done, failed = [0] * CLIENTS, [0] * CLIENTS
    start = threading.Barrier(CLIENTS + 1)
    deadline = [0.0]

    def client(index: int) -> None:
        call = work()
        start.wait()
        while time.perf_counter() < deadline[0]:
            if call():
                done[index] += 1
            else:
                failed[index] += 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    deadline[0] = time.perf_counter() + seconds
    start.wait()
    for thread in threads:
        thread.join()
    return sum(done) / seconds, sum(failed)


@contextlib.contextmanager
def uvicorn_server() -> Iterator[int]:
    """The app under uvicorn (one worker, as `python -m backend serve`), its port."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "backend.main:app", "--port", str(port)]
    command += ["--log-level", "warning", "--no-access-log"]
    server = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL)
    try:
        for _ in range(200):
            with contextlib.suppress(OSError):
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            time.sleep(0.05)
        yield port
    finally:
        server.terminate()
        server.wait(timeout=30)


def bench_throughput(url: str, sql: bytes, params: Any, seconds: float) -> None:
    from backend.local import mint_token

    headers = {"Authorization": f"Bearer {mint_token(SECRET, SMALL)}"}

    with uvicorn_server() as port:

        def http_client() -> Callable[[], bool]:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

            def call() -> bool:
                connection.request("GET", "/api/tasks?limit=50", headers=headers)
                response = connection.getresponse()
                response.read()
                return response.status == 200

            return call

        http_client()()  # the first request builds the routes' state
        app_rate, app_failed = hammer(http_client, seconds)

    def database_client() -> Callable[[], bool]:
        connection = psycopg.connect(url, autocommit=True, **raw_preparing())

        def call() -> bool:
            connection.execute(sql, params).fetchall()
            return True

        return call

    db_rate, _ = hammer(database_client, seconds)
    print(f"\nThroughput: {CLIENTS} concurrent clients for {seconds:g} s, GET list of 50")
    print(f"  uvicorn, keep-alive HTTP clients:     {app_rate:8.0f} req/s ({app_failed} failed)")
    print(f"  PostgreSQL, the app's statement:      {db_rate:8.0f} statements/s (psycopg threads)")
    print(f"  app / database:                       {app_rate / db_rate:8.2f}x")


def serve_delayed(target: str | tuple[str, int], delay: float, ready: Connection) -> None:
    """Forward 127.0.0.1:<port sent to `ready`> to `target` (a socket path or (host, port)).

    Threads, not asyncio: its timers wake on whole milliseconds, which added up to a
    millisecond to each direction, by the phase of each call. `time.sleep` keeps to about
    0.1 ms here.
    """
    listener = socket.create_server(("127.0.0.1", 0))
    ready.send(listener.getsockname()[1])
    while True:
        client, _ = listener.accept()
        family = socket.AF_UNIX if isinstance(target, str) else socket.AF_INET
        server = socket.socket(family, socket.SOCK_STREAM)
        server.connect(target)
        for peer in (client, server):
            if peer.family == socket.AF_INET:
                peer.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        pump(client, server, delay)
        pump(server, client, delay)


def pump(source: socket.socket, sink: socket.socket, delay: float) -> None:
    """Deliver each chunk `delay` s after it arrived, in order, without holding back the next."""
    chunks: queue.SimpleQueue[tuple[float, bytes]] = queue.SimpleQueue()

    def receive() -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(1 << 16):
                chunks.put((time.perf_counter() + delay, data))
        chunks.put((time.perf_counter() + delay, b""))

    def deliver() -> None:
        with contextlib.suppress(OSError):
            while (chunk := chunks.get())[1]:
                time.sleep(max(0.0, chunk[0] - time.perf_counter()))
                sink.sendall(chunk[1])
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    for work in (receive, deliver):
        threading.Thread(target=work, daemon=True).start()


@contextlib.contextmanager
def delayed(url: str, latency_ms: float) -> Iterator[str]:
    """`url` through a TCP proxy, in a process of its own, adding `latency_ms` each way."""
    parsed = make_url(url)
    socket_dir, port = parsed.query.get("host"), parsed.port or 5432
    target = (
        f"{socket_dir}/.s.PGSQL.{port}"  # the embedded server listens on a Unix socket only
        if isinstance(socket_dir, str)
        else (parsed.host or "127.0.0.1", port)
    )
    context = multiprocessing.get_context("spawn")
    ready, child_end = context.Pipe()
    process = context.Process(target=serve_delayed, args=(target, latency_ms / 1000, child_end))
    process.start()
    proxied = parsed.difference_update_query(["host"]).set(host="127.0.0.1", port=ready.recv())
    try:
        yield proxied.render_as_string(hide_password=False)
    finally:
        process.terminate()
        process.join()


def app_environment(url: str, *, prepared: bool) -> None:
    """The app's settings: the bench's database and secret, and its statements prepared or not."""
    os.environ.pop("APP_SECRETS_ARN", None)
    # The rate limit stays in every statement, but never answers 429 to the bench.
    os.environ.update(DATABASE_URL=url, BETTER_AUTH_SECRET=SECRET)
    os.environ.update(RATE_LIMIT_PER_MINUTE=str(10**9))
    os.environ.update(DATABASE_PREPARED_STATEMENTS=str(prepared).lower())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-ms", type=float, default=0, help="added each way by a proxy")
    parser.add_argument("--iterations", type=int, help="per operation (300; 100 with latency)")
    parser.add_argument("--cold-runs", type=int, default=5, help="fresh interpreters (5; 0 skips)")
    parser.add_argument("--seconds", type=float, default=5, help="of throughput; 0 skips (5)")
    parser.add_argument(
        "--prepared",
        action="store_true",
        help="DATABASE_PREPARED_STATEMENTS=true; the raw clients prepare as psycopg does",
    )
    args = parser.parse_args()
    iterations = args.iterations or (100 if args.latency_ms else 300)
    calls = (iterations // BLOCKS) * (BLOCKS + 1)
    sys.path.insert(0, str(ROOT))
    with contextlib.ExitStack() as stack:
        url, ids = stack.enter_context(seeded_database(pool_size=4 + 3 * calls))
        if args.latency_ms:
            url = stack.enter_context(delayed(url, args.latency_ms))
        app_environment(url, prepared=args.prepared)
        server = "BENCH_DATABASE_URL" if "BENCH_DATABASE_URL" in os.environ else "embedded"
        print(
            f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, {server} PostgreSQL", end=""
        )
        print(f", +{args.latency_ms:g} ms each way", end="")
        print(", prepared statements" if args.prepared else ", unprepared statements")
        sql, params = bench_warm(url, ids, iterations)
        if args.cold_runs:
            bench_cold(args.cold_runs, None)
            bench_cold(args.cold_runs, stack.enter_context(lambda_package()))
        if args.seconds:
            bench_throughput(url, sql, params, args.seconds)


if __name__ == "__main__":
    main()
