"""Un-completing a task through PUT and PATCH: `completed` back to false clears `completed_at`."""

from typing import Any

import pytest
from fastapi.testclient import TestClient

Headers = dict[str, str]


def completed_task(client: TestClient, headers: Headers) -> dict[str, Any]:
    created = client.post(
        "/api/tasks", json={"title": "Done once", "completed": True}, headers=headers
    )
    assert created.status_code == 201, created.text
    task: dict[str, Any] = created.json()
    assert (task["completed"], task["completed_at"] is not None) == (True, True)
    return task


# A full body for PUT: what it does not carry would keep its value under a partial PUT, and
# be reset under a replacing one; with every field given, both answer the same.
FULL_BODY: dict[str, Any] = {
    "title": "Done once",
    "description": None,
    "priority": "medium",
    "tags": [],
    "due_at": None,
    "completed": False,
}


@pytest.mark.parametrize(("method", "body"), [("PUT", FULL_BODY), ("PATCH", {"completed": False})])
def test_completed_false_reopens_the_task_and_clears_completed_at(
    client: TestClient, auth_headers: Headers, method: str, body: dict[str, Any]
) -> None:
    task = completed_task(client, auth_headers)
    url = f"/api/tasks/{task['id']}"

    response = client.request(method, url, json=body, headers=auth_headers)
    read = client.get(url, headers=auth_headers).json()

    assert response.status_code == 200, response.text
    changed = response.json()
    assert (changed["completed"], changed["completed_at"], changed["version"]) == (False, None, 2)
    assert read == changed
