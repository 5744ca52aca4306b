"""Bulk actions: one action on many tasks, what it applied to and what it did not."""

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import Env
from tests.test_trash import age, create, trash

Headers = dict[str, str]
Task = dict[str, Any]


def bulk(client: TestClient, headers: Headers, action: str, ids: list[int]) -> Any:
    response = client.post("/api/tasks/bulk", json={"action": action, "ids": ids}, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    return response.json()


def read(client: TestClient, headers: Headers, task: Task) -> Task:
    found: Task = client.get(f"/api/tasks/{task['id']}", headers=headers).json()
    return found


def missing_id(client: TestClient, headers: Headers) -> int:
    """An id that no task has: one past the newest, which this test's own create just took."""
    return int(create(client, headers)["id"]) + 1000000


def test_complete_completes_pending_tasks_and_answers_them_by_id(
    client: TestClient, auth_headers: Headers
) -> None:
    tasks = [create(client, auth_headers, title) for title in "ba"]

    body = bulk(client, auth_headers, "complete", [tasks[1]["id"], tasks[0]["id"]])

    assert [t["id"] for t in body["items"]] == [tasks[0]["id"], tasks[1]["id"]]
    assert body["not_found"] == []
    for item, task in zip(body["items"], tasks, strict=True):
        assert item["completed"] is True
        assert item["completed_at"] is not None
        assert item["version"] == task["version"] + 1
        assert read(client, auth_headers, task) == item


def test_complete_advances_a_recurring_task_by_its_own_rule(
    client: TestClient, auth_headers: Headers
) -> None:
    weekly = create(
        client,
        auth_headers,
        due_at="2026-03-29T22:00:00Z",
        recurrence="FREQ=WEEKLY;BYDAY=MO",
        timezone="Australia/Sydney",
    )
    last = create(
        client, auth_headers, due_at="2026-03-29T22:00:00Z", recurrence="FREQ=DAILY;COUNT=1"
    )

    items = bulk(client, auth_headers, "complete", [weekly["id"], last["id"]])["items"]

    assert [(t["completed"], t["due_at"], t["recurrence"]) for t in items] == [
        (False, "2026-04-05T23:00:00Z", "FREQ=WEEKLY;BYDAY=MO"),
        (True, "2026-03-29T22:00:00Z", "FREQ=DAILY;COUNT=1"),
    ]


def test_reopen_reopens_completed_tasks_only(client: TestClient, auth_headers: Headers) -> None:
    done, pending = create(client, auth_headers, completed=True), create(client, auth_headers)

    body = bulk(client, auth_headers, "reopen", [done["id"], pending["id"]])

    assert [(t["id"], t["completed"], t["completed_at"]) for t in body["items"]] == [
        (done["id"], False, None)
    ]
    assert body["not_found"] == [pending["id"]]
    assert read(client, auth_headers, pending) == pending


def test_reopen_leaves_a_completed_task_in_the_trash_alone(
    client: TestClient, auth_headers: Headers
) -> None:
    trashed = trash(client, auth_headers, create(client, auth_headers, completed=True))

    body = bulk(client, auth_headers, "reopen", [trashed["id"]])

    assert body == {"items": [], "not_found": [trashed["id"]]}
    in_trash = client.get("/api/tasks/trash", headers=auth_headers).json()
    assert [(t["id"], t["completed"]) for t in in_trash] == [(trashed["id"], True)]


def test_delete_moves_live_tasks_to_the_trash(client: TestClient, auth_headers: Headers) -> None:
    first, second = create(client, auth_headers), create(client, auth_headers)

    body = bulk(client, auth_headers, "delete", [first["id"], second["id"]])

    assert [t["deleted_at"] is not None for t in body["items"]] == [True, True]
    assert client.get("/api/tasks", headers=auth_headers).json() == []
    trashed = client.get("/api/tasks/trash", headers=auth_headers).json()
    assert sorted(t["id"] for t in trashed) == [first["id"], second["id"]]


def test_restore_brings_back_tasks_trashed_within_retention(
    client: TestClient, auth_headers: Headers, database_url: str, env: Env
) -> None:
    env(TRASH_RETENTION_DAYS="7")
    fresh, old = (trash(client, auth_headers, create(client, auth_headers)) for _ in "ab")
    live = create(client, auth_headers)
    age(database_url, old["id"], 7.01)

    body = bulk(client, auth_headers, "restore", [old["id"], live["id"], fresh["id"]])

    assert [(t["id"], t["deleted_at"]) for t in body["items"]] == [(fresh["id"], None)]
    assert body["not_found"] == [old["id"], live["id"]]
    assert read(client, auth_headers, live) == live


def test_ids_that_are_another_users_missing_or_in_the_wrong_state_are_not_found(
    client: TestClient, auth_headers: Headers, other_headers: Headers
) -> None:
    mine = create(client, auth_headers)
    done = create(client, auth_headers, completed=True)
    trashed = trash(client, auth_headers, create(client, auth_headers))
    theirs = create(client, other_headers)
    nobody = missing_id(client, other_headers)

    ids = [nobody, theirs["id"], trashed["id"], done["id"], mine["id"]]
    body = bulk(client, auth_headers, "complete", ids)

    assert [t["id"] for t in body["items"]] == [mine["id"]]
    assert body["not_found"] == sorted([nobody, theirs["id"], trashed["id"], done["id"]])
    assert read(client, other_headers, theirs) == theirs
    assert read(client, auth_headers, done) == done


def test_a_replay_answers_the_stored_outcome_and_applies_nothing_again(
    client: TestClient, auth_headers: Headers
) -> None:
    task = create(client, auth_headers)
    other = create(client, auth_headers, 'Ünïcode "quoted"', due_at="2030-01-01T09:00:00.5Z")
    headers = {**auth_headers, "Idempotency-Key": "bulk-1"}
    ids = [other["id"], task["id"] + 1000000, task["id"], task["id"] + 999999]
    body = {"action": "complete", "ids": ids}
    first = client.post("/api/tasks/bulk", json=body, headers=headers)
    client.patch(f"/api/tasks/{task['id']}/complete", headers=auth_headers)  # reopened since

    again = client.post("/api/tasks/bulk", json=body, headers=headers)

    assert again.status_code == 200
    assert again.headers["idempotent-replayed"] == "true"
    assert again.content == first.content  # the model's text from the stored rows: the same
    assert "idempotent-replayed" not in first.headers
    assert read(client, auth_headers, task)["completed"] is False
    assert read(client, auth_headers, task)["version"] == 3


def test_a_replay_of_an_outcome_that_applied_to_every_id_answers_it_too(
    client: TestClient, auth_headers: Headers
) -> None:
    tasks = [create(client, auth_headers, title) for title in "ab"]
    headers = {**auth_headers, "Idempotency-Key": "bulk-3"}
    body = {"action": "delete", "ids": [task["id"] for task in tasks]}

    first = client.post("/api/tasks/bulk", json=body, headers=headers)
    again = client.post("/api/tasks/bulk", json=body, headers=headers)

    assert first.json()["not_found"] == []
    assert again.headers["idempotent-replayed"] == "true"
    assert again.content == first.content


def test_a_replay_of_an_outcome_that_applied_to_nothing_answers_it_too(
    client: TestClient, auth_headers: Headers
) -> None:
    task = create(client, auth_headers)
    headers = {**auth_headers, "Idempotency-Key": "bulk-2"}
    body = {"action": "restore", "ids": [task["id"]]}
    first = client.post("/api/tasks/bulk", json=body, headers=headers)
    trash(client, auth_headers, task)

    again = client.post("/api/tasks/bulk", json=body, headers=headers)

    assert first.json() == {"items": [], "not_found": [task["id"]]}
    assert again.content == first.content
    assert again.headers["idempotent-replayed"] == "true"
    assert client.get("/api/tasks", headers=auth_headers).json() == []


def test_the_same_key_with_another_bulk_body_is_422_and_applies_nothing(
    client: TestClient, auth_headers: Headers
) -> None:
    task = create(client, auth_headers)
    headers = {**auth_headers, "Idempotency-Key": "bulk-3"}
    client.post(
        "/api/tasks/bulk", json={"action": "complete", "ids": [task["id"]]}, headers=headers
    )

    response = client.post(
        "/api/tasks/bulk", json={"action": "delete", "ids": [task["id"]]}, headers=headers
    )

    assert response.status_code == 422
    assert response.json() == {
        "detail": "This Idempotency-Key was used for another request; use a new key",
        "code": "IDEMPOTENCY_KEY_REUSED",
        "field": "Idempotency-Key",
        "errors": [
            {
                "field": "Idempotency-Key",
                "message": "This Idempotency-Key was used for another request; use a new key",
            }
        ],
    }
    assert read(client, auth_headers, task)["deleted_at"] is None


def test_the_path_user_form_applies_the_action_too(
    client: TestClient, auth_headers: Headers, user_id: str
) -> None:
    task = create(client, auth_headers)

    response = client.post(
        f"/api/{user_id}/tasks/bulk",
        json={"action": "delete", "ids": [task["id"]]},
        headers=auth_headers,
    )

    assert response.status_code == 200
    assert [t["id"] for t in response.json()["items"]] == [task["id"]]


def invalid(field: str, message: str) -> dict[str, Any]:
    return {
        "detail": f"{field}: {message}",
        "code": "VALIDATION_ERROR",
        "field": field,
        "errors": [{"field": field, "message": message}],
    }


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        (
            {"action": "complete", "ids": []},
            "ids",
            "List should have at least 1 item after validation, not 0",
        ),
        (
            {"action": "complete", "ids": list(range(1, 102))},
            "ids",
            "List should have at most 100 items after validation, not 101",
        ),
        (
            {"action": "complete", "ids": [3, 1, 3, 1, 2]},
            "ids",
            "ids must be distinct; given more than once: [1, 3]",
        ),
        ({"action": "complete", "ids": [0]}, "ids.0", "Input should be greater than or equal to 1"),
        (
            {"action": "complete", "ids": [2**53]},
            "ids.0",
            "Input should be less than or equal to 9007199254740991",
        ),
        ({"action": "complete", "ids": ["1"]}, "ids.0", "Input should be a valid integer"),
        ({"action": "complete", "ids": [True]}, "ids.0", "Input should be a valid integer"),
        (
            {"action": "complete", "ids": [1.5]},
            "ids.0",
            "Input should be a valid integer, got a number with a fractional part",
        ),
        (
            {"action": "archive", "ids": [1]},
            "action",
            "Input should be 'complete', 'reopen', 'delete' or 'restore'",
        ),
        ({"ids": [1]}, "action", "Field required"),
        ({"action": "complete", "ids": [1], "all": True}, "all", "Unknown or read-only field"),
    ],
)
def test_an_invalid_bulk_body_is_422_and_changes_nothing(
    client: TestClient, auth_headers: Headers, body: dict[str, Any], field: str, message: str
) -> None:
    task = create(client, auth_headers)

    response = client.post("/api/tasks/bulk", json=body, headers=auth_headers)

    assert response.status_code == 422
    assert response.json() == invalid(field, message)
    assert read(client, auth_headers, task) == task


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE"])
def test_a_wrong_method_on_bulk_is_405_never_a_task_route(
    client: TestClient, auth_headers: Headers, method: str
) -> None:
    response = client.request(method, "/api/tasks/bulk", headers=auth_headers)

    assert response.status_code == 405
    assert response.headers["allow"] == "POST"


def test_an_id_written_as_a_whole_float_is_that_id_as_json_schema_counts_integers(
    client: TestClient, auth_headers: Headers
) -> None:
    task = create(client, auth_headers)

    response = client.post(
        "/api/tasks/bulk",
        json={"action": "delete", "ids": [float(task["id"])]},
        headers=auth_headers,
    )

    assert [item["id"] for item in response.json()["items"]] == [task["id"]]
