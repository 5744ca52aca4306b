"""Sync: /changes sends every write since a token once or more, and nothing when idle."""

import base64
import json
import time
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from backend.sync import Token
from tests.conftest import Env
from tests.syncing import Replica, changes, server_state

Headers = dict[str, str]
Task = dict[str, Any]


def create(client: TestClient, headers: Headers, title: str = "A task") -> Task:
    response = client.post("/api/tasks", json={"title": title}, headers=headers)
    assert response.status_code == 201, response.text
    task: Task = response.json()
    return task


def test_without_since_every_live_and_trashed_task_comes_back_but_none_deleted_for_good(
    client: TestClient, auth_headers: Headers
) -> None:
    live, trashed, gone = (create(client, auth_headers, t) for t in ("live", "trashed", "gone"))
    for task in (trashed, gone):
        client.delete(f"/api/tasks/{task['id']}", headers=auth_headers)
    client.delete(f"/api/tasks/trash/{gone['id']}", headers=auth_headers)

    body = changes(client, auth_headers)

    assert {t["id"]: t["deleted_at"] is not None for t in body["changes"]} == {
        live["id"]: False,
        trashed["id"]: True,
    }
    assert body["purged"] == []
    assert body["has_more"] is False


def test_an_empty_since_is_a_first_sync_as_an_empty_cursor_is_a_first_page(
    client: TestClient, auth_headers: Headers
) -> None:
    task = create(client, auth_headers)

    response = client.get("/api/tasks/changes", params={"since": ""}, headers=auth_headers)

    assert response.status_code == 200
    assert [t["id"] for t in response.json()["changes"]] == [task["id"]]


def test_an_idle_sync_is_empty_even_while_an_older_transaction_is_still_running(
    client: TestClient, auth_headers: Headers, other_headers: Headers, database_url: str
) -> None:
    replica = Replica(client, auth_headers)
    create(client, auth_headers)
    with psycopg.connect(database_url) as older:  # holds the snapshots' xmin below what follows
        older.execute("INSERT INTO tasks (user_id, title) VALUES ('someone-else', 'held')")
        create(client, auth_headers, "written while the older one runs")
        replica.sync()

        idle = [replica.page() for _ in range(3)]

        older.rollback()
    assert [(page["changes"], page["purged"]) for page in idle] == [([], [])] * 3
    assert replica.page()["changes"] == []


def test_every_kind_of_write_is_in_the_next_sync(client: TestClient, auth_headers: Headers) -> None:
    edited, toggled, trashed, restored, gone, emptied = (
        create(client, auth_headers, name)
        for name in ("edited", "toggled", "trashed", "restored", "gone", "emptied")
    )
    untouched = create(client, auth_headers, "untouched")
    replica = Replica(client, auth_headers)
    replica.sync()
    client.patch(f"/api/tasks/{edited['id']}", json={"title": "new"}, headers=auth_headers)
    client.patch(f"/api/tasks/{toggled['id']}/complete", headers=auth_headers)
    for task in (trashed, restored, gone, emptied):
        client.delete(f"/api/tasks/{task['id']}", headers=auth_headers)
    client.post(f"/api/tasks/{restored['id']}/restore", headers=auth_headers)
    client.delete(f"/api/tasks/trash/{gone['id']}", headers=auth_headers)
    client.post("/api/tasks/trash/empty", headers=auth_headers)
    created = create(client, auth_headers, "created")

    body = replica.page()

    sent = {
        t["id"]: (t["title"], t["completed"], t["deleted_at"] is not None) for t in body["changes"]
    }
    assert sent == {
        edited["id"]: ("new", False, False),
        toggled["id"]: ("toggled", True, False),
        restored["id"]: ("restored", False, False),
        created["id"]: ("created", False, False),
    }
    assert sorted(body["purged"]) == sorted([trashed["id"], gone["id"], emptied["id"]])
    assert untouched["id"] in replica.tasks
    assert replica.page()["changes"] == []


def test_a_trashed_task_comes_back_with_its_deleted_at(
    client: TestClient, auth_headers: Headers
) -> None:
    task = create(client, auth_headers)
    replica = Replica(client, auth_headers)
    replica.sync()
    trashed = client.delete(f"/api/tasks/{task['id']}", headers=auth_headers).json()

    body = replica.page()

    assert body["changes"] == [trashed]
    assert body["changes"][0]["deleted_at"] is not None


@pytest.mark.parametrize("limit", [1, 2, 3])
def test_small_pages_serve_every_task_once_and_end(
    client: TestClient, auth_headers: Headers, user_id: str, database_url: str, limit: int
) -> None:
    tasks = [create(client, auth_headers, f"t{n}") for n in range(7)]
    with psycopg.connect(database_url, autocommit=True) as connection:  # 4 rows, 1 transaction
        connection.execute(
            "UPDATE tasks SET title = 'bulk' WHERE id = ANY(%s)", ([t["id"] for t in tasks[2:6]],)
        )
    replica = Replica(client, auth_headers, limit=limit)

    pages = replica.sync()

    assert sorted(replica.received) == sorted(t["id"] for t in tasks)
    assert all(page["has_more"] for page in pages[:-1])
    assert len(pages) == -(-len(tasks) // limit)  # a full last page says none follows
    assert replica.state() == server_state(database_url, user_id)
    assert replica.page()["changes"] == []


def test_pages_carry_tombstones_too_and_limit_bounds_both(
    client: TestClient, auth_headers: Headers, user_id: str, database_url: str
) -> None:
    tasks = [create(client, auth_headers, f"t{n}") for n in range(6)]
    replica = Replica(client, auth_headers, limit=2)
    replica.sync()
    for task in tasks[:4]:
        client.delete(f"/api/tasks/{task['id']}", headers=auth_headers)
    client.post("/api/tasks/trash/empty", headers=auth_headers)

    pages = replica.sync()

    assert sorted(i for page in pages for i in page["purged"]) == sorted(t["id"] for t in tasks[:4])
    assert replica.state() == server_state(database_url, user_id)


def test_another_users_writes_and_tombstones_never_appear(
    client: TestClient, auth_headers: Headers, other_headers: Headers
) -> None:
    mine = create(client, auth_headers, "mine")
    replica = Replica(client, auth_headers)
    replica.sync()
    theirs = create(client, other_headers, "theirs")
    client.delete(f"/api/tasks/{theirs['id']}", headers=other_headers)
    client.delete(f"/api/tasks/trash/{theirs['id']}", headers=other_headers)
    create(client, other_headers, "theirs too")

    body = replica.page()

    assert (body["changes"], body["purged"]) == ([], [])
    assert list(replica.tasks) == [mine["id"]]
    assert [t["title"] for t in changes(client, other_headers)["changes"]] == ["theirs too"]


def test_the_path_form_serves_the_callers_changes_and_refuses_another_user(
    client: TestClient, auth_headers: Headers, user_id: str
) -> None:
    task = create(client, auth_headers)

    mine = client.get(f"/api/{user_id}/tasks/changes", headers=auth_headers)
    theirs = client.get("/api/someone-else/tasks/changes", headers=auth_headers)

    assert [t["id"] for t in mine.json()["changes"]] == [task["id"]]
    assert theirs.status_code == 403
    assert theirs.json()["code"] == "FORBIDDEN"


def test_changes_is_no_task_id_and_serves_only_get(
    client: TestClient, auth_headers: Headers
) -> None:
    response = client.post("/api/tasks/changes", headers=auth_headers)

    assert response.status_code == 405
    assert response.headers["allow"] == "GET"
    assert response.json()["code"] == "METHOD_NOT_ALLOWED"


def encoded(raw: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(raw).encode()).decode().rstrip("=")


NOW = int(time.time())
MALFORMED = [
    "not a token",
    "%%%",
    encoded({"after": 1}),
    encoded([2, 10, 0, [], 0, NOW]),  # another version
    encoded([1, 10, 0, [], 0]),  # a part missing
    encoded([1, -1, 0, [], 0, NOW]),
    encoded([1, 2**64, 0, [], 0, NOW]),
    encoded([1, 10, True, [], 0, NOW]),
    encoded([1, 10, 0, [[0, 0]], 0, NOW]),  # a listed transaction at `after`
    encoded([1, 10, 0, [[11, 0]], 0, NOW]),  # below transaction 0
    encoded([1, 10, 0, [[4, 0], [5, 0]], 0, NOW]),  # not ascending
    encoded([1, 10, 0, [[5]], 0, NOW]),
    encoded([1, 10, 0, [], 0, NOW + 86400]),  # issued tomorrow
    encoded([1, 10.5, 0, [], 0, NOW]),
    encoded([1, 1000, 0, [[d, 1] for d in range(101, 0, -1)], 0, NOW]),  # 101 partly served
    "A" * 40_000,
]


@pytest.mark.parametrize("since", MALFORMED)
def test_a_malformed_token_is_422_on_since(
    client: TestClient, auth_headers: Headers, since: str
) -> None:
    response = client.get("/api/tasks/changes", params={"since": since}, headers=auth_headers)

    assert response.status_code == 422
    message = "since is not a sync token: use next_since as given"
    assert response.json() == {
        "detail": message,
        "code": "VALIDATION_ERROR",
        "field": "since",
        "errors": [{"field": "since", "message": message}],
    }


@pytest.mark.parametrize("limit", ["0", "501", "x"])
def test_a_limit_outside_1_to_500_is_422(
    client: TestClient, auth_headers: Headers, limit: str
) -> None:
    response = client.get("/api/tasks/changes", params={"limit": limit}, headers=auth_headers)

    assert response.status_code == 422
    assert response.json()["field"] == "limit"


@pytest.mark.parametrize(("days", "age", "status"), [(30, 31, 410), (30, 29, 200), (2, 3, 410)])
def test_a_token_older_than_the_trash_retention_is_410(
    client: TestClient, auth_headers: Headers, env: Env, days: int, age: int, status: int
) -> None:
    env(TRASH_RETENTION_DAYS=str(days))
    token = Token.decode(changes(client, auth_headers)["next_since"], time.time())
    aged = Token(token.after, token.also, token.floor, token.issued - age * 86400).encode()

    response = client.get("/api/tasks/changes", params={"since": aged}, headers=auth_headers)

    assert response.status_code == status
    if status == 410:
        assert response.json() == {
            "detail": "This sync token has expired: sync again without `since` to get every task",
            "code": "SYNC_EXPIRED",
            "field": "since",
        }


def test_the_purge_leaves_tombstones_and_deletes_those_past_retention(
    client: TestClient, auth_headers: Headers, database_url: str, env: Env
) -> None:
    from backend import db, trash

    expired, fresh = create(client, auth_headers, "expired"), create(client, auth_headers, "fresh")
    replica = Replica(client, auth_headers)
    replica.sync()
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute(
            "UPDATE tasks SET deleted_at = now() - interval '31 days' WHERE id = %s",
            (expired["id"],),
        )
        connection.execute(  # a tombstone of 32 days ago: past retention and its grace day
            "INSERT INTO task_tombstones (task_id, user_id, deleted_at) "
            "VALUES (-1, 'old', now() - interval '32 days')"
        )

    trash.purge_expired(db.get_engine())

    body = replica.page()
    assert body["purged"] == [expired["id"]]
    assert list(replica.tasks) == [fresh["id"]]
    with psycopg.connect(database_url, autocommit=True) as connection:
        left = connection.execute("SELECT count(*) FROM task_tombstones WHERE task_id = -1")
        assert left.fetchone() == (0,)
