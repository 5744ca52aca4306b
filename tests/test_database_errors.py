"""Database faults: each answered by its own handler, logged by type only, never the SQL.

Every test asserts the whole error log, not just a part of it: a handler that failed would
still end in a 500 through the last-resort middleware, whose log line ("unhandled ...")
is the only trace of the difference.
"""

import logging
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.exc import DBAPIError

from backend.main import create_app
from tests.conftest import Env

Headers = dict[str, str]
INTERNAL = {"detail": "Internal server error", "code": "INTERNAL_ERROR"}
UNAVAILABLE = {
    "detail": "The database is unavailable; retry shortly",
    "code": "DATABASE_UNAVAILABLE",
}


def error_log(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR]


def failing_query(error: DBAPIError) -> Any:
    def fail(*_: Any) -> None:
        raise error

    return fail


@pytest.mark.parametrize(
    ("orig", "invalidated", "status", "body"),
    [
        (psycopg.errors.NumericValueOutOfRange("SELECT 'hunter2'"), False, 500, INTERNAL),
        (psycopg.errors.NumericValueOutOfRange("SELECT 'hunter2'"), True, 503, UNAVAILABLE),
        (psycopg.OperationalError("server closed the connection"), False, 503, UNAVAILABLE),
    ],
)
def test_a_database_error_is_answered_by_kind_and_logged_by_type(
    env: Env,
    auth_headers: Headers,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    orig: Exception,
    invalidated: bool,
    status: int,
    body: dict[str, str],
) -> None:
    error = DBAPIError("SELECT secret FROM t", {}, orig, connection_invalidated=invalidated)
    monkeypatch.setattr("backend.queries.get_task", failing_query(error))
    client = TestClient(create_app(), raise_server_exceptions=False)

    with caplog.at_level(logging.ERROR):
        response = client.get("/api/tasks/1", headers=auth_headers)

    assert response.status_code == status
    assert response.json() == body
    assert ("retry-after" in response.headers) is (status == 503)
    assert error_log(caplog) == [f"database error: {type(orig).__name__}"]


@pytest.mark.parametrize(
    ("url", "status", "body", "logged"),
    [
        pytest.param(
            "postgresql://nobody:pw@127.0.0.1:1/none",
            503,
            UNAVAILABLE,
            "database unavailable: OperationalError on connect",
            id="unreachable",
        ),
        pytest.param(
            "postgresql://postgres@127.0.0.1:5432/postgres?no_such_option=1",
            500,
            INTERNAL,
            "database error: ProgrammingError",
            id="refused for its settings",
        ),
    ],
)
def test_a_failed_connect_is_answered_by_kind_and_logged_once_by_type(
    env: Env,
    auth_headers: Headers,
    caplog: pytest.LogCaptureFixture,
    url: str,
    status: int,
    body: dict[str, str],
    logged: str,
) -> None:
    env(DATABASE_URL=url)
    client = TestClient(create_app())

    with caplog.at_level(logging.ERROR):
        response = client.get("/api/tasks", headers=auth_headers)

    assert (response.status_code, response.json()) == (status, body)
    assert error_log(caplog) == [logged]


def test_a_request_without_database_url_logs_why_and_nothing_else(
    env: Env, auth_headers: Headers, caplog: pytest.LogCaptureFixture
) -> None:
    env(DATABASE_URL=None)

    with caplog.at_level(logging.ERROR):
        response = TestClient(create_app()).get("/api/tasks", headers=auth_headers)

    assert (response.status_code, response.json()) == (500, INTERNAL)
    assert error_log(caplog) == [
        "DATABASE_URL is not set: point it at PostgreSQL (Neon's pooled URL in production)"
    ]
