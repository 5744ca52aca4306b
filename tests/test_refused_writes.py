"""A conditional write the gate refuses (over the rate limit, or a replay) runs nothing: it
waits for no lock on its task, so another transaction holding the task never delays it."""

from collections.abc import Callable

import psycopg
import pytest
from fastapi.testclient import TestClient

from backend.main import create_app
from tests.conftest import Env

Headers = dict[str, str]
LIMIT = 3
TIMEOUT = 3  # DATABASE_TIMEOUT_SECONDS: a request waiting on the held lock ends in a 503


def over_the_limit(client: TestClient, headers: Headers, path: str) -> Headers:
    """Spend what is left of the caller's limit: the next request is refused."""
    for _ in range(LIMIT - 1):  # the create spent one
        assert client.get(path, headers=headers).status_code == 200
    return headers


def replayed(client: TestClient, headers: Headers, path: str) -> Headers:
    """Send the write once with a key: sent again, it is a replay."""
    keyed = {**headers, "Idempotency-Key": "refused-write"}
    first = client.patch(path, json={"title": "edited"}, headers={**keyed, "If-Match": '"1"'})
    assert first.status_code == 200, first.text
    return keyed


@pytest.mark.parametrize(
    ("refuse", "status"), [(over_the_limit, 429), (replayed, 200)], ids=["limited", "replayed"]
)
def test_a_refused_conditional_write_answers_while_its_task_is_locked(
    env: Env,
    database_url: str,
    auth_headers: Headers,
    refuse: Callable[[TestClient, Headers, str], Headers],
    status: int,
) -> None:
    env(RATE_LIMIT_PER_MINUTE=str(LIMIT), DATABASE_TIMEOUT_SECONDS=str(TIMEOUT))
    client = TestClient(create_app())
    task = client.post("/api/tasks", json={"title": "held"}, headers=auth_headers).json()
    path = f"/api/tasks/{task['id']}"
    headers = refuse(client, auth_headers, path)

    with psycopg.connect(database_url) as holder:
        holder.execute("SELECT 1 FROM tasks WHERE id = %s FOR UPDATE", [task["id"]])
        response = client.patch(
            path, json={"title": "edited"}, headers={**headers, "If-Match": '"1"'}
        )

    assert response.status_code == status, response.text
