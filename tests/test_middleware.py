"""The ASGI layers around the app: the lifespan passes through, the body limit comes first,
a refused preflight says what was refused, and CORS survives settings it cannot read yet."""

import logging
from typing import Any

import pytest
from fastapi.testclient import TestClient

from backend import middleware
from backend.config import get_settings
from backend.main import create_app
from tests.conftest import Env

Headers = dict[str, str]
ORIGIN = "http://127.0.0.1:5173"
TOO_LARGE = {"detail": "Request body is over 64 KiB", "code": "PAYLOAD_TOO_LARGE"}


def test_a_server_that_runs_the_lifespan_starts_and_stops_the_app(env: Env) -> None:
    """Vercel's ASGI server runs the lifespan once; every layer must pass it through."""
    with TestClient(create_app()) as client:  # startup, then shutdown on exit
        response = client.get("/api/health")

    assert response.status_code == 200


@pytest.mark.parametrize(("method", "path"), [("POST", "/api/nothing"), ("GET", "/api/health")])
def test_a_declared_body_over_64_kib_is_413_even_where_nothing_reads_it(
    client: TestClient, method: str, path: str
) -> None:
    response = client.request(method, path, content=b"x" * (64 * 1024 + 1))

    assert (response.status_code, response.json()) == (413, TOO_LARGE)


def test_a_streamed_body_over_64_kib_names_the_limit(
    client: TestClient, auth_headers: Headers
) -> None:
    def chunks() -> Any:
        for _ in range(65):
            yield b"x" * 1024

    response = client.post("/api/tasks", content=chunks(), headers=auth_headers)

    assert (response.status_code, response.json()) == (413, TOO_LARGE)


@pytest.fixture
def cors_client(env: Env) -> TestClient:
    env(CORS_ORIGINS=ORIGIN)
    return TestClient(create_app())


@pytest.mark.parametrize(
    ("origin", "headers", "refused"),
    [
        ("http://127.0.0.1:5174", "authorization", "origin"),
        (ORIGIN, "authorization, x-evil", "headers"),
        ("http://127.0.0.1:5174", "x-evil", "origin, headers"),
    ],
)
def test_a_refused_preflight_says_what_was_refused_and_keeps_the_cors_headers(
    cors_client: TestClient, origin: str, headers: str, refused: str
) -> None:
    response = cors_client.options(
        "/api/tasks",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": headers,
        },
    )

    assert response.status_code == 403
    assert response.json() == {
        "detail": f"CORS preflight refused: {refused} not allowed",
        "code": "FORBIDDEN",
    }
    assert response.headers["access-control-max-age"] == "600"
    assert "PUT" in response.headers["access-control-allow-methods"]


def test_cors_is_set_up_on_the_first_request_whose_settings_can_be_read(
    cors_client: TestClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def unreadable() -> None:
        raise TimeoutError("Secrets Manager did not answer")

    monkeypatch.setattr(middleware, "get_settings", unreadable)
    with caplog.at_level(logging.ERROR):
        first = cors_client.get("/api/health", headers={"Origin": ORIGIN})
    monkeypatch.setattr(middleware, "get_settings", get_settings)
    second = cors_client.get("/api/health", headers={"Origin": ORIGIN})

    assert first.status_code == 200
    assert "access-control-allow-origin" not in first.headers
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == ["settings unavailable for CORS: TimeoutError"]
    assert second.headers["access-control-allow-origin"] == ORIGIN
