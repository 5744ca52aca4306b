"""The data path on the wire: one round trip per operation, no transactions, and by default
no prepared statements (`test_prepared.py` has them)."""

import logging
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, true

from backend import db, listing, stats, sync, trash
from backend.errors import DatabaseNotConfigured
from backend.main import create_app
from backend.pagination import Cursor, Order, Sort, SortValue
from tests.conftest import Env
from tests.wire import Wire, round_trips, traced

Headers = dict[str, str]


@pytest.fixture
def wire(client: TestClient, auth_headers: Headers) -> Iterator[Wire]:
    client.get("/api/tasks", headers=auth_headers)  # a warm instance: the engine exists
    with traced(db.get_engine()) as tracer:
        yield tracer


def test_every_operation_is_one_round_trip_with_the_user_in_the_statement(
    client: TestClient, auth_headers: Headers, user_id: str, wire: Wire
) -> None:
    created = client.post("/api/tasks", json={"title": "x"}, headers=auth_headers).json()
    url = f"/api/tasks/{created['id']}"
    operations = {
        "create": wire.sent(),
        "toggle recurring": toggled_recurring(client, auth_headers, wire),
        "read": (client.get(url, headers=auth_headers), wire.sent())[1],
        "list": (client.get("/api/tasks?tag=a&q=x", headers=auth_headers), wire.sent())[1],
        "put": (client.put(url, json={"title": "y"}, headers=auth_headers), wire.sent())[1],
        "patch": (client.patch(url, json={"tags": ["a"]}, headers=auth_headers), wire.sent())[1],
        "toggle": (client.patch(f"{url}/complete", headers=auth_headers), wire.sent())[1],
        **{
            f"bulk {action}": bulk_applied(client, auth_headers, wire, action, created["id"])
            for action in ("reopen", "complete", "delete", "restore")
        },
        "delete": (client.delete(url, headers=auth_headers), wire.sent())[1],
        "trash": (client.get("/api/tasks/trash", headers=auth_headers), wire.sent())[1],
        "restore": (client.post(f"{url}/restore", headers=auth_headers), wire.sent())[1],
        "trash again": (client.delete(url, headers=auth_headers), wire.sent())[1],
        "delete for good": (
            client.delete(f"/api/tasks/trash/{created['id']}", headers=auth_headers),
            wire.sent(),
        )[1],
        "empty": (client.post("/api/tasks/trash/empty", headers=auth_headers), wire.sent())[1],
        "stats": (client.get("/api/tasks/stats", headers=auth_headers), wire.sent())[1],
    }

    for name, messages in operations.items():
        assert round_trips(messages) == 1, (name, messages)
        parse = next(m for m in messages if m.startswith("Parse"))
        assert parse.startswith('Parse\t "" '), (name, "a named (server-side) prepared statement")
        assert "BEGIN" not in parse
        assert "COMMIT" not in parse
        assert "user_id" in parse, name
        assert user_id in "".join(m for m in messages if m.startswith("Bind")), name


def test_keyed_conditional_writes_replays_and_refusals_are_one_round_trip_each(
    client: TestClient, auth_headers: Headers, wire: Wire, env: Env
) -> None:
    keyed = {**auth_headers, "Idempotency-Key": "wire-key", "If-Match": '"1"'}
    created = client.post("/api/tasks", json={"title": "x"}, headers=auth_headers).json()
    url = f"/api/tasks/{created['id']}"
    wire.sent()
    operations = {
        "keyed conditional patch": (
            client.patch(url, json={"title": "y"}, headers=keyed),
            wire.sent(),
        ),
        "replay": (client.patch(url, json={"title": "y"}, headers=keyed), wire.sent()),
        "precondition failed": (
            client.patch(url, json={"title": "z"}, headers={**auth_headers, "If-Match": '"1"'}),
            wire.sent(),
        ),
    }

    for name, (response, messages) in operations.items():
        assert response.status_code in (200, 412), (name, response.text)
        assert round_trips(messages) == 1, (name, messages)
    assert operations["replay"][0].headers["idempotent-replayed"] == "true"
    assert operations["precondition failed"][0].status_code == 412


def toggled_recurring(client: TestClient, headers: Headers, wire: Wire) -> list[str]:
    """The messages of a toggle that advances a recurring task (checked to have advanced)."""
    rule = {"due_at": "2030-01-07T09:00:00Z", "recurrence": "FREQ=WEEKLY;BYDAY=MO"}
    task = client.post("/api/tasks", json={"title": "r", **rule}, headers=headers).json()
    wire.sent()
    toggled = client.patch(f"/api/tasks/{task['id']}/complete", headers=headers).json()
    assert (toggled["completed"], toggled["due_at"]) == (False, "2030-01-14T09:00:00Z")
    return wire.sent()


def bulk_applied(
    client: TestClient, headers: Headers, wire: Wire, action: str, task_id: int
) -> list[str]:
    """The messages of a bulk action (checked to have applied to the task)."""
    body = {"action": action, "ids": [task_id, 2**52]}  # the second names no task
    response = client.post("/api/tasks/bulk", json=body, headers=headers)
    assert [task["id"] for task in response.json()["items"]] == [task_id], response.text
    return wire.sent()


def test_a_sync_is_one_round_trip_with_or_without_a_token(
    client: TestClient, auth_headers: Headers, user_id: str, wire: Wire
) -> None:
    client.post("/api/tasks", json={"title": "x"}, headers=auth_headers)
    wire.sent()

    first = client.get("/api/tasks/changes", headers=auth_headers)
    without = wire.sent()
    client.get(
        "/api/tasks/changes", params={"since": first.json()["next_since"]}, headers=auth_headers
    )
    since = wire.sent()

    for messages in (without, since):
        assert round_trips(messages) == 1, messages
        assert user_id in "".join(m for m in messages if m.startswith("Bind"))


def test_a_cold_start_sends_nothing_before_the_first_statement(
    env: Env, auth_headers: Headers, monkeypatch: pytest.MonkeyPatch
) -> None:
    tracer = Wire()
    connect: Any = vars(psycopg.Connection)["connect"]  # the engine's BoundedConnection's

    def traced_connect(cls: type[psycopg.Connection[Any]], *args: Any, **kwargs: Any) -> Any:
        connection = connect.__get__(None, cls)(*args, **kwargs)
        tracer.start(connection)
        return connection

    monkeypatch.setattr(psycopg.Connection, "connect", classmethod(traced_connect))

    response = TestClient(create_app()).get("/api/tasks", headers=auth_headers)

    messages = tracer.sent()
    tracer.file.close()
    assert response.status_code == 200
    assert round_trips(messages) == 1, messages


def test_an_invalid_request_checks_out_no_connection(
    client: TestClient, auth_headers: Headers, wire: Wire
) -> None:
    checkouts: list[object] = []
    event.listen(db.get_engine(), "checkout", lambda *args: checkouts.append(args))

    response = client.post("/api/tasks", json={"title": ""}, headers=auth_headers)

    assert response.status_code == 422
    assert checkouts == []
    assert wire.sent() == []


def test_by_default_statements_are_never_prepared_however_often_they_run(
    client: TestClient, auth_headers: Headers, wire: Wire
) -> None:
    for _ in range(12):
        client.get("/api/tasks", headers=auth_headers)

    messages = wire.sent()

    assert round_trips(messages) == 12
    assert all(m.startswith('Parse\t "" ') for m in messages if m.startswith("Parse"))


def test_a_connection_the_server_closed_is_replaced_without_failing_the_request(
    client: TestClient, auth_headers: Headers, database_url: str, wire: Wire
) -> None:
    with psycopg.connect(database_url, autocommit=True) as admin:
        killed = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
        gone_by_the_time_their_goodbye_was_sent(admin)

    response = client.get("/api/tasks", headers=auth_headers)

    assert killed
    assert response.status_code == 200
    assert round_trips(wire.sent()) == 1, "replaced without a probe round trip"


def gone_by_the_time_their_goodbye_was_sent(admin: psycopg.Connection[Any]) -> None:
    """Wait (bounded) until no other backend is left: each sent its goodbye before exiting."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        left = admin.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchone()
        if left == (0,):
            return
        time.sleep(0.05)
    pytest.fail("terminated backends still running after 10 s")


def test_a_pooled_connection_closed_on_this_side_is_replaced_without_failing_the_request(
    client: TestClient, auth_headers: Headers
) -> None:
    assert client.get("/api/tasks", headers=auth_headers).status_code == 200
    pooled = db.get_engine().raw_connection()  # the warm instance's one pooled connection
    pooled.dbapi_connection.pgconn.finish()  # type: ignore[union-attr]
    pooled.close()  # back to the pool, closed: as a connection whose socket broke is

    response = client.get("/api/tasks", headers=auth_headers)

    assert response.status_code == 200


def test_the_engine_is_built_on_first_use_not_at_import(env: Env) -> None:
    code = (
        "import backend.main, backend.lambda_handler, backend.db as db;"
        "assert db.get_engine.value is None, 'engine built at import'"
    )
    unreachable = {**os.environ, "DATABASE_URL": "postgresql://x:y@127.0.0.1:1/none"}

    result = subprocess.run(
        [sys.executable, "-c", code], env=unreachable, capture_output=True, timeout=60, check=False
    )

    assert result.returncode == 0, result.stderr.decode()


def test_the_engine_never_pre_pings_and_by_default_never_prepares(env: Env) -> None:
    engine = db.get_engine()

    assert engine.pool._pre_ping is False
    with engine.connect() as connection:
        raw = connection.connection.dbapi_connection
        assert raw is not None
        assert raw.prepare_threshold is None
        assert raw.autocommit is True


def test_a_deployed_function_without_database_url_refuses_clearly(env: Env) -> None:
    env(DATABASE_URL=None)

    with pytest.raises(DatabaseNotConfigured, match="DATABASE_URL is not set"):
        db.get_engine()


def test_a_request_without_database_url_is_a_500_whose_log_says_why(
    env: Env, auth_headers: Headers, caplog: pytest.LogCaptureFixture
) -> None:
    env(DATABASE_URL=None)

    with caplog.at_level(logging.ERROR):
        response = TestClient(create_app()).get("/api/tasks", headers=auth_headers)

    assert response.status_code == 500
    assert response.json() == {"detail": "Internal server error", "code": "INTERNAL_ERROR"}
    assert "DATABASE_URL is not set" in caplog.text


def plan_of(database_url: str, statement: Any, params: dict[str, Any]) -> str:
    """EXPLAIN of the statement as the app compiles it, with sorting and seq scans priced out."""
    compiled = statement.compile(dialect=db.get_engine().dialect)
    params = {"caller": "someone", **params}
    with psycopg.connect(database_url) as connection:
        connection.execute("SET LOCAL enable_seqscan = off")
        connection.execute("SET LOCAL enable_sort = off")  # a Sort left in the plan had to be
        rows = connection.execute(f"EXPLAIN {compiled}", compiled.construct_params(params))
        return "\n".join(row[0] for row in rows)


SORT_INDEXES = {
    ("created_at", "asc"): "ix_tasks_user_created",
    ("created_at", "desc"): "ix_tasks_user_created",
    ("updated_at", "asc"): "ix_tasks_user_updated",
    ("updated_at", "desc"): "ix_tasks_user_updated",
    ("due_at", "asc"): "ix_tasks_user_due",
    ("due_at", "desc"): "ix_tasks_user_due_desc",
    ("priority", "asc"): "ix_tasks_user_priority",
    ("priority", "desc"): "ix_tasks_user_priority",
    ("title", "asc"): "ix_tasks_user_title",
    ("title", "desc"): "ix_tasks_user_title",
}


@pytest.mark.parametrize(("sort", "order"), SORT_INDEXES)
@pytest.mark.parametrize("paged", [False, True])
def test_every_list_sort_reads_its_live_index_in_order_without_sorting(
    env: Env, database_url: str, sort: Sort, order: Order, paged: bool
) -> None:
    values: dict[str, SortValue] = {"due_at": None, "priority": 2, "title": "m"}
    value = values.get(sort, datetime.now(UTC))
    cursor = Cursor(sort, order, value, 5) if paged else None
    query = listing.ListQuery(sort=sort, order=order, status="pending", cursor=cursor)

    plan = plan_of(database_url, listing.list_statement(query.shape), query.params)

    assert re.search(f"Index Scan (Backward )?using {SORT_INDEXES[sort, order]} ", plan), plan
    assert "Sort" not in plan, plan


@pytest.mark.parametrize("paged", [False, True])
def test_the_trash_reads_its_own_index_in_order_without_sorting(
    env: Env, database_url: str, paged: bool
) -> None:
    cursor = Cursor("deleted_at", "desc", datetime.now(UTC), 5) if paged else None

    page = trash.TrashPage(100, cursor)
    plan = plan_of(database_url, trash.trash_statement(paged), page.params)

    assert "Index Scan using ix_tasks_user_trash" in plan, plan
    assert "Sort" not in plan, plan


def test_stats_read_the_live_and_trash_indexes_never_the_whole_table(
    env: Env, database_url: str
) -> None:
    plan = plan_of(database_url, stats.stats_statement(true()), trash.retained())

    assert "Seq Scan" not in plan, plan
    assert re.search(r"Index (Only )?Scan using ix_tasks_user_\w+ on tasks", plan), plan
    assert "using ix_tasks_user_trash" in plan, plan


SYNC_TOKENS = [
    None,
    sync.Token((10**6, 5)),
    sync.Token((10**6, 5), ((999_990, 0), (999_995, 3)), floor=999_000),
]


@pytest.mark.parametrize("token", SYNC_TOKENS)
def test_sync_reads_the_write_xid_indexes_in_order_without_sorting(
    env: Env, database_url: str, token: sync.Token | None
) -> None:
    shape = sync.shape_of(token)
    statements = [sync.task_rows(shape, true())]
    if token is not None:
        statements.append(sync.tombstone_rows(shape, true()))

    params = sync.params_of(token, 100)
    plans = [plan_of(database_url, statement, params) for statement in statements]

    indexes = ["ix_tasks_user_written", "ix_task_tombstones_user_written"]
    for index, plan in zip(indexes, plans, strict=False):
        assert re.search(f"Index (Only )?Scan using {index} ", plan), plan
        assert "Sort" not in plan, plan
        if token is not None:  # a range from the token on: not every row of the user
            assert re.search(r"Index Cond: .*write_xid", plan), plan
