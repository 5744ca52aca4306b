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
