"""One JSON access line per request on stdout, its request id, and nothing secret in any log."""

import io
import json
import logging
import re
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import make_url, text
from sqlalchemy.engine import Engine

from backend import listing, queries
from backend.logs import JsonLines, access_fields
from backend.main import create_app
from tests.conftest import Env, TokenFactory
from tests.test_lambda import CONTEXT, event

FIELDS = {"level", "request_id", "method", "route", "status", "duration_ms", "user_id"}
GENERATED_ID = re.compile(r"[0-9a-f]{32}")
NO_TASK = "9223372036854775807"


@pytest.fixture
def stdout(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    """What the app's own stdout handler writes (the stream Lambda and Vercel collect).

    The handler keeps the sys.stdout of the moment the app was first built, so capsys cannot
    see it; the handler and its formatter are production's, only the stream is swapped here.
    """
    handlers = logging.getLogger("backend").handlers
    [app_handler] = [h for h in handlers if isinstance(h.formatter, JsonLines)]
    assert isinstance(app_handler, logging.StreamHandler)
    captured = io.StringIO()
    monkeypatch.setattr(app_handler, "stream", captured)
    return captured


def lines(captured: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in captured.getvalue().splitlines()]


def access_lines(captured: io.StringIO) -> list[dict[str, Any]]:
    return [line for line in lines(captured) if "status" in line]


def test_request_logs_one_json_line_with_every_field(
    client: TestClient, stdout: io.StringIO, auth_headers: dict[str, str], user_id: str
) -> None:
    response = client.get("/api/me", headers=auth_headers)

    [line] = lines(stdout)
    assert set(line) == FIELDS
    assert line == {
        "level": "info",
        "request_id": response.headers["X-Request-ID"],
        "method": "GET",
        "route": "/api/me",
        "status": 200,
        "duration_ms": line["duration_ms"],
        "user_id": user_id,
    }
    assert isinstance(line["duration_ms"], float)
    assert line["duration_ms"] >= 0


@pytest.mark.parametrize(
    ("method", "path", "body", "signed", "status", "route"),
    [
        ("GET", "/api/health", None, False, 200, "/api/health"),
        ("GET", "/api/tasks", None, True, 200, "/api/tasks"),
        ("GET", f"/api/tasks/{NO_TASK}", None, True, 404, "/api/tasks/{task_id}"),
        ("GET", "/api/tasks/abc/", None, True, 404, None),
        (
            "PATCH",
            f"/api/tasks/{NO_TASK}/complete",
            None,
            True,
            404,
            "/api/tasks/{task_id}/complete",
        ),
        ("GET", "/api/{me}/tasks", None, True, 200, "/api/{user_id}/tasks"),
        (
            "DELETE",
            f"/api/{{me}}/tasks/{NO_TASK}",
            None,
            True,
            404,
            "/api/{user_id}/tasks/{task_id}",
        ),
        ("GET", "/api/someone-else/tasks", None, True, 403, "/api/{user_id}/tasks"),
        ("POST", "/api/tasks", {"title": ""}, True, 422, "/api/tasks"),
        ("GET", "/api/me", None, False, 401, "/api/me"),
        ("GET", "/api/no/such/route", None, True, 404, None),
    ],
)
def test_access_line_names_the_route_template_status_and_user(
    client: TestClient,
    stdout: io.StringIO,
    auth_headers: dict[str, str],
    user_id: str,
    method: str,
    path: str,
    body: Any,
    signed: bool,
    status: int,
    route: str | None,
) -> None:
    headers = auth_headers if signed else {}

    response = client.request(method, path.format(me=user_id), json=body, headers=headers)

    [line] = access_lines(stdout)
    assert response.status_code == status
    assert (line["method"], line["route"], line["status"]) == (method, route, status)
    assert line["user_id"] == (user_id if signed and route else None)


def broken(*_: Any) -> Any:
    raise RuntimeError("secret detail")


def test_unhandled_error_logs_its_500_and_only_the_exception_type(
    client: TestClient,
    stdout: io.StringIO,
    auth_headers: dict[str, str],
    user_id: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(listing, "list_tasks", broken)

    response = client.get("/api/tasks", headers=auth_headers)

    error, access = lines(stdout)
    assert response.status_code == 500
    rid = response.headers["X-Request-ID"]
    assert error == {"level": "error", "request_id": rid, "message": "unhandled RuntimeError"}
    assert (access["method"], access["status"], access["user_id"]) == ("GET", 500, user_id)


def test_unreachable_database_logs_a_503(env: Env, stdout: io.StringIO, database_url: str) -> None:
    env(DATABASE_URL=make_url(database_url).set(port=9).render_as_string(hide_password=False))
    client = TestClient(create_app())

    response = client.get("/api/health/db")

    [line] = access_lines(stdout)
    assert response.status_code == 503
    assert (line["route"], line["status"], line["user_id"]) == ("/api/health/db", 503, None)


def test_lambda_request_id_wins_over_every_header(env: Env, stdout: io.StringIO) -> None:
    from backend.lambda_handler import handler

    headers = {"x-vercel-id": "iad1::abc-1", "X-Request-ID": "from-the-caller"}

    response = handler(event("http_v2", "GET", "/api/health", headers=headers), CONTEXT)

    [line] = lines(stdout)
    assert response["headers"]["x-request-id"] == CONTEXT.aws_request_id
    assert line["request_id"] == CONTEXT.aws_request_id


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (
            {"x-vercel-id": "cdg1::iad1::8wq4p-1700000000000", "X-Request-ID": "mine"},
            "cdg1::iad1::8wq4p-1700000000000",
        ),
        ({"x-vercel-id": "not sane", "X-Request-ID": "mine-1.2:3_4"}, "mine-1.2:3_4"),
        ({"X-Request-ID": "x" * 128}, "x" * 128),
    ],
)
def test_request_id_is_vercels_then_the_callers(
    client: TestClient, stdout: io.StringIO, headers: dict[str, str], expected: str
) -> None:
    response = client.get("/api/health", headers=headers)

    [line] = lines(stdout)
    assert response.headers["X-Request-ID"] == expected
    assert line["request_id"] == expected


@pytest.mark.parametrize(
    "given", [None, "", 'a b{"x":1}', "x" * 129, "x" * 300, "../etc/passwd", "id\u00e9", "<script>"]
)
def test_missing_or_unsafe_request_id_is_replaced_by_a_generated_one(
    client: TestClient, stdout: io.StringIO, given: str | None
) -> None:
    headers: dict[bytes, bytes] = {} if given is None else {b"X-Request-ID": given.encode()}

    first = client.get("/api/health", headers=headers)
    second = client.get("/api/health", headers=headers)

    ids = [line["request_id"] for line in lines(stdout)]
    assert ids == [first.headers["X-Request-ID"], second.headers["X-Request-ID"]]
    assert all(GENERATED_ID.fullmatch(rid) for rid in ids)
    assert ids[0] != ids[1]


def test_the_duration_is_in_milliseconds_since_the_request_started() -> None:
    before = time.perf_counter()
    fields = access_fields({"method": "GET"}, 200, before - 0.25)
    elapsed = time.perf_counter() - before

    assert 249.99 <= fields["duration_ms"] <= (0.25 + elapsed) * 1000 + 0.01


@pytest.mark.parametrize("method", ["GET", "GÉT", "G\ud800T"])
def test_a_line_is_one_json_object_whatever_text_it_carries(method: str) -> None:
    fields = {"method": method, "status": 200, "duration_ms": 1.5, "user_id": None}
    record = logging.LogRecord("backend.access", logging.INFO, "", 0, "request", None, None)
    record.fields = fields

    line = JsonLines().format(record)

    assert "\n" not in line
    assert json.loads(line) == {"level": "info", "request_id": "-", **fields}


PASSWORD = "pw-Zq8vK3-must-not-leak"
AUTH_SECRET = "auth-secret-Hq7wP2-must-not-leak-long-enough"


def test_no_token_secret_or_password_reaches_any_log(
    env: Env,
    database_url: str,
    stdout: io.StringIO,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    make_token: TokenFactory,
    user_id: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from backend.lambda_handler import handler

    with_password = make_url(database_url).set(password=PASSWORD)
    env(
        DATABASE_URL=with_password.render_as_string(hide_password=False),
        BETTER_AUTH_SECRET=AUTH_SECRET,
    )
    token = make_token(user_id, key=AUTH_SECRET)
    forged = token[:-6] + "AAAAAA"
    auth = {"Authorization": f"Bearer {token}"}
    client = TestClient(create_app())

    def failing_sql(db: Engine, *_: Any) -> Any:
        with db.connect() as connection:
            statement = text("SELECT CAST(:value AS integer)")
            connection.execute(statement, {"value": f"{token} {PASSWORD}"})

    def failing_code(*_: Any) -> Any:
        raise RuntimeError(f"token {token} password {PASSWORD} secret {AUTH_SECRET}")

    statuses = [
        client.post("/api/tasks", json={"title": "ok"}, headers=auth).status_code,
        client.get(f"/api/tasks?access_token={token}", headers=auth).status_code,
        client.get(f"/api/tasks?limit={token}", headers=auth).status_code,
        client.get("/api/tasks", headers={"Authorization": f"Bearer {forged}"}).status_code,
        client.post("/api/tasks", json={"title": "", "token": token}, headers=auth).status_code,
        client.get(f"/api/{token}/x", headers=auth).status_code,
        client.get(f"/api/tasks/{token}", headers=auth).status_code,
        handler(event("http_v2", "GET", "/api/tasks", headers=auth), CONTEXT)["statusCode"],
    ]
    monkeypatch.setattr(queries, "get_task", failing_sql)
    statuses.append(client.get("/api/tasks/1", headers=auth).status_code)
    list_tasks = listing.list_tasks
    monkeypatch.setattr(listing, "list_tasks", failing_code)
    statuses.append(client.get("/api/tasks", headers=auth).status_code)
    monkeypatch.setattr(listing, "list_tasks", list_tasks)
    env(DATABASE_URL=with_password.set(port=9).render_as_string(hide_password=False))
    statuses.append(TestClient(create_app()).get("/api/tasks", headers=auth).status_code)
    statuses.append(TestClient(create_app()).get("/api/health/db").status_code)

    assert statuses == [201, 200, 422, 401, 422, 404, 404, 200, 500, 500, 503, 503]
    out, err = capfd.readouterr()
    logged = "\n".join([stdout.getvalue(), out, err, caplog.text])
    assert len(access_lines(stdout)) == len(statuses)
    assert "unhandled RuntimeError" in caplog.text  # caplog sees the app's records too
    assert "database error: InvalidTextRepresentation" in caplog.text
    for needle in (token, forged, PASSWORD, AUTH_SECRET):
        assert needle not in logged
