"""No client input reaches another user's tasks: every route answers 404 or 403."""

from typing import Any

import pytest
from fastapi.testclient import TestClient

Headers = dict[str, str]

TASK_ROUTES = [
    ("GET", "", None),
    ("PUT", "", {"title": "stolen"}),
    ("PATCH", "", {"title": "stolen"}),
    ("PATCH", "/complete", None),
    ("PATCH", "/complete", {"completed": True}),
    ("DELETE", "", None),
]

COLLECTION_ROUTES = [("GET", None), ("POST", {"title": "planted"})]


@pytest.fixture
def victims_task(client: TestClient, auth_headers: Headers) -> dict[str, Any]:
    response = client.post("/api/tasks", json={"title": "private"}, headers=auth_headers)
    task: dict[str, Any] = response.json()
    return task


@pytest.mark.parametrize(("method", "suffix", "body"), TASK_ROUTES)
@pytest.mark.parametrize("prefix", ["/api", "/api/{caller}"])
def test_another_users_task_is_404_on_every_route(
    client: TestClient,
    auth_headers: Headers,
    other_headers: Headers,
    victims_task: dict[str, Any],
    method: str,
    suffix: str,
    body: dict[str, Any] | None,
    prefix: str,
) -> None:
    caller = client.get("/api/me", headers=other_headers).json()["user_id"]
    url = f"{prefix.format(caller=caller)}/tasks/{victims_task['id']}{suffix}"

    response = client.request(method, url, json=body, headers=other_headers)

    assert response.status_code == 404
    assert response.json() == {"detail": "Task not found", "code": "NOT_FOUND"}
    unchanged = client.get(f"/api/tasks/{victims_task['id']}", headers=auth_headers)
    assert unchanged.json() == victims_task


def test_another_users_tasks_never_appear_in_a_list(
    client: TestClient, other_headers: Headers, victims_task: dict[str, Any]
) -> None:
    response = client.get("/api/tasks", params={"limit": 100}, headers=other_headers)

    assert victims_task["id"] not in [task["id"] for task in response.json()]


@pytest.mark.parametrize(("method", "suffix", "body"), TASK_ROUTES)
def test_a_path_user_id_that_is_not_the_caller_is_403_on_task_routes(
    client: TestClient,
    auth_headers: Headers,
    other_headers: Headers,
    victims_task: dict[str, Any],
    user_id: str,
    method: str,
    suffix: str,
    body: dict[str, Any] | None,
) -> None:
    url = f"/api/{user_id}/tasks/{victims_task['id']}{suffix}"

    response = client.request(method, url, json=body, headers=other_headers)

    assert response.status_code == 403
    assert response.json() == {
        "detail": "The user id in the path is not the caller's",
        "code": "FORBIDDEN",
    }
    unchanged = client.get(f"/api/tasks/{victims_task['id']}", headers=auth_headers)
    assert unchanged.json() == victims_task


@pytest.mark.parametrize("content", ["{not json", '{"title": ""}', '{"title": "x"}'])
def test_a_foreign_path_user_id_is_403_whatever_the_body(
    client: TestClient, other_headers: Headers, user_id: str, content: str
) -> None:
    headers = {**other_headers, "Content-Type": "application/json"}

    response = client.post(f"/api/{user_id}/tasks", content=content, headers=headers)

    assert (response.status_code, response.json()["code"]) == (403, "FORBIDDEN")


@pytest.mark.parametrize(("method", "body"), COLLECTION_ROUTES)
def test_a_path_user_id_that_is_not_the_caller_is_403_on_the_collection(
    client: TestClient,
    auth_headers: Headers,
    other_headers: Headers,
    user_id: str,
    method: str,
    body: dict[str, Any] | None,
) -> None:
    response = client.request(method, f"/api/{user_id}/tasks", json=body, headers=other_headers)

    assert response.status_code == 403
    assert response.json()["code"] == "FORBIDDEN"
    listed = client.get("/api/tasks", headers=auth_headers).json()
    assert [t["title"] for t in listed] == []


def test_a_token_is_checked_before_the_path_user_id(client: TestClient, user_id: str) -> None:
    response = client.get(f"/api/{user_id}/tasks")

    assert response.status_code == 401


@pytest.fixture
def victims_tasks(client: TestClient, auth_headers: Headers) -> list[dict[str, Any]]:
    """A pending, a completed and a trashed task: every state some bulk action applies to."""
    made = [
        client.post("/api/tasks", json={"title": "private", **fields}, headers=auth_headers).json()
        for fields in ({}, {"completed": True}, {})
    ]
    made[2] = client.delete(f"/api/tasks/{made[2]['id']}", headers=auth_headers).json()
    return made


def everything(client: TestClient, headers: Headers) -> list[Any]:
    return [client.get(f"/api/tasks{path}", headers=headers).json() for path in ("", "/trash")]


@pytest.mark.parametrize("action", ["complete", "reopen", "delete", "restore"])
@pytest.mark.parametrize("prefix", ["/api", "/api/{caller}"])
def test_bulk_never_applies_to_another_users_tasks(
    client: TestClient,
    auth_headers: Headers,
    other_headers: Headers,
    victims_tasks: list[dict[str, Any]],
    action: str,
    prefix: str,
) -> None:
    caller = client.get("/api/me", headers=other_headers).json()["user_id"]
    ids = [task["id"] for task in victims_tasks]
    before = everything(client, auth_headers)

    response = client.post(
        f"{prefix.format(caller=caller)}/tasks/bulk",
        json={"action": action, "ids": ids},
        headers=other_headers,
    )

    assert response.status_code == 200
    assert response.json() == {"items": [], "not_found": sorted(ids)}
    assert everything(client, auth_headers) == before


@pytest.mark.parametrize("prefix", ["/api", "/api/{caller}"])
def test_stats_never_count_another_users_tasks(
    client: TestClient,
    other_headers: Headers,
    victims_tasks: list[dict[str, Any]],
    prefix: str,
) -> None:
    caller = client.get("/api/me", headers=other_headers).json()["user_id"]

    response = client.get(f"{prefix.format(caller=caller)}/tasks/stats", headers=other_headers)

    assert response.json() == {"total": 0, "pending": 0, "completed": 0, "overdue": 0, "trashed": 0}


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [("GET", "/stats", None), ("POST", "/bulk", {"action": "delete", "ids": [1]})],
)
def test_a_path_user_id_that_is_not_the_caller_is_403_on_stats_and_bulk(
    client: TestClient,
    auth_headers: Headers,
    other_headers: Headers,
    victims_tasks: list[dict[str, Any]],
    user_id: str,
    method: str,
    suffix: str,
    body: dict[str, Any] | None,
) -> None:
    if body is not None:
        body = {**body, "ids": [task["id"] for task in victims_tasks]}
    before = everything(client, auth_headers)

    response = client.request(
        method, f"/api/{user_id}/tasks{suffix}", json=body, headers=other_headers
    )

    assert response.status_code == 403
    assert response.json() == {
        "detail": "The user id in the path is not the caller's",
        "code": "FORBIDDEN",
    }
    assert everything(client, auth_headers) == before
