"""Rate limits: per user, counted in PostgreSQL by each request's own statement, across instances.

The second instance is a separate uvicorn process on the same database, as a second
warm function instance would be.
"""

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from backend.main import create_app
from tests.conftest import SECRET, Env

Headers = dict[str, str]
LIMIT = 5
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def limited(env: Env) -> TestClient:
    env(RATE_LIMIT_PER_MINUTE=str(LIMIT))
    return TestClient(create_app())


@pytest.fixture
def other_instance(database_url: str) -> Iterator[str]:
    """The app in a process of its own, with the same limit, on the same database."""
    port = free_port()
    environment = {
        **os.environ,
        "DATABASE_URL": database_url,
        "BETTER_AUTH_SECRET": SECRET,
        "RATE_LIMIT_PER_MINUTE": str(LIMIT),
    }
    command = [sys.executable, "-m", "uvicorn", "backend.main:app", "--port", str(port)]
    with subprocess.Popen(
        [*command, "--log-level", "warning"], cwd=ROOT, env=environment, stderr=subprocess.PIPE
    ) as server:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and server.poll() is None:
            try:
                urllib.request.urlopen(f"{base}/api/health", timeout=2).close()
                break
            except OSError:
                time.sleep(0.1)
        try:
            yield base
        finally:
            server.terminate()
            server.wait(timeout=10)


def remote(base: str, method: str, path: str, headers: Headers, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        base + path,
        data=data,
        method=method,
        headers={**headers, "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}
    except urllib.error.HTTPError as error:
        return error.code, {k.lower(): v for k, v in error.headers.items()}


def remaining(headers: Any) -> int:
    match = re.fullmatch(r'"user";r=(\d+);t=(\d+)', headers["ratelimit"])
    assert match, headers["ratelimit"]
    assert 1 <= int(match.group(2)) <= 60
    return int(match.group(1))


def test_task_routes_carry_the_ietf_ratelimit_headers(
    limited: TestClient, auth_headers: Headers
) -> None:
    response = limited.get("/api/tasks", headers=auth_headers)

    assert response.headers["ratelimit-policy"] == f'"user";q={LIMIT};w=60'
    assert remaining(response.headers) == LIMIT - 1
    # The first request opened the window in its own statement, at its own now(): 60 s left.
    assert response.headers["ratelimit"].endswith(";t=60")


def test_a_404_for_a_task_keeps_the_ratelimit_headers(
    limited: TestClient, auth_headers: Headers
) -> None:
    response = limited.get("/api/tasks/999999999", headers=auth_headers)

    assert response.status_code == 404
    assert remaining(response.headers) == LIMIT - 1


def test_two_instances_share_one_count_and_the_next_request_is_429_doing_nothing(
    limited: TestClient, auth_headers: Headers, other_instance: str
) -> None:
    lefts = []
    for n in range(LIMIT):
        if n % 2:
            status, headers = remote(other_instance, "GET", "/api/tasks", auth_headers)
        else:
            response = limited.get("/api/tasks", headers=auth_headers)
            status, headers = response.status_code, response.headers
        assert status == 200
        lefts.append(remaining(headers))

    refused = limited.post("/api/tasks", json={"title": "over"}, headers=auth_headers)
    status, headers = remote(other_instance, "POST", "/api/tasks", auth_headers, {"title": "x"})

    assert lefts == [4, 3, 2, 1, 0]
    assert refused.status_code == 429
    assert refused.json() == {
        "detail": "Too many requests; retry after the number of seconds in Retry-After",
        "code": "RATE_LIMITED",
    }
    assert int(refused.headers["retry-after"]) >= int(refused.headers["ratelimit"].split("t=")[1])
    assert remaining(refused.headers) == 0
    assert status == 429
    assert headers["retry-after"]


def test_a_refused_write_changes_nothing(
    limited: TestClient, auth_headers: Headers, env: Env
) -> None:
    for _ in range(LIMIT):
        limited.get("/api/tasks", headers=auth_headers)

    assert limited.post("/api/tasks", json={"title": "no"}, headers=auth_headers).status_code == 429
    env(RATE_LIMIT_PER_MINUTE="0")
    assert TestClient(create_app()).get("/api/tasks", headers=auth_headers).json() == []


@pytest.mark.parametrize("path", ["/api/tasks/{id}", "/api/{user}/tasks/{id}"])
def test_a_limited_read_of_one_task_is_a_429_without_the_task(
    limited: TestClient, auth_headers: Headers, user_id: str, path: str
) -> None:
    created = limited.post("/api/tasks", json={"title": "mine"}, headers=auth_headers).json()
    task = path.format(id=created["id"], user=user_id)
    for _ in range(LIMIT - 1):
        assert limited.get(task, headers=auth_headers).status_code == 200

    refused = limited.get(task, headers=auth_headers)

    assert refused.status_code == 429
    assert refused.json()["code"] == "RATE_LIMITED"
    assert "mine" not in refused.text
    assert "etag" not in refused.headers
    assert remaining(refused.headers) == 0


def test_a_new_window_opens_once_the_last_ended(
    limited: TestClient, auth_headers: Headers, database_url: str, user_id: str
) -> None:
    for _ in range(LIMIT + 1):
        limited.get("/api/tasks", headers=auth_headers)
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute(
            "UPDATE rate_limits SET window_start = window_start - interval '61 seconds' "
            "WHERE user_id = %s",
            (user_id,),
        )

    response = limited.get("/api/tasks", headers=auth_headers)

    assert response.status_code == 200
    assert remaining(response.headers) == LIMIT - 1


def test_each_user_has_a_count_of_their_own(
    limited: TestClient, auth_headers: Headers, other_headers: Headers
) -> None:
    for _ in range(LIMIT + 1):
        limited.get("/api/tasks", headers=auth_headers)

    response = limited.get("/api/tasks", headers=other_headers)

    assert (response.status_code, remaining(response.headers)) == (200, LIMIT - 1)


def test_routes_that_touch_no_database_are_not_counted(
    limited: TestClient, auth_headers: Headers
) -> None:
    for _ in range(LIMIT + 2):
        assert limited.get("/api/me", headers=auth_headers).status_code == 200

    response = limited.get("/api/tasks", headers=auth_headers)

    assert "ratelimit" not in {name.lower() for name in limited.get("/api/me").headers}
    assert remaining(response.headers) == LIMIT - 1


def test_a_limit_of_zero_counts_nothing_and_sends_no_headers(
    client: TestClient, auth_headers: Headers, database_url: str, user_id: str, env: Env
) -> None:
    env(RATE_LIMIT_PER_MINUTE="0")

    response = TestClient(create_app()).get("/api/tasks", headers=auth_headers)

    assert response.status_code == 200
    assert "ratelimit" not in response.headers
    with psycopg.connect(database_url) as connection:
        rows = connection.execute("SELECT 1 FROM rate_limits WHERE user_id = %s", (user_id,))
        assert rows.fetchall() == []
