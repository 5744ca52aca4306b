"""Where a request's statement runs: on the invocation's own thread on AWS Lambda, which
sends an instance one event at a time, and off the event loop under an ASGI server
(uvicorn, Vercel), which serves concurrent requests in one process."""

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event as sqlalchemy_event

from backend import db
from tests import test_lambda
from tests.test_lambda import Headers, Invoke, event, json_of

invoke = test_lambda.invoke  # the Lambda entry's own fixture


def loop_running_here() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


@pytest.fixture
def on_loop(client: TestClient, auth_headers: Headers) -> Iterator[list[bool]]:
    """For each statement sent: whether an event loop was running on the thread that checked
    out its connection, and sends it."""
    client.get("/api/tasks", headers=auth_headers)  # the engine exists
    seen: list[bool] = []

    def record(*_: Any) -> None:
        seen.append(loop_running_here())

    engine = db.get_engine()
    sqlalchemy_event.listen(engine, "checkout", record)
    yield seen
    sqlalchemy_event.remove(engine, "checkout", record)


def test_on_lambda_the_statement_runs_on_the_invocation_thread_without_a_worker(
    invoke: Invoke, auth_headers: Headers, on_loop: list[bool]
) -> None:
    response = invoke(event("http_v2", "GET", "/api/tasks", headers=auth_headers))

    assert response["statusCode"] == 200, response["body"]
    assert json_of(response) == []
    assert on_loop == [True]


def test_under_an_asgi_server_the_statement_runs_off_the_event_loop(
    client: TestClient, auth_headers: Headers, on_loop: list[bool]
) -> None:
    response = client.get("/api/tasks", headers=auth_headers)

    assert response.status_code == 200
    assert on_loop == [False]


def test_a_lambda_invocation_leaves_later_asgi_requests_off_the_loop(
    invoke: Invoke, client: TestClient, auth_headers: Headers, on_loop: list[bool]
) -> None:
    invoke(event("http_v2", "GET", "/api/tasks", headers=auth_headers))
    client.get("/api/tasks", headers=auth_headers)

    assert on_loop == [True, False]
