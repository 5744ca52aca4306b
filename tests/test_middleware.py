"""The ASGI layers around the app: the lifespan passes through, the body limit comes first,
a trailing slash is dropped before routing, a refused preflight says what was refused, and
CORS survives settings it cannot read yet."""

import asyncio
import logging
from collections.abc import MutableMapping
from typing import Any

import pytest
from fastapi.testclient import TestClient

from backend import middleware
from backend.config import get_settings
from backend.errors import PayloadTooLarge
from backend.main import create_app
from backend.middleware import BodyLimit, CatchAll
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


@pytest.mark.parametrize(
    ("path", "routed"),
    [
        ("/api/nothing/", "/api/nothing"),
        ("/api/nothing///", "/api/nothing"),
        ("/api/X/", "/api/X"),  # the slashes only, whatever comes before them
        ("/%2F", "/"),  # a path of slashes alone is the root (httpx folds a literal `//`)
    ],
)
def test_a_trailing_slash_is_dropped_before_routing(
    client: TestClient, path: str, routed: str
) -> None:
    response = client.get(path)

    assert response.status_code == 404
    assert response.json()["detail"] == f"No route for {routed}"


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


def test_a_request_that_goes_on_without_cors_still_has_its_body_read(
    cors_client: TestClient, monkeypatch: pytest.MonkeyPatch, auth_headers: Headers
) -> None:
    """Only CORS's own read of the settings fails here: the route reads them as usual."""

    def unreadable() -> None:
        raise TimeoutError("Secrets Manager did not answer")

    monkeypatch.setattr(middleware, "get_settings", unreadable)
    response = cors_client.post(
        "/api/tasks", json={"title": "Read anyway"}, headers={**auth_headers, "Origin": ORIGIN}
    )

    assert (response.status_code, response.json()["title"]) == (201, "Read anyway")
    assert "access-control-allow-origin" not in response.headers


def run_catch_all(scope_type: str, start_first: bool) -> tuple[list[dict[str, Any]], BaseException]:
    """CatchAll around an app that fails (having started its answer or not): what it sent."""

    async def failing_app(_: Any, __: Any, send: Any) -> None:
        if start_first:  # the start alone: the answer has begun, no body yet
            await send({"type": "http.response.start", "status": 200, "headers": []})
        raise RuntimeError("SELECT secret")

    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(dict(message))

    scope = {"type": scope_type, "path": "/api/x", "method": "GET", "headers": []}
    # A loop of its own, never made the current one: asyncio.run would unset the current
    # loop, which Mangum keeps for the process (test_lambda's), and leak its sockets.
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(CatchAll(failing_app)(scope, receive, send))
    except RuntimeError as raised:
        return sent, raised
    finally:
        loop.close()
    return sent, AssertionError("nothing raised")


def test_a_failure_before_the_answer_starts_is_a_bare_500(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.ERROR):
        sent, _ = run_catch_all("http", start_first=False)

    assert [r.getMessage() for r in caplog.records] == ["unhandled RuntimeError"]

    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    assert sent[0]["status"] == 500
    assert sent[1]["body"] == b'{"detail":"Internal server error","code":"INTERNAL_ERROR"}'


@pytest.mark.parametrize(("scope_type", "start_first"), [("http", True), ("lifespan", False)])
def test_a_failure_once_the_answer_started_or_outside_http_is_raised_not_answered_twice(
    scope_type: str, start_first: bool
) -> None:
    sent, raised = run_catch_all(scope_type, start_first)

    assert isinstance(raised, RuntimeError)
    assert len(sent) == (1 if start_first else 0)  # only what the app itself sent


def test_a_body_streamed_in_several_messages_is_counted_whole() -> None:
    """As uvicorn delivers a large body: 3 messages of 30 000 bytes, each under the limit."""
    chunks = [
        {"type": "http.request", "body": b"x" * 30_000, "more_body": more}
        for more in (True, True, False)
    ]

    async def reading_app(_: Any, receive: Any, __: Any) -> None:
        while (await receive()).get("more_body"):
            pass

    async def receive() -> dict[str, Any]:
        return chunks.pop(0)

    async def send(_: MutableMapping[str, Any]) -> None:
        pass

    scope = {"type": "http", "path": "/api/tasks", "method": "POST", "headers": []}
    loop = asyncio.new_event_loop()
    try:
        with pytest.raises(PayloadTooLarge, match="over 64 KiB"):
            loop.run_until_complete(BodyLimit(reading_app)(scope, receive, send))
    finally:
        loop.close()
