"""The data path's speed, as ratios to a floor measured in the same run (see bench/README.md).

Warm: each operation through the real Lambda entry, against raw psycopg sending the same SQL
plus `json.dumps` of the rows. Cold: a fresh interpreter importing the entry and serving its
first request, against one importing only what the app cannot avoid.
"""

import argparse
import asyncio
import contextlib
import copy
import json
import logging
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import psycopg
from psycopg.rows import dict_row
from sqlalchemy import event, make_url

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = json.loads((ROOT / "tests/events/http_api_v2.json").read_text())
SECRET = "bench-secret-that-is-long-enough-for-hs256"
CONTEXT = types.SimpleNamespace(aws_request_id="bench", get_remaining_time_in_millis=lambda: 30_000)
SMALL, LARGE, WRITER = "bench-50", "bench-5000", "bench-writer"
BLOCKS = 10
ROW = "{:32} {:>8} {:>8} {:>9} {:>9} {:>9} {:>11}"
COLUMNS = ("app p50", "app p95", "floor p50", "floor p95", "app/floor", "round trips")
DEPENDENCIES = "import fastapi, sqlalchemy, psycopg, jwt, mangum"
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
COLD_START = """
import json, sys, time, types
event = json.load(sys.stdin)
started = time.perf_counter()
import backend.lambda_handler
imported = time.perf_counter()
import psycopg
connect = psycopg.connect
def traced(*args, **kwargs):  # libpq's trace of the first connection, on stderr
    connection = connect(*args, **kwargs)
    connection.pgconn.trace(sys.stderr.fileno())
    connection.pgconn.set_trace_flags(psycopg.pq.Trace.SUPPRESS_TIMESTAMPS)
    return connection
psycopg.connect = traced
response = backend.lambda_handler.handler(event, types.SimpleNamespace(aws_request_id="cold"))
served = time.perf_counter()
print(json.dumps([response["statusCode"], (imported - started) * 1e3, (served - imported) * 1e3]))
sys.stdout.flush()
"""

Invoke = Callable[[], object]


@dataclass(frozen=True)
class Operation:
    label: str
    method: str
    path: str
    user: str
    query: str = ""
    body: dict[str, Any] | None = None
    status: int = 200


def operations(task_id: int) -> list[Operation]:
    by_due = "sort=due_at&order=desc&limit=20"
    return [
        Operation("GET list of 50", "GET", "/api/tasks", SMALL, "limit=50"),
        Operation("GET one task", "GET", f"/api/tasks/{task_id}", SMALL),
        Operation("POST a task", "POST", "/api/tasks", WRITER, body={"title": "B"}, status=201),
        Operation("PATCH a task", "PATCH", f"/api/tasks/{task_id}", SMALL, body={"title": "C"}),
        Operation("GET 20 of 5,000 by due_at desc", "GET", "/api/tasks", LARGE, by_due),
    ]


def lambda_event(op: Operation) -> dict[str, Any]:
    """The SAM sample changed only in method, path, headers, query and body."""
    from backend.local import mint_token

    headers = {"authorization": f"Bearer {mint_token(SECRET, op.user)}"}
    if op.body is not None:
        headers["content-type"] = "application/json"
    event: dict[str, Any] = copy.deepcopy(SAMPLE)
    event["headers"].update(headers)
    event["requestContext"]["http"].update(method=op.method, path=op.path)
    event.update(rawPath=op.path, rawQueryString=op.query, isBase64Encoded=False)
    event.update(queryStringParameters=dict(parse_qsl(op.query)))
    event.update(body=None if op.body is None else json.dumps(op.body))
    return event


@contextlib.contextmanager
def seeded_database() -> Iterator[tuple[str, int]]:
    """A migrated throwaway database holding the users' tasks, and the id of one of SMALL's.

    On BENCH_DATABASE_URL's server, or an embedded PostgreSQL in a temporary folder.
    """
    from backend.local import throwaway_database, throwaway_server

    with (
        throwaway_server(os.environ.get("BENCH_DATABASE_URL"), "bench-pg-") as admin_url,
        throwaway_database(admin_url, "bench_") as url,
    ):
        with psycopg.connect(url, autocommit=True) as conn:
            for user, count in ((SMALL, 50), (LARGE, 5000)):
                conn.execute(SEED, {"user": user, "count": count})
            conn.execute("ANALYZE tasks")
            row = conn.execute("SELECT min(id) FROM tasks WHERE user_id = %s", [SMALL]).fetchone()
        yield url, row[0] if row else 0


def round_trips(trace: bytes) -> int:
    """Sync (extended protocol) and Query (simple) messages sent: each waits for the server."""
    sent = [line.split(b"\t")[2] for line in trace.splitlines() if line.startswith(b"F\t")]
    return sum(message.startswith((b"Sync", b"Query")) for message in sent)


def probe(invokers: list[Invoke], calls: int = 3) -> list[tuple[bytes, Any, float]]:
    """Each operation's SQL and parameters as the app sends them, and its round trips per call.

    Measured on an engine thrown away afterwards, so the timed runs carry no listeners.
    """
    from backend import db

    engine, sent, results = db.get_engine(), [], []
    with tempfile.TemporaryFile() as trace:

        def start(dbapi_connection: Any, *_: Any) -> None:
            dbapi_connection.pgconn.trace(trace.fileno())
            dbapi_connection.pgconn.set_trace_flags(psycopg.pq.Trace.SUPPRESS_TIMESTAMPS)

        hooks: dict[str, Callable[..., None]] = {
            "checkout": start,
            "checkin": lambda dbapi_connection, *_: dbapi_connection.pgconn.untrace(),
            "before_cursor_execute": lambda _, __, sql, params, *___: sent.append((sql, params)),
        }
        for invoke in invokers:
            invoke()  # the connection exists: a warm instance
            for name, hook in hooks.items():
                event.listen(engine, name, hook)
            for _ in range(calls):
                invoke()
            for name, hook in hooks.items():
                event.remove(engine, name, hook)
            assert len(sent) == calls, f"{len(sent) / calls} statements per invocation"
            trace.seek(0)
            results.append((sent[-1][0].encode(), sent[-1][1], round_trips(trace.read()) / calls))
            trace.seek(0)
            trace.truncate()
            sent.clear()
    engine.dispose()
    db.get_engine.cache_clear()
    return results


def alternating(app: Invoke, floor: Invoke, size: int) -> tuple[list[float], list[float]]:
    """µs per call in blocks of `size`, app then floor: each side runs warm, drift hits both.

    The first block of each is a warm-up. Alternating single calls made the floor about 50%
    slower: each side evicts the other's caches.
    """
    times: tuple[list[float], list[float]] = ([], [])
    for block in range(BLOCKS + 1):
        for side, call in zip(times, (app, floor), strict=True):
            for _ in range(size):
                started = time.perf_counter_ns()
                call()
                if block:
                    side.append((time.perf_counter_ns() - started) / 1000)
    return times


def summary(times: list[float]) -> tuple[float, float]:
    return statistics.median(times), statistics.quantiles(times, n=20)[-1]


def bench_warm(url: str, task_id: int, iterations: int) -> None:
    from backend import lambda_handler

    for handler in logging.getLogger("backend").handlers:  # the request log: written, not shown
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(open(os.devnull, "w"))  # noqa: SIM115

    def invoker(op: Operation) -> Invoke:
        request = lambda_event(op)

        def invoke() -> None:
            response = lambda_handler.handler(request, CONTEXT)
            assert response["statusCode"] == op.status, response

        return invoke

    def floor(conn: psycopg.Connection[dict[str, Any]], sql: bytes, params: Any) -> Invoke:
        def run() -> str:
            rows = conn.execute(sql, params).fetchall()
            return json.dumps(rows, default=lambda value: value.isoformat())

        return run

    ops = operations(task_id)
    invokers = [invoker(op) for op in ops]
    probes = probe(invokers)
    print(f"\nWarm invocations: {iterations} of each, in {BLOCKS} blocks per side; µs per call")
    print(ROW.format("operation", *COLUMNS))
    with psycopg.connect(url, autocommit=True, prepare_threshold=None, row_factory=dict_row) as c:
        for op, app, (sql, params, trips) in zip(ops, invokers, probes, strict=True):
            times = alternating(app, floor(c, sql, params), iterations // BLOCKS)
            (a50, a95), (f50, f95) = summary(times[0]), summary(times[1])
            figures = (f"{value:.0f}" for value in (a50, a95, f50, f95))
            print(ROW.format(op.label, *figures, f"{a50 / f50:.1f}x", f"{trips:g}"))


def cold_run(code: str, stdin: str) -> tuple[float, str, bytes]:
    """Wall time of a fresh interpreter running `code` to its os._exit, its stdout and stderr."""
    started = time.perf_counter()
    command = [sys.executable, "-c", code + EXIT]
    done = subprocess.run(command, input=stdin.encode(), capture_output=True, cwd=ROOT, check=False)
    elapsed = (time.perf_counter() - started) * 1e3
    if done.returncode:
        sys.exit(f"cold start failed:\n{done.stderr.decode()}")
    return elapsed, done.stdout.decode(), done.stderr


def bench_cold(task_id: int, runs: int) -> None:
    request = json.dumps(lambda_event(operations(task_id)[0]))
    codes = {"bare": "pass", "deps": DEPENDENCIES, "app": COLD_START}
    walls: dict[str, list[float]] = {name: [] for name in codes}
    inside: list[tuple[float, float, int]] = []
    for run in range(runs + 1):  # the first round fills the page cache
        for name, code in codes.items():
            elapsed, out, err = cold_run(code, request)
            walls[name] += [elapsed] if run else []
            if run and name == "app":
                status, import_ms, first_ms = json.loads(out.splitlines()[-1])
                assert status == 200, out
                inside.append((import_ms, first_ms, round_trips(err)))
    bare, deps, app = (statistics.median(walls[name]) for name in codes)
    import_ms, first_ms, trips = (statistics.median(f) for f in zip(*inside, strict=True))
    labels = ("python -c pass", f"python -c {DEPENDENCIES!r}", "app: import the entry + first GET")
    print(f"\nCold start: fresh interpreter to os._exit, median of {runs} runs; ms of wall time")
    against_imports = ("", "", f" {app / deps:5.2f}x imports")
    for label, ms, extra in zip(labels, (bare, deps, app), against_imports, strict=True):
        print(f"{label:60} {ms:5.0f} {ms / bare:5.1f}x bare{extra}")
    print(f"  inside the app: import {import_ms:.0f} ms, first GET {first_ms:.1f} ms", end="")
    print(f" (connect, then {trips:g} round trip)")


def serve_delayed(target: str | tuple[str, int], delay: float, ready: Connection) -> None:
    """Forward 127.0.0.1:<port sent to `ready`> to `target` (a socket path or (host, port))."""

    async def serve(client: asyncio.StreamReader, to_client: asyncio.StreamWriter) -> None:
        if isinstance(target, str):
            server, to_server = await asyncio.open_unix_connection(target)
        else:
            server, to_server = await asyncio.open_connection(*target)
        await asyncio.gather(pump(client, to_server, delay), pump(server, to_client, delay))

    async def listen() -> None:
        proxy = await asyncio.start_server(serve, "127.0.0.1", 0)
        ready.send(proxy.sockets[0].getsockname()[1])
        await proxy.serve_forever()

    asyncio.run(listen())


async def pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    """Deliver each chunk `delay` s after it arrived, in order, without holding back the next."""
    loop, queue = asyncio.get_running_loop(), asyncio.Queue[tuple[float, bytes]]()

    async def deliver() -> None:
        with contextlib.suppress(OSError):
            while (item := await queue.get())[1]:
                await asyncio.sleep(item[0] - loop.time())
                writer.write(item[1])
                await writer.drain()
        writer.close()

    delivering = asyncio.create_task(deliver())
    with contextlib.suppress(OSError):
        while data := await reader.read(1 << 16):
            queue.put_nowait((loop.time() + delay, data))
    queue.put_nowait((loop.time() + delay, b""))
    await delivering


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-ms", type=float, default=0, help="added each way by a proxy")
    parser.add_argument("--iterations", type=int, help="per operation (300; 100 with latency)")
    parser.add_argument("--cold-runs", type=int, default=5, help="fresh interpreters (5)")
    args = parser.parse_args()
    iterations = args.iterations or (100 if args.latency_ms else 300)
    sys.path.insert(0, str(ROOT))
    with contextlib.ExitStack() as stack:
        url, task_id = stack.enter_context(seeded_database())
        if args.latency_ms:
            url = stack.enter_context(delayed(url, args.latency_ms))
        os.environ.pop("APP_SECRETS_ARN", None)
        os.environ.update(DATABASE_URL=url, BETTER_AUTH_SECRET=SECRET)
        server = "BENCH_DATABASE_URL" if "BENCH_DATABASE_URL" in os.environ else "embedded"
        print(
            f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, {server} PostgreSQL", end=""
        )
        print(f", +{args.latency_ms:g} ms each way")
        bench_warm(url, task_id, iterations)
        bench_cold(task_id, args.cold_runs)


if __name__ == "__main__":
    main()
