"""The task routes: fields, defaults, limits, headers, PUT/PATCH/complete semantics."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

Headers = dict[str, str]


def create(client: TestClient, headers: Headers, **fields: Any) -> dict[str, Any]:
    response = client.post("/api/tasks", json={"title": "A task", **fields}, headers=headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def parse_time(text: str) -> datetime:
    assert text.endswith("Z")
    return datetime.fromisoformat(text)


def test_create_returns_the_task_with_defaults_location_and_etag(
    client: TestClient, auth_headers: Headers, user_id: str
) -> None:
    response = client.post("/api/tasks", json={"title": "  Buy milk  "}, headers=auth_headers)

    body = response.json()
    assert response.status_code == 201
    assert response.headers["location"] == f"/api/tasks/{body['id']}"
    assert response.headers["etag"] == '"1"'
    assert body == {
        "id": body["id"],
        "user_id": user_id,
        "title": "Buy milk",
        "description": None,
        "completed": False,
        "completed_at": None,
        "priority": "medium",
        "tags": [],
        "due_at": None,
        "recurrence": None,
        "timezone": None,
        "created_at": body["created_at"],
        "updated_at": body["created_at"],
        "deleted_at": None,
        "version": 1,
    }
    assert abs(parse_time(body["created_at"]) - datetime.now(UTC)) < timedelta(minutes=1)


def test_create_keeps_description_as_given_and_normalises_tags_and_due_at(
    client: TestClient, auth_headers: Headers
) -> None:
    body = create(
        client,
        auth_headers,
        description="  spaced  ",
        priority="high",
        tags=[" Home ", "home", "ERRANDS"],
        due_at="2030-01-01T10:00:00+02:00",
    )

    assert body["description"] == "  spaced  "
    assert body["priority"] == "high"
    assert body["tags"] == ["home", "errands"]
    assert body["due_at"] == "2030-01-01T08:00:00Z"


def test_create_completed_sets_completed_at(client: TestClient, auth_headers: Headers) -> None:
    body = create(client, auth_headers, completed=True)

    assert body["completed"] is True
    assert parse_time(body["completed_at"]) == parse_time(body["created_at"])


def test_read_returns_the_task_and_its_etag(client: TestClient, auth_headers: Headers) -> None:
    task = create(client, auth_headers)

    response = client.get(f"/api/tasks/{task['id']}", headers=auth_headers)

    assert response.status_code == 200
    assert response.json() == task
    assert response.headers["etag"] == '"1"'
    assert response.headers["content-type"] == "application/json"


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
def test_an_edit_changes_only_the_fields_it_carries_and_bumps_version(
    client: TestClient, auth_headers: Headers, method: str
) -> None:
    task = create(client, auth_headers, description="d", priority="high", tags=["a"])
    done = client.patch(f"/api/tasks/{task['id']}/complete", headers=auth_headers).json()

    response = client.request(
        method,
        f"/api/tasks/{task['id']}",
        json={"title": "Edited", "description": "new"},
        headers=auth_headers,
    )

    body = response.json()
    assert response.status_code == 200
    assert response.headers["etag"] == '"3"'
    assert body | {"updated_at": None} == done | {
        "title": "Edited",
        "description": "new",
        "version": 3,
        "updated_at": None,
    }
    assert body["completed"] is True, "a partial edit never un-completes a task"
    assert parse_time(body["updated_at"]) > parse_time(done["updated_at"])


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
def test_an_edit_with_completed_false_reopens_the_task(
    client: TestClient, auth_headers: Headers, method: str
) -> None:
    task = create(client, auth_headers, completed=True)

    response = client.request(
        method, f"/api/tasks/{task['id']}", json={"completed": False}, headers=auth_headers
    )

    assert response.status_code == 200
    assert (response.json()["completed"], response.json()["completed_at"]) == (False, None)


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
def test_an_empty_edit_is_a_read(client: TestClient, auth_headers: Headers, method: str) -> None:
    task = create(client, auth_headers)

    response = client.request(method, f"/api/tasks/{task['id']}", json={}, headers=auth_headers)

    assert response.status_code == 200
    assert response.json() == task
    assert response.headers["etag"] == '"1"'


def test_patch_changes_only_the_given_fields(client: TestClient, auth_headers: Headers) -> None:
    task = create(client, auth_headers, description="keep", tags=["x"], priority="low")

    response = client.patch(f"/api/tasks/{task['id']}", json={"title": "New"}, headers=auth_headers)

    body = response.json()
    assert response.status_code == 200
    assert body["title"] == "New"
    assert (body["description"], body["tags"], body["priority"]) == ("keep", ["x"], "low")
    assert body["version"] == 2


def test_patch_null_clears_a_nullable_field(client: TestClient, auth_headers: Headers) -> None:
    task = create(client, auth_headers, description="d", due_at="2030-01-01T00:00:00Z")

    body = client.patch(
        f"/api/tasks/{task['id']}", json={"description": None, "due_at": None}, headers=auth_headers
    ).json()

    assert (body["description"], body["due_at"]) == (None, None)


@pytest.mark.parametrize("field", ["title", "completed", "priority", "tags"])
def test_patch_null_for_a_non_nullable_field_is_422(
    client: TestClient, auth_headers: Headers, field: str
) -> None:
    task = create(client, auth_headers)

    response = client.patch(f"/api/tasks/{task['id']}", json={field: None}, headers=auth_headers)

    assert response.status_code == 422
    assert response.json()["field"] == field
    assert client.get(f"/api/tasks/{task['id']}", headers=auth_headers).json() == task


def test_complete_without_body_toggles(client: TestClient, auth_headers: Headers) -> None:
    task = create(client, auth_headers)
    url = f"/api/tasks/{task['id']}/complete"

    done = client.patch(url, headers=auth_headers).json()
    undone = client.patch(url, headers=auth_headers).json()

    assert (done["completed"], done["version"]) == (True, 2)
    assert done["completed_at"] is not None
    assert (undone["completed"], undone["completed_at"], undone["version"]) == (False, None, 3)


def test_complete_with_body_sets_and_keeps_the_first_completion_time(
    client: TestClient, auth_headers: Headers
) -> None:
    task = create(client, auth_headers)
    url = f"/api/tasks/{task['id']}/complete"

    first = client.patch(url, json={"completed": True}, headers=auth_headers).json()
    again = client.patch(url, json={"completed": True}, headers=auth_headers).json()

    assert first["completed"] is again["completed"] is True
    assert again["completed_at"] == first["completed_at"]
    assert again["version"] == 3


def test_complete_with_a_non_boolean_is_422(client: TestClient, auth_headers: Headers) -> None:
    task = create(client, auth_headers)

    response = client.patch(
        f"/api/tasks/{task['id']}/complete", json={"completed": "yes"}, headers=auth_headers
    )

    assert response.status_code == 422
    assert response.json()["field"] == "completed"


def test_delete_moves_the_task_to_the_trash_and_answers_with_it(
    client: TestClient, auth_headers: Headers
) -> None:
    task = create(client, auth_headers)

    deleted = client.delete(f"/api/tasks/{task['id']}", headers=auth_headers)
    again = client.delete(f"/api/tasks/{task['id']}", headers=auth_headers)

    body = deleted.json()
    assert deleted.status_code == 200
    assert deleted.headers["etag"] == '"2"'
    assert body | {"updated_at": None, "deleted_at": None} == task | {
        "version": 2,
        "updated_at": None,
    }
    assert parse_time(body["deleted_at"]) == parse_time(body["updated_at"])
    assert again.status_code == 404
    assert client.get(f"/api/tasks/{task['id']}", headers=auth_headers).status_code == 404


def test_user_path_routes_serve_the_callers_own_tasks(
    client: TestClient, auth_headers: Headers, user_id: str
) -> None:
    created = client.post(f"/api/{user_id}/tasks", json={"title": "Mine"}, headers=auth_headers)
    task_id = created.json()["id"]

    listed = client.get(f"/api/{user_id}/tasks", headers=auth_headers)
    patched = client.patch(f"/api/{user_id}/tasks/{task_id}/complete", headers=auth_headers)
    deleted = client.delete(f"/api/{user_id}/tasks/{task_id}", headers=auth_headers)

    assert created.status_code == 201
    assert created.headers["location"] == f"/api/tasks/{task_id}"
    assert [t["id"] for t in listed.json()] == [task_id]
    assert patched.json()["completed"] is True
    assert deleted.status_code == 200


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"title": ""}, "title"),
        ({"title": "   "}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"title": 5}, "title"),
        ({"title": "ok", "description": "d" * 1001}, "description"),
        ({"title": "ok", "priority": "urgent"}, "priority"),
        ({"title": "ok", "tags": [f"t{i}" for i in range(11)]}, "tags"),
        ({"title": "ok", "tags": ["x" * 31]}, "tags"),
        ({"title": "ok", "tags": ["  "]}, "tags"),
        ({"title": "ok", "tags": "home"}, "tags"),
        ({"title": "ok", "due_at": "2030-01-01T10:00:00"}, "due_at"),
        ({"title": "ok", "due_at": "tomorrow"}, "due_at"),
        ({"title": "ok", "due_at": 1893456000}, "due_at"),
        ({"title": "ok", "completed": 1}, "completed"),
        ({"title": "ok", "id": 5}, "id"),
        ({"title": "ok", "user_id": "someone"}, "user_id"),
        ({"title": "ok", "version": 9}, "version"),
        ({"title": "ok", "colour": "red"}, "colour"),
    ],
)
def test_invalid_fields_are_422_naming_the_field(
    client: TestClient, auth_headers: Headers, fields: dict[str, Any], field: str
) -> None:
    response = client.post("/api/tasks", json=fields, headers=auth_headers)

    body = response.json()
    assert response.status_code == 422
    assert body["code"] == "VALIDATION_ERROR"
    assert body["field"] == field
    assert [e["field"] for e in body["errors"]] == [field]
    assert body["errors"][0]["message"]


def test_ten_tags_after_deduplication_are_accepted(
    client: TestClient, auth_headers: Headers
) -> None:
    tags = [f"t{i}" for i in range(10)] + ["T0", " t1 "]

    body = create(client, auth_headers, tags=tags)

    assert body["tags"] == [f"t{i}" for i in range(10)]


def test_limits_at_their_edges_are_accepted(client: TestClient, auth_headers: Headers) -> None:
    body = create(
        client,
        auth_headers,
        title="t" * 200,
        description="d" * 1000,
        tags=["x" * 30],
        due_at="9999-12-31T23:59:59Z",
    )

    assert (len(body["title"]), len(body["description"])) == (200, 1000)
    assert body["due_at"] == "9999-12-31T23:59:59Z"


def test_several_invalid_fields_are_all_listed_without_a_single_field(
    client: TestClient, auth_headers: Headers
) -> None:
    response = client.post(
        "/api/tasks", json={"title": "", "priority": "urgent"}, headers=auth_headers
    )

    body = response.json()
    assert response.status_code == 422
    assert "field" not in body
    assert sorted(e["field"] for e in body["errors"]) == ["priority", "title"]
