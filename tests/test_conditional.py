"""Conditional requests: If-Match on every write to one task, If-None-Match on reading one."""

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient

Headers = dict[str, str]
Task = dict[str, Any]

PRECONDITION_FAILED = {
    "detail": "If-Match does not match the task's current ETag",
    "code": "PRECONDITION_FAILED",
}


def create(client: TestClient, headers: Headers, **fields: Any) -> Task:
    response = client.post("/api/tasks", json={"title": "A task", **fields}, headers=headers)
    assert response.status_code == 201, response.text
    task: Task = response.json()
    return task


def writes(task_id: int) -> list[tuple[str, str, dict[str, Any] | None]]:
    """Every write to one task that honours If-Match: (method, path, body)."""
    url = f"/api/tasks/{task_id}"
    return [
        ("PUT", url, {"title": "put"}),
        ("PATCH", url, {"title": "patched"}),
        ("PATCH", f"{url}/complete", None),
        ("PATCH", f"{url}/complete", {"completed": True}),
        ("DELETE", url, None),
    ]


@pytest.mark.parametrize("index", range(5))
def test_a_write_whose_if_match_names_another_version_is_412_and_changes_nothing(
    client: TestClient, auth_headers: Headers, index: int
) -> None:
    task = create(client, auth_headers)
    method, path, body = writes(task["id"])[index]

    response = client.request(
        method, path, json=body, headers={**auth_headers, "If-Match": '"7", "2"'}
    )

    assert response.status_code == 412
    assert response.json() == PRECONDITION_FAILED
    assert response.headers["etag"] == '"1"'
    assert client.get(f"/api/tasks/{task['id']}", headers=auth_headers).json() == task


@pytest.mark.parametrize("index", range(5))
@pytest.mark.parametrize("if_match", ['"1"', '"3", "1"', "*"])
def test_a_write_whose_if_match_names_the_current_version_applies(
    client: TestClient, auth_headers: Headers, index: int, if_match: str
) -> None:
    task = create(client, auth_headers)
    method, path, body = writes(task["id"])[index]

    response = client.request(
        method, path, json=body, headers={**auth_headers, "If-Match": if_match}
    )

    assert response.status_code == 200, response.text
    assert response.headers["etag"] == '"2"'


@pytest.mark.parametrize("if_match", ['W/"1"', "1", '"abc"', "garbage", '"1'])
def test_weak_or_malformed_tags_never_match(
    client: TestClient, auth_headers: Headers, if_match: str
) -> None:
    task = create(client, auth_headers)

    response = client.patch(
        f"/api/tasks/{task['id']}",
        json={"title": "x"},
        headers={**auth_headers, "If-Match": if_match},
    )

    assert response.status_code == 412
    assert response.headers["etag"] == '"1"'


def test_restore_honours_if_match(client: TestClient, auth_headers: Headers) -> None:
    task = create(client, auth_headers)
    client.delete(f"/api/tasks/{task['id']}", headers=auth_headers)
    url = f"/api/tasks/{task['id']}/restore"

    stale = client.post(url, headers={**auth_headers, "If-Match": '"1"'})
    current = client.post(url, headers={**auth_headers, "If-Match": '"2"'})

    assert (stale.status_code, stale.headers["etag"]) == (412, '"2"')
    assert (current.status_code, current.json()["deleted_at"]) == (200, None)


def test_if_match_on_another_users_task_is_404(
    client: TestClient, auth_headers: Headers, other_headers: Headers
) -> None:
    task = create(client, auth_headers)

    response = client.patch(
        f"/api/tasks/{task['id']}", json={"title": "x"}, headers={**other_headers, "If-Match": "*"}
    )

    assert response.status_code == 404
    assert "etag" not in response.headers


def test_an_empty_edit_with_a_stale_if_match_is_412(
    client: TestClient, auth_headers: Headers
) -> None:
    task = create(client, auth_headers)

    response = client.patch(
        f"/api/tasks/{task['id']}", json={}, headers={**auth_headers, "If-Match": '"9"'}
    )

    assert (response.status_code, response.headers["etag"]) == (412, '"1"')


def test_fifty_concurrent_patches_with_one_if_match_let_exactly_one_through(
    client: TestClient, auth_headers: Headers
) -> None:
    task = create(client, auth_headers)
    headers = {**auth_headers, "If-Match": '"1"'}

    def patch(n: int) -> tuple[int, str]:
        response = client.patch(
            f"/api/tasks/{task['id']}", json={"title": f"t{n}"}, headers=headers
        )
        return response.status_code, response.headers.get("etag", "")

    with ThreadPoolExecutor(max_workers=10) as pool:
        answers = list(pool.map(patch, range(50)))

    assert sorted(status for status, _ in answers) == [200] + [412] * 49
    assert {etag for status, etag in answers if status == 412} == {'"2"'}
    assert client.get(f"/api/tasks/{task['id']}", headers=auth_headers).json()["version"] == 2


def test_if_none_match_with_the_current_etag_is_304_without_a_body(
    client: TestClient, auth_headers: Headers
) -> None:
    task = create(client, auth_headers)
    url = f"/api/tasks/{task['id']}"

    cached = client.get(url, headers={**auth_headers, "If-None-Match": '"1"'})
    weak = client.get(url, headers={**auth_headers, "If-None-Match": 'W/"1"'})
    stale = client.get(url, headers={**auth_headers, "If-None-Match": '"0"'})

    assert (cached.status_code, cached.content, cached.headers["etag"]) == (304, b"", '"1"')
    assert weak.status_code == 304
    assert (stale.status_code, stale.json()) == (200, task)


def test_if_none_match_on_another_users_task_is_404(
    client: TestClient, auth_headers: Headers, other_headers: Headers
) -> None:
    task = create(client, auth_headers)

    response = client.get(
        f"/api/tasks/{task['id']}", headers={**other_headers, "If-None-Match": '"1"'}
    )

    assert response.status_code == 404
