"""The trash: DELETE moves a task there; list, restore, delete for good, empty, retention."""

from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from tests.conftest import Env

Headers = dict[str, str]
Task = dict[str, Any]


def create(client: TestClient, headers: Headers, title: str = "A task", **fields: Any) -> Task:
    response = client.post("/api/tasks", json={"title": title, **fields}, headers=headers)
    assert response.status_code == 201, response.text
    task: Task = response.json()
    return task


def trash(client: TestClient, headers: Headers, task: Task) -> Task:
    response = client.delete(f"/api/tasks/{task['id']}", headers=headers)
    assert response.status_code == 200, response.text
    trashed: Task = response.json()
    return trashed


def trash_ids(client: TestClient, headers: Headers, **params: Any) -> list[int]:
    response = client.get("/api/tasks/trash", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return [task["id"] for task in response.json()]


def age(database_url: str, task_id: int, days: float) -> None:
    """Pretend the task was trashed `days` ago."""
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute(
            "UPDATE tasks SET deleted_at = now() - make_interval(secs => %s) WHERE id = %s",
            (days * 86400, task_id),
        )


def test_the_trash_lists_most_recently_deleted_first(
    client: TestClient, auth_headers: Headers
) -> None:
    first, second, live = (create(client, auth_headers, t) for t in ("first", "second", "live"))
    trash(client, auth_headers, second)
    trash(client, auth_headers, first)

    response = client.get("/api/tasks/trash", headers=auth_headers)

    assert response.status_code == 200
    assert [task["title"] for task in response.json()] == ["first", "second"]
    assert all(task["deleted_at"] is not None for task in response.json())
    assert live["id"] not in [task["id"] for task in response.json()]


def test_the_trash_pages_through_link_with_ties_broken_by_id_descending(
    client: TestClient, auth_headers: Headers, database_url: str
) -> None:
    tasks = [trash(client, auth_headers, create(client, auth_headers, f"t{n}")) for n in range(5)]
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute(
            "UPDATE tasks SET deleted_at = now() WHERE id = ANY(%s)", ([t["id"] for t in tasks],)
        )

    response = client.get("/api/tasks/trash", params={"limit": 2}, headers=auth_headers)
    walked = [task["id"] for task in response.json()]
    while "next" in response.links:
        response = client.get(response.links["next"]["url"], headers=auth_headers)
        walked += [task["id"] for task in response.json()]

    assert walked == sorted((t["id"] for t in tasks), reverse=True)


def test_a_trashed_task_is_404_on_every_other_route_and_in_no_list(
    client: TestClient, auth_headers: Headers
) -> None:
    task = trash(client, auth_headers, create(client, auth_headers, "Gone", tags=["x"]))
    url = f"/api/tasks/{task['id']}"

    answers = [
        client.get(url, headers=auth_headers),
        client.put(url, json={"title": "t"}, headers=auth_headers),
        client.patch(url, json={"title": "t"}, headers=auth_headers),
        client.patch(f"{url}/complete", headers=auth_headers),
        client.delete(url, headers=auth_headers),
    ]

    assert [answer.status_code for answer in answers] == [404] * 5
    for params in ({}, {"tag": "x"}, {"q": "gone"}, {"status": "pending"}, {"sort": "title"}):
        listed = client.get("/api/tasks", params=params, headers=auth_headers).json()
        assert task["id"] not in [t["id"] for t in listed], params


def test_restore_brings_the_task_back_with_a_new_version(
    client: TestClient, auth_headers: Headers
) -> None:
    task = create(client, auth_headers, completed=True)
    trashed = trash(client, auth_headers, task)

    response = client.post(f"/api/tasks/{task['id']}/restore", headers=auth_headers)

    body = response.json()
    assert response.status_code == 200
    assert response.headers["etag"] == '"3"'
    assert body | {"updated_at": None} == trashed | {
        "deleted_at": None,
        "version": 3,
        "updated_at": None,
    }
    assert client.get(f"/api/tasks/{task['id']}", headers=auth_headers).json() == body
    assert trash_ids(client, auth_headers) == []


def test_restore_and_delete_for_good_are_404_unless_the_task_is_in_the_trash(
    client: TestClient, auth_headers: Headers
) -> None:
    live = create(client, auth_headers)
    not_found = {"detail": "Task not found", "code": "NOT_FOUND"}

    restored = client.post(f"/api/tasks/{live['id']}/restore", headers=auth_headers)
    deleted = client.delete(f"/api/tasks/trash/{live['id']}", headers=auth_headers)
    missing = client.post("/api/tasks/999999999/restore", headers=auth_headers)

    assert (restored.status_code, restored.json()) == (404, not_found)
    assert deleted.status_code == 404
    assert deleted.json() == {"detail": "Task not found in the trash", "code": "NOT_FOUND"}
    assert missing.status_code == 404
    assert client.get(f"/api/tasks/{live['id']}", headers=auth_headers).status_code == 200


def test_delete_for_good_removes_the_task_from_the_trash(
    client: TestClient, auth_headers: Headers
) -> None:
    task = trash(client, auth_headers, create(client, auth_headers))

    response = client.delete(f"/api/tasks/trash/{task['id']}", headers=auth_headers)

    assert (response.status_code, response.content) == (204, b"")
    assert trash_ids(client, auth_headers) == []
    assert client.post(f"/api/tasks/{task['id']}/restore", headers=auth_headers).status_code == 404


def test_emptying_the_trash_deletes_only_the_callers_trash_and_counts_it(
    client: TestClient, auth_headers: Headers, other_headers: Headers
) -> None:
    for n in range(3):
        trash(client, auth_headers, create(client, auth_headers, f"t{n}"))
    live = create(client, auth_headers)
    theirs = trash(client, other_headers, create(client, other_headers))

    emptied = client.post("/api/tasks/trash/empty", headers=auth_headers)
    again = client.post("/api/tasks/trash/empty", headers=auth_headers)

    assert (emptied.status_code, emptied.json()) == (200, {"purged": 3})
    assert again.json() == {"purged": 0}
    assert trash_ids(client, auth_headers) == []
    assert trash_ids(client, other_headers) == [theirs["id"]]
    assert client.get(f"/api/tasks/{live['id']}", headers=auth_headers).status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("DELETE", "/api/tasks/trash", "GET"),
        ("DELETE", "/api/tasks/trash/", "GET"),
        ("PUT", "/api/tasks/trash", "GET"),
        ("GET", "/api/tasks/trash/empty", "POST"),
        ("DELETE", "/api/tasks/trash/empty", "POST"),
    ],
)
def test_the_trash_paths_never_reach_a_task_route(
    client: TestClient, auth_headers: Headers, method: str, path: str, allow: str
) -> None:
    trash(client, auth_headers, create(client, auth_headers))

    response = client.request(method, path, headers=auth_headers)

    assert response.status_code == 405
    assert response.headers["allow"] == allow
    assert len(trash_ids(client, auth_headers)) == 1


def test_the_trash_routes_serve_the_path_user_form(
    client: TestClient, auth_headers: Headers, user_id: str
) -> None:
    base = f"/api/{user_id}/tasks"
    task = create(client, auth_headers)

    trashed = client.delete(f"{base}/{task['id']}", headers=auth_headers)
    listed = client.get(f"{base}/trash", headers=auth_headers)
    restored = client.post(f"{base}/{task['id']}/restore", headers=auth_headers)
    client.delete(f"{base}/{task['id']}", headers=auth_headers)
    gone = client.delete(f"{base}/trash/{task['id']}", headers=auth_headers)
    emptied = client.post(f"{base}/trash/empty", headers=auth_headers)

    assert trashed.status_code == 200
    assert [t["id"] for t in listed.json()] == [task["id"]]
    assert restored.json()["deleted_at"] is None
    assert gone.status_code == 204
    assert emptied.json() == {"purged": 0}


def test_a_task_trashed_past_retention_is_never_listed_restored_or_counted(
    client: TestClient, auth_headers: Headers, database_url: str, env: Env
) -> None:
    env(TRASH_RETENTION_DAYS="7")
    old, fresh = (trash(client, auth_headers, create(client, auth_headers, t)) for t in "ab")
    age(database_url, old["id"], 7.01)
    age(database_url, fresh["id"], 6.99)

    assert trash_ids(client, auth_headers) == [fresh["id"]]
    assert client.post(f"/api/tasks/{old['id']}/restore", headers=auth_headers).status_code == 404
    assert client.delete(f"/api/tasks/trash/{old['id']}", headers=auth_headers).status_code == 404
    assert client.post("/api/tasks/trash/empty", headers=auth_headers).json() == {"purged": 1}
