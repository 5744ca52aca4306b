"""Sync under concurrent writers whose commits land out of order: no committed write is missed.

Writers are psycopg connections holding explicit transactions open, sending the SQL the
app's statements send (every write path relies on the same triggers); the test decides
when each commits, so every schedule is deterministic.
"""

import random
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from tests.conftest import Env
from tests.syncing import Replica, server_state

Headers = dict[str, str]

WRITES = {
    "edit": "UPDATE tasks SET title = %(title)s, version = version + 1, updated_at = now() "
    "WHERE id = %(id)s AND user_id = %(user)s AND deleted_at IS NULL",
    "trash": "UPDATE tasks SET deleted_at = now(), version = version + 1, updated_at = now() "
    "WHERE id = %(id)s AND user_id = %(user)s AND deleted_at IS NULL",
    "restore": "UPDATE tasks SET deleted_at = NULL, version = version + 1, updated_at = now() "
    "WHERE id = %(id)s AND user_id = %(user)s AND deleted_at IS NOT NULL",
    "delete": "DELETE FROM tasks WHERE id = %(id)s AND user_id = %(user)s "
    "AND deleted_at IS NOT NULL",
}
CREATE = "INSERT INTO tasks (user_id, title) VALUES (%(user)s, %(title)s) RETURNING id"


@pytest.fixture
def writers(database_url: str) -> Iterator[list[psycopg.Connection[Any]]]:
    """Three connections, each in a transaction of its own until the test commits it."""
    connections = [psycopg.connect(database_url) for _ in range(3)]
    yield connections
    for connection in connections:
        connection.close()


def create(client: TestClient, headers: Headers, title: str) -> int:
    response = client.post("/api/tasks", json={"title": title}, headers=headers)
    assert response.status_code == 201, response.text
    task_id: int = response.json()["id"]
    return task_id


def write_xid(database_url: str, task_id: int) -> int:
    with psycopg.connect(database_url) as connection:
        row = connection.execute("SELECT write_xid::text FROM tasks WHERE id = %s", (task_id,))
        return int(row.fetchone()[0])  # type: ignore[index]


def titles(body: dict[str, Any]) -> dict[int, str]:
    return {task["id"]: task["title"] for task in body["changes"]}


def test_a_write_that_began_first_and_committed_last_is_in_the_next_sync(
    client: TestClient, auth_headers: Headers, user_id: str, database_url: str, writers: Any
) -> None:
    first, second = create(client, auth_headers, "a"), create(client, auth_headers, "b")
    replica = Replica(client, auth_headers)
    replica.sync()
    a = writers[0]
    a.execute(WRITES["edit"], {"title": "by A", "id": first, "user": user_id})
    client.patch(f"/api/tasks/{second}", json={"title": "by B"}, headers=auth_headers)

    before_a_commits = replica.page()
    a.commit()
    after_a_commits = replica.page()

    assert write_xid(database_url, first) < write_xid(database_url, second), "out of order"
    assert titles(before_a_commits) == {second: "by B"}
    assert titles(after_a_commits) == {first: "by A"}
    assert replica.page()["changes"] == []
    assert replica.state() == server_state(database_url, user_id)


@pytest.mark.parametrize("operation", ["create", "edit", "trash", "restore", "delete"])
def test_every_kind_of_write_committed_out_of_order_reaches_the_replica(
    client: TestClient,
    auth_headers: Headers,
    user_id: str,
    database_url: str,
    writers: Any,
    operation: str,
) -> None:
    target = create(client, auth_headers, "target")
    if operation in ("restore", "delete"):
        client.delete(f"/api/tasks/{target}", headers=auth_headers)
    replica = Replica(client, auth_headers)
    replica.sync()
    a = writers[0]
    values = {"title": "by A", "id": target, "user": user_id}
    a.execute(CREATE if operation == "create" else WRITES[operation], values)
    later = create(client, auth_headers, "committed while A runs")

    replica.sync()
    a.commit()
    replica.sync()

    assert later in replica.tasks
    assert replica.state() == server_state(database_url, user_id)
    assert replica.page()["changes"] == []


def test_a_write_that_commits_behind_a_page_boundary_is_still_served(
    client: TestClient, auth_headers: Headers, user_id: str, database_url: str, writers: Any
) -> None:
    ids = [create(client, auth_headers, f"t{n}") for n in range(6)]
    replica = Replica(client, auth_headers, limit=2)
    replica.sync()
    a = writers[0]
    a.execute(WRITES["edit"], {"title": "by A", "id": ids[0], "user": user_id})
    for task_id in ids[1:]:
        client.patch(f"/api/tasks/{task_id}", json={"title": "later"}, headers=auth_headers)

    first_page = replica.page()
    a.commit()  # its transaction id sorts before the page's cursor
    replica.sync()

    assert first_page["has_more"] is True
    assert replica.tasks[ids[0]]["title"] == "by A"
    assert replica.state() == server_state(database_url, user_id)


def test_pages_inside_transactions_the_token_listed_as_running_serve_every_row(
    client: TestClient, auth_headers: Headers, user_id: str, database_url: str, writers: Any
) -> None:
    ids = [create(client, auth_headers, f"t{n}") for n in range(5)]
    replica = Replica(client, auth_headers, limit=1)
    replica.sync()
    for writer, mine in ((writers[0], ids[0:2]), (writers[1], ids[2:4])):
        for task_id in mine:
            writer.execute(WRITES["edit"], {"title": "in flight", "id": task_id, "user": user_id})
    client.patch(f"/api/tasks/{ids[4]}", json={"title": "committed"}, headers=auth_headers)
    replica.sync()  # its token lists both writers as running
    for writer in writers[:2]:
        writer.commit()

    pages = replica.sync()

    assert len(pages) >= 4, "limit 1: a page boundary falls inside each writer's rows"
    assert sorted(replica.received[-4:]) == ids[0:4]
    assert replica.state() == server_state(database_url, user_id)


def test_past_the_listed_limit_a_token_resends_from_the_oldest_running_and_misses_nothing(
    client: TestClient,
    auth_headers: Headers,
    user_id: str,
    database_url: str,
    writers: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from backend import sync

    monkeypatch.setattr(sync, "MAX_LISTED", 0)  # as if thousands were running
    first, second = create(client, auth_headers, "a"), create(client, auth_headers, "b")
    replica = Replica(client, auth_headers)
    replica.sync()
    writers[0].execute(WRITES["edit"], {"title": "by A", "id": first, "user": user_id})
    client.patch(f"/api/tasks/{second}", json={"title": "by B"}, headers=auth_headers)

    replica.sync()
    writers[0].commit()
    replica.sync()

    assert replica.tasks[first]["title"] == "by A"
    assert replica.state() == server_state(database_url, user_id)


class Schedule:
    """Seeded random writes across the writers and the API, with syncs in between."""

    def __init__(self, seed: int, client: TestClient, headers: Headers, user_id: str) -> None:
        self.random = random.Random(seed)
        self.client, self.headers, self.user = client, headers, user_id
        self.ids = [create(client, headers, f"seed {n}") for n in range(4)]
        self.held: dict[int, set[int]] = {}
        """Per writer, the ids its open transaction has written: nobody else may touch them."""

    def free(self, writer: int | None) -> list[int]:
        taken = {i for w, ids in self.held.items() if w != writer for i in ids}
        return [i for i in self.ids if i not in taken]

    def in_transaction(self, index: int, connection: psycopg.Connection[Any]) -> None:
        values = {"title": f"w{index}-{self.random.randrange(10**6)}", "user": self.user}
        operation = self.random.choice(["create", "edit", "edit", "trash", "restore", "delete"])
        candidates = self.free(index)
        if operation == "create" or not candidates:
            row = connection.execute(CREATE, values).fetchone()
            assert row is not None
            self.held.setdefault(index, set())
            self.ids.append(row[0])
            return
        task_id = self.random.choice(candidates)
        connection.execute(WRITES[operation], {**values, "id": task_id})
        self.held.setdefault(index, set()).add(task_id)

    def through_the_api(self) -> None:
        candidates = self.free(None)
        if not candidates or self.random.random() < 0.25:
            self.ids.append(create(self.client, self.headers, "api"))
            return
        url = f"/api/tasks/{self.random.choice(candidates)}"
        method, path, body = self.random.choice(
            [
                ("PATCH", "", {"title": f"api-{self.random.randrange(10**6)}"}),
                ("PATCH", "/complete", None),
                ("DELETE", "", None),
                ("POST", "/restore", None),
            ]
        )
        response = self.client.request(method, url + path, json=body, headers=self.headers)
        assert response.status_code in (200, 404), response.text

    def end(self, index: int, connection: psycopg.Connection[Any]) -> None:
        if self.random.random() < 0.2:
            connection.rollback()
        else:
            connection.commit()
        self.held.pop(index, None)


@pytest.mark.parametrize("seed", range(8))
def test_a_replica_rebuilt_from_changes_equals_the_server_under_a_random_schedule(
    client: TestClient,
    auth_headers: Headers,
    other_headers: Headers,
    user_id: str,
    database_url: str,
    writers: Any,
    env: Env,
    seed: int,
) -> None:
    env(RATE_LIMIT_PER_MINUTE="0")
    schedule = Schedule(seed, client, auth_headers, user_id)
    replica = Replica(client, auth_headers, limit=[1, 2, 3, 100][seed % 4])
    for number in range(120):
        if number % 20 == 19:  # a quiet point: every writer ends, and a full sync must match
            for index, connection in enumerate(writers):
                schedule.end(index, connection)
            replica.sync()
            assert replica.state() == server_state(database_url, user_id), number
            continue
        step = schedule.random.random()
        index = schedule.random.randrange(len(writers))
        if step < 0.35:
            schedule.in_transaction(index, writers[index])
        elif step < 0.47:  # transactions stay open across several syncs
            schedule.end(index, writers[index])
        elif step < 0.67:
            schedule.through_the_api()
        elif step < 0.7:
            create(client, other_headers, "another user's")
        else:
            replica.page()
    for index, connection in enumerate(writers):
        schedule.end(index, connection)

    replica.sync()

    assert replica.state() == server_state(database_url, user_id)
    assert (replica.page()["changes"], replica.page()["purged"]) == ([], [])
    assert len(set(replica.versions)) == len(replica.versions), "a version was sent twice"
