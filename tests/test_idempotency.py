"""Idempotency keys: a retried write replays its first outcome and never runs twice."""

import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from backend import trash
from backend.db import get_engine

Headers = dict[str, str]
Task = dict[str, Any]

REUSED = {
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


def keyed(headers: Headers, key: str | None = None) -> Headers:
    return {**headers, "Idempotency-Key": key or str(uuid.uuid4())}


def titles(client: TestClient, headers: Headers) -> list[str]:
    return [task["title"] for task in client.get("/api/tasks", headers=headers).json()]


def stored_keys(database_url: str, user_id: str) -> int:
    with psycopg.connect(database_url) as connection:
        row = connection.execute(
            "SELECT count(*) FROM idempotency_keys WHERE user_id = %s", (user_id,)
        ).fetchone()
    assert row is not None
    return int(row[0])


def test_a_retried_create_replays_the_first_answer_and_creates_one_task(
    client: TestClient, auth_headers: Headers
) -> None:
    headers = keyed(auth_headers)

    first = client.post("/api/tasks", json={"title": "Once"}, headers=headers)
    again = client.post("/api/tasks", json={"title": "Once"}, headers=headers)

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    for name in ("etag", "location"):
        assert again.headers[name] == first.headers[name]
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert titles(client, auth_headers) == ["Once"]


def test_twenty_concurrent_creates_with_one_key_make_exactly_one_task(
    client: TestClient, auth_headers: Headers
) -> None:
    headers = keyed(auth_headers)

    def create(_: int) -> tuple[int, int]:
        response = client.post("/api/tasks", json={"title": "Raced"}, headers=headers)
        return response.status_code, response.json()["id"]

    with ThreadPoolExecutor(max_workers=5) as pool:
        answers = list(pool.map(create, range(20)))

    assert {status for status, _ in answers} == {201}
    assert len({task_id for _, task_id in answers}) == 1
    assert titles(client, auth_headers) == ["Raced"]


def test_a_replayed_toggle_does_not_toggle_again(client: TestClient, auth_headers: Headers) -> None:
    task = client.post("/api/tasks", json={"title": "t"}, headers=auth_headers).json()
    headers = keyed(auth_headers)
    url = f"/api/tasks/{task['id']}/complete"

    first = client.patch(url, headers=headers)
    again = client.patch(url, headers=headers)

    assert first.json()["completed"] is True
    assert again.json() == first.json()
    current = client.get(f"/api/tasks/{task['id']}", headers=auth_headers).json()
    assert (current["completed"], current["version"]) == (True, 2)


def test_the_same_key_with_another_request_is_422_and_runs_nothing(
    client: TestClient, auth_headers: Headers
) -> None:
    headers = keyed(auth_headers)
    client.post("/api/tasks", json={"title": "First"}, headers=headers)

    other_body = client.post("/api/tasks", json={"title": "Second"}, headers=headers)
    task_id = client.get("/api/tasks", headers=auth_headers).json()[0]["id"]
    other_route = client.patch(f"/api/tasks/{task_id}", json={"title": "x"}, headers=headers)

    assert (other_body.status_code, other_body.json()) == (422, REUSED)
    assert (other_route.status_code, other_route.json()) == (422, REUSED)
    assert "ratelimit" in other_body.headers  # the refusal was counted, and says so
    assert titles(client, auth_headers) == ["First"]


def test_key_order_and_spacing_and_the_path_form_do_not_change_the_fingerprint(
    client: TestClient, auth_headers: Headers, user_id: str
) -> None:
    headers = {**keyed(auth_headers), "Content-Type": "application/json"}

    first = client.post("/api/tasks", content='{"title":"T","priority":"high"}', headers=headers)
    again = client.post(
        f"/api/{user_id}/tasks", content='{ "priority": "high",  "title": "T" }', headers=headers
    )

    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()


def test_keys_belong_to_their_user(
    client: TestClient, auth_headers: Headers, other_headers: Headers
) -> None:
    key = str(uuid.uuid4())

    mine = client.post("/api/tasks", json={"title": "T"}, headers=keyed(auth_headers, key))
    theirs = client.post("/api/tasks", json={"title": "T"}, headers=keyed(other_headers, key))

    assert "idempotent-replayed" not in theirs.headers
    assert theirs.json()["id"] != mine.json()["id"]


def test_a_failed_request_stores_nothing_so_its_key_can_be_used_again(
    client: TestClient, auth_headers: Headers, database_url: str, user_id: str
) -> None:
    headers = keyed(auth_headers)

    missing = client.patch("/api/tasks/999999999", json={"title": "x"}, headers=headers)
    invalid = client.post("/api/tasks", json={"title": ""}, headers=headers)
    created = client.post("/api/tasks", json={"title": "Now"}, headers=headers)

    assert (missing.status_code, invalid.status_code, created.status_code) == (404, 422, 201)
    assert "idempotent-replayed" not in created.headers
    assert stored_keys(database_url, user_id) == 1


def test_emptying_the_trash_with_a_key_replays_its_count(
    client: TestClient, auth_headers: Headers
) -> None:
    task = client.post("/api/tasks", json={"title": "t"}, headers=auth_headers).json()
    client.delete(f"/api/tasks/{task['id']}", headers=auth_headers)
    headers = keyed(auth_headers)

    first = client.post("/api/tasks/trash/empty", headers=headers)
    again = client.post("/api/tasks/trash/empty", headers=headers)

    assert first.json() == again.json() == {"purged": 1}
    assert again.headers["idempotent-replayed"] == "true"


@pytest.mark.parametrize("key", [b"", b"with space", "é".encode(), b"tab\tkey", b"x" * 256])
def test_a_key_that_is_not_1_to_255_visible_ascii_characters_is_422(
    client: TestClient, auth_headers: Headers, key: bytes
) -> None:
    headers = {name.encode(): value.encode() for name, value in auth_headers.items()}
    headers[b"Idempotency-Key"] = key

    response = client.post("/api/tasks", json={"title": "t"}, headers=headers)

    assert response.status_code == 422
    assert response.json()["field"] == "Idempotency-Key"
    assert titles(client, auth_headers) == []


def age_keys(database_url: str, user_id: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute(
            "UPDATE idempotency_keys SET created_at = now() - interval '25 hours' "
            "WHERE user_id = %s",
            (user_id,),
        )


def test_a_key_older_than_a_day_is_forgotten_and_purged(
    client: TestClient, auth_headers: Headers, database_url: str, user_id: str
) -> None:
    headers = keyed(auth_headers)
    client.post("/api/tasks", json={"title": "Old"}, headers=headers)
    age_keys(database_url, user_id)

    again = client.post("/api/tasks", json={"title": "Old"}, headers=headers)
    assert "idempotent-replayed" not in again.headers
    age_keys(database_url, user_id)
    trash.purge_expired(get_engine())

    assert titles(client, auth_headers) == ["Old", "Old"]
    assert stored_keys(database_url, user_id) == 0
