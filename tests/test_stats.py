"""Task counts: live tasks by state, overdue ones, and the trash within retention."""

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import Env
from tests.test_trash import age, create, trash

Headers = dict[str, str]

PAST = "2020-01-01T09:00:00Z"
FUTURE = "2999-01-01T09:00:00Z"
ZEROS = {"total": 0, "pending": 0, "completed": 0, "overdue": 0, "trashed": 0}


def stats(client: TestClient, headers: Headers, path: str = "/api/tasks/stats") -> Any:
    response = client.get(path, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def test_a_new_user_has_nothing_to_count(client: TestClient, auth_headers: Headers) -> None:
    assert stats(client, auth_headers) == ZEROS


def test_stats_count_live_tasks_by_state_and_the_trash(
    client: TestClient, auth_headers: Headers
) -> None:
    create(client, auth_headers, due_at=PAST)
    create(client, auth_headers, due_at=PAST)
    create(client, auth_headers, due_at=FUTURE)
    create(client, auth_headers)
    create(client, auth_headers, due_at=PAST, completed=True)
    trash(client, auth_headers, create(client, auth_headers, due_at=PAST))

    counts = stats(client, auth_headers)

    assert counts == {"total": 5, "pending": 4, "completed": 1, "overdue": 2, "trashed": 1}


def test_another_users_tasks_are_never_counted(
    client: TestClient, auth_headers: Headers, other_headers: Headers
) -> None:
    create(client, other_headers, due_at=PAST)
    trash(client, other_headers, create(client, other_headers))
    create(client, auth_headers, completed=True)

    mine = stats(client, auth_headers)

    assert mine == {**ZEROS, "total": 1, "completed": 1}


def test_a_task_trashed_past_retention_is_not_counted(
    client: TestClient, auth_headers: Headers, database_url: str, env: Env
) -> None:
    env(TRASH_RETENTION_DAYS="7")
    old, fresh = (trash(client, auth_headers, create(client, auth_headers)) for _ in "ab")
    age(database_url, old["id"], 7.01)
    age(database_url, fresh["id"], 6.99)

    assert stats(client, auth_headers) == {**ZEROS, "trashed": 1}


def test_the_path_user_form_answers_the_same_counts(
    client: TestClient, auth_headers: Headers, user_id: str
) -> None:
    create(client, auth_headers, due_at=PAST)

    counts = stats(client, auth_headers, f"/api/{user_id}/tasks/stats")

    assert counts == {**ZEROS, "total": 1, "pending": 1, "overdue": 1}


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_a_wrong_method_on_stats_is_405_never_a_task_route(
    client: TestClient, auth_headers: Headers, method: str
) -> None:
    response = client.request(method, "/api/tasks/stats", headers=auth_headers)

    assert response.status_code == 405
    assert response.headers["allow"] == "GET"
    assert response.json() == {
        "detail": f"{method} is not allowed here; allowed: GET",
        "code": "METHOD_NOT_ALLOWED",
    }


def test_stats_count_against_the_rate_limit_in_their_own_statement(
    client: TestClient, auth_headers: Headers, env: Env
) -> None:
    env(RATE_LIMIT_PER_MINUTE="2")

    first = client.get("/api/tasks/stats", headers=auth_headers)
    second = client.get("/api/tasks/stats", headers=auth_headers)
    third = client.get("/api/tasks/stats", headers=auth_headers)

    assert first.headers["ratelimit"].startswith('"user";r=1;')
    assert second.headers["ratelimit"].startswith('"user";r=0;')
    assert third.status_code == 429
    assert third.json()["code"] == "RATE_LIMITED"
