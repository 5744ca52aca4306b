"""One error shape for everything, and never a 500 for a client's mistake."""

import gzip
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.exceptions import HTTPException

from backend.errors import ValidationFailed
from backend.main import create_app
from tests.conftest import Env

Headers = dict[str, str]


def test_unknown_route_is_404_in_the_error_shape(client: TestClient) -> None:
    response = client.get("/api/nothing-here")

    assert response.status_code == 404
    assert response.json() == {"detail": "No route for /api/nothing-here", "code": "NOT_FOUND"}


def test_wrong_method_is_405_with_every_allowed_method(client: TestClient) -> None:
    response = client.post("/api/tasks/1")

    assert response.status_code == 405
    assert response.headers["allow"] == "DELETE, GET, PATCH, PUT"
    assert response.json() == {
        "detail": "POST is not allowed here; allowed: DELETE, GET, PATCH, PUT",
        "code": "METHOD_NOT_ALLOWED",
    }


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (401, "UNAUTHENTICATED"),
        (403, "FORBIDDEN"),
        (413, "PAYLOAD_TOO_LARGE"),
        (415, "UNSUPPORTED_MEDIA_TYPE"),
        (422, "VALIDATION_ERROR"),
        (418, "ERROR"),
    ],
)
def test_any_other_http_error_keeps_its_status_detail_and_headers_in_the_error_shape(
    env: Env, status: int, code: str
) -> None:
    app = create_app()

    @app.get("/api/raises")
    def raises() -> None:
        raise HTTPException(status, detail="Told so", headers={"X-Reason": "raised"})

    response = TestClient(app).get("/api/raises")

    assert response.status_code == status
    assert response.headers["x-reason"] == "raised"
    assert response.json() == {"detail": "Told so", "code": code}


def test_a_validation_failure_naming_no_field_lists_it_with_an_empty_field(env: Env) -> None:
    app = create_app()

    @app.get("/api/raises")
    def raises() -> None:
        raise ValidationFailed("Dates are out of order")

    response = TestClient(app).get("/api/raises")

    assert response.json() == {
        "detail": "Dates are out of order",
        "code": "VALIDATION_ERROR",
        "errors": [{"field": "", "message": "Dates are out of order"}],
    }


def test_malformed_json_is_422(client: TestClient, auth_headers: Headers) -> None:
    response = client.post(
        "/api/tasks",
        content=b'{"title": ',
        headers={**auth_headers, "content-type": "application/json"},
    )

    body = response.json()
    assert response.status_code == 422
    assert body["code"] == "VALIDATION_ERROR"
    assert body["detail"] == "Request body is not valid JSON: Expecting value"
    assert "field" not in body
    assert body["errors"] == [{"field": "", "message": body["detail"]}]


@pytest.mark.parametrize(
    "payload",
    [
        b"[]",
        b'"title"',
        b"null",
        b"42",
        b'{"title": "\\ud800"}',  # lone surrogates: JSON allows them, UTF-8 and PostgreSQL do not
        b'{"title": "ok", "tags": ["\\udfff"]}',
        b'{"title": "ok", "description": "\\ud83d"}',
    ],
)
def test_a_body_that_is_not_an_object_of_storable_text_is_422(
    client: TestClient, auth_headers: Headers, payload: bytes
) -> None:
    response = client.post(
        "/api/tasks", content=payload, headers={**auth_headers, "content-type": "application/json"}
    )

    assert response.status_code == 422
    assert response.json()["code"] == "VALIDATION_ERROR"


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"\xff", "it is not UTF-8 text"),
        (b'{"title": "caf\xe9"}', "it is not UTF-8 text"),
        (b'{"title": "x", "n": ' + b"1" * 5000 + b"}", "an integer has more than 100 digits"),
        (b"[" * 1500 + b"]" * 1500, "it is nested deeper than 32 levels"),
        (b'{"a": ' * 5000, "it is nested deeper than 32 levels"),
        (b'{"title": "x", "n": NaN}', "NaN is not JSON"),
        (b'{"title": "x", "n": -Infinity}', "-Infinity is not JSON"),
        (b'{"title": "x", "n": 1e999}', "a number is too large"),
    ],
)
def test_an_undecodable_body_is_422_in_the_error_shape(
    client: TestClient, auth_headers: Headers, payload: bytes, reason: str
) -> None:
    response = client.post(
        "/api/tasks", content=payload, headers={**auth_headers, "content-type": "application/json"}
    )

    detail = f"Request body is not valid JSON: {reason}"
    assert response.status_code == 422
    assert response.json() == {
        "detail": detail,
        "code": "VALIDATION_ERROR",
        "errors": [{"field": "", "message": detail}],
    }


def test_brackets_inside_strings_do_not_count_as_nesting(
    client: TestClient, auth_headers: Headers
) -> None:
    title = "[" * 80 + '\\"{' * 30

    response = client.post("/api/tasks", json={"title": title}, headers=auth_headers)

    assert response.status_code == 201
    assert response.json()["title"] == title


def test_a_body_with_a_byte_order_mark_is_read(client: TestClient, auth_headers: Headers) -> None:
    response = client.post(
        "/api/tasks",
        content=b'\xef\xbb\xbf{"title": "x"}',
        headers={**auth_headers, "content-type": "application/json"},
    )

    assert response.status_code == 201


def test_a_request_the_framework_cannot_read_is_422_never_400(env: Env) -> None:
    app = create_app()

    @app.get("/api/unreadable")
    def unreadable() -> None:
        raise HTTPException(400, "There was an error parsing the body")

    response = TestClient(app).get("/api/unreadable")

    detail = "There was an error parsing the body"
    assert response.status_code == 422
    assert response.json() == {
        "detail": detail,
        "code": "VALIDATION_ERROR",
        "errors": [{"field": "", "message": detail}],
    }


def test_an_invalid_item_in_a_list_is_named_by_its_path(
    client: TestClient, auth_headers: Headers
) -> None:
    response = client.post(
        "/api/tasks", json={"title": "x", "tags": ["ok", 7]}, headers=auth_headers
    )

    body = response.json()
    assert response.status_code == 422
    assert (body["field"], [e["field"] for e in body["errors"]]) == ("tags.1", ["tags.1"])
    assert body["detail"].startswith("tags.1: ")


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"title": "x", "id": 5}, "id", "Unknown or read-only field"),
        ({"title": ""}, "title", "String should have at least 1 character"),
        ({"description": "no title"}, "title", "Field required"),
        # A validator's ValueError, without pydantic's "Value error, " in front.
        (
            {"title": "x", "tags": ["t" * 31]},
            "tags",
            "each tag must be 1 to 30 characters after trimming",
        ),
    ],
)
def test_a_422_names_the_field_and_says_what_is_wrong_with_it(
    client: TestClient, auth_headers: Headers, body: dict[str, Any], field: str, message: str
) -> None:
    response = client.post("/api/tasks", json=body, headers=auth_headers)

    assert response.status_code == 422
    assert response.json() == {
        "detail": f"{field}: {message}",
        "code": "VALIDATION_ERROR",
        "field": field,
        "errors": [{"field": field, "message": message}],
    }


def test_several_invalid_inputs_are_counted_in_the_detail(
    client: TestClient, auth_headers: Headers
) -> None:
    response = client.post("/api/tasks", json={"title": "", "id": 1}, headers=auth_headers)

    assert response.json()["detail"] == "2 inputs are invalid"


def test_a_missing_body_is_422(client: TestClient, auth_headers: Headers) -> None:
    response = client.post("/api/tasks", headers=auth_headers)

    assert response.status_code == 422
    assert response.json()["detail"] == "Request body is required"


def test_a_body_over_64_kib_is_413_before_authentication(client: TestClient) -> None:
    response = client.post(
        "/api/tasks", content=b"x" * (64 * 1024 + 1), headers={"content-type": "application/json"}
    )

    assert response.status_code == 413
    assert response.json() == {"detail": "Request body is over 64 KiB", "code": "PAYLOAD_TOO_LARGE"}


def test_a_streamed_body_over_64_kib_is_413(client: TestClient, auth_headers: Headers) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(80):
            yield b"x" * 1024

    response = client.post("/api/tasks", content=chunks(), headers=auth_headers)

    assert response.status_code == 413
    assert response.json()["code"] == "PAYLOAD_TOO_LARGE"


GZIP_BOMB = gzip.compress(b'{"title": "' + b"x" * 10_000_000 + b'"}')
UNSUPPORTED_ENCODING = {
    "detail": "Content-Encoding is not supported: send the body uncompressed (identity)",
    "code": "UNSUPPORTED_MEDIA_TYPE",
}


@pytest.mark.parametrize("encoding", ["gzip", "GZIP", "br", "deflate", "identity, gzip", "x"])
def test_a_content_coded_body_is_415_before_authentication_and_never_decoded(
    client: TestClient, encoding: str
) -> None:
    response = client.post(
        "/api/tasks",
        content=GZIP_BOMB,
        headers={"content-type": "application/json", "content-encoding": encoding},
    )

    assert len(GZIP_BOMB) < 64 * 1024
    assert response.status_code == 415
    assert response.headers["accept-encoding"] == "identity"
    assert response.json() == UNSUPPORTED_ENCODING


def test_a_content_coding_is_415_on_a_route_without_a_body(client: TestClient) -> None:
    response = client.get("/api/health", headers={"content-encoding": "gzip"})

    assert response.status_code == 415
    assert response.json() == UNSUPPORTED_ENCODING


@pytest.mark.parametrize("encoding", ["identity", "Identity", " identity ", ""])
def test_identity_content_encoding_is_read_as_usual(
    client: TestClient, auth_headers: Headers, encoding: str
) -> None:
    response = client.post(
        "/api/tasks", json={"title": "x"}, headers={**auth_headers, "content-encoding": encoding}
    )

    assert response.status_code == 201


def test_a_body_of_exactly_64_kib_is_read(client: TestClient, auth_headers: Headers) -> None:
    padding = 64 * 1024 - len('{"title": "x", "description": ""}')
    payload = '{"title": "x", "description": ""}' + " " * padding

    response = client.post(
        "/api/tasks", content=payload, headers={**auth_headers, "content-type": "application/json"}
    )

    assert len(payload) == 64 * 1024
    assert response.status_code == 201


def test_a_nul_character_is_422_not_a_database_error(
    client: TestClient, auth_headers: Headers
) -> None:
    response = client.post("/api/tasks", json={"title": "a\x00b"}, headers=auth_headers)

    assert response.status_code == 422
    assert response.json()["field"] == "title"


def test_a_nul_character_in_the_search_text_is_422(
    client: TestClient, auth_headers: Headers
) -> None:
    response = client.get("/api/tasks", params={"q": "a\x00"}, headers=auth_headers)

    assert response.status_code == 422


@pytest.mark.parametrize("task_id", ["99999999999999999999999", "0", "-1", "abc", "1.5", "+1"])
def test_an_id_that_is_not_a_positive_integer_matches_no_route(
    client: TestClient, auth_headers: Headers, task_id: str
) -> None:
    response = client.get(f"/api/tasks/{task_id}", headers=auth_headers)

    assert response.status_code == 404
    assert response.json() == {"detail": f"No route for /api/tasks/{task_id}", "code": "NOT_FOUND"}


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/tasks/{id}", None),
        ("PATCH", "/api/tasks/{id}", {"title": "x"}),
        ("PATCH", "/api/tasks/{id}/complete", None),
        ("DELETE", "/api/tasks/{id}", None),
        ("POST", "/api/tasks/{id}/restore", None),
        ("DELETE", "/api/tasks/trash/{id}", None),
        ("GET", "/api/{user}/tasks/{id}", None),
    ],
)
def test_an_id_beyond_64_bits_is_a_404(
    client: TestClient, auth_headers: Headers, user_id: str, method: str, path: str, body: object
) -> None:
    url = path.format(id=2**63, user=user_id)
    response = client.request(method, url, json=body, headers=auth_headers)

    assert response.status_code == 404
    assert response.json() == {"detail": "Task not found", "code": "NOT_FOUND"}


def test_the_largest_bigint_id_is_a_plain_404(client: TestClient, auth_headers: Headers) -> None:
    response = client.patch(
        "/api/tasks/9223372036854775807", json={"title": "x"}, headers=auth_headers
    )

    assert response.status_code == 404


@pytest.mark.parametrize(
    "due_at",
    [
        "0000-01-01T00:00:00Z",
        "10000-01-01T00:00:00Z",
        "9999-12-31T23:00:00-05:00",
        "0001-01-01T00:00:00+05:00",
        "2030-02-30T00:00:00Z",
    ],
)
def test_dates_outside_what_postgresql_and_rfc_3339_allow_are_422(
    client: TestClient, auth_headers: Headers, due_at: str
) -> None:
    response = client.post(
        "/api/tasks", json={"title": "x", "due_at": due_at}, headers=auth_headers
    )

    assert response.status_code == 422
    assert response.json()["field"] == "due_at"


NOT_RFC_3339 = (
    "must be an RFC 3339 date-time with seconds and a UTC offset (Z or +hh:mm), "
    "such as 2030-01-01T09:00:00Z"
)
LOOSE_DATES = [
    "1700000000",
    "0.5",
    "2030-01-01T00:00Z",
    "2030-01-01T00:00:00+0100",
    "2030-01-01T00:00:00",
    "2030-01-01",
    "2030-01-01T00:00:00+01",
    "2030-01-01T00:00:00 Z",
    "2030-01-01T00:00:00Z ",
    "20300101T000000Z",
    "\u0662\u0660\u0663\u0660-01-01T00:00:00Z",
]


@pytest.mark.parametrize("due_at", LOOSE_DATES)
def test_a_due_at_that_is_not_strict_rfc_3339_is_422(
    client: TestClient, auth_headers: Headers, due_at: str
) -> None:
    response = client.post(
        "/api/tasks", json={"title": "x", "due_at": due_at}, headers=auth_headers
    )

    assert response.status_code == 422
    assert response.json() == {
        "detail": f"due_at: {NOT_RFC_3339}",
        "code": "VALIDATION_ERROR",
        "field": "due_at",
        "errors": [{"field": "due_at", "message": NOT_RFC_3339}],
    }


@pytest.mark.parametrize(
    ("due_at", "stored"),
    [
        ("2030-01-01T09:00:00Z", "2030-01-01T09:00:00Z"),
        ("2030-01-01t09:00:00z", "2030-01-01T09:00:00Z"),
        ("2030-01-01T10:00:00.5+01:00", "2030-01-01T09:00:00.500000Z"),
        ("2030-01-01T09:00:00.1234567891-00:00", "2030-01-01T09:00:00.123456Z"),
        ("0001-01-01T00:00:00Z", "0001-01-01T00:00:00Z"),
    ],
)
def test_a_strict_rfc_3339_due_at_comes_back_in_utc_with_z(
    client: TestClient, auth_headers: Headers, due_at: str, stored: str
) -> None:
    response = client.post(
        "/api/tasks", json={"title": "x", "due_at": due_at}, headers=auth_headers
    )

    assert response.status_code == 201
    assert response.json()["due_at"] == stored


def test_a_trailing_slash_is_served_like_the_route_without_it(
    client: TestClient, auth_headers: Headers
) -> None:
    created = client.post("/api/tasks/", json={"title": "x"}, headers=auth_headers)

    read = client.get(f"/api/tasks/{created.json()['id']}/", headers=auth_headers)

    assert created.status_code == 201
    assert read.status_code == 200


def test_an_unexpected_error_is_a_bare_500_that_leaks_nothing(
    env: Env,
    auth_headers: Headers,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def explode(*_: Any) -> None:
        raise RuntimeError("SELECT secret_column FROM hidden WHERE password = 'hunter2'")

    monkeypatch.setattr("backend.queries.get_task", explode)
    client = TestClient(create_app(), raise_server_exceptions=False)

    with caplog.at_level(logging.ERROR):
        response = client.get("/api/tasks/1", headers=auth_headers)

    assert response.status_code == 500
    assert response.json() == {"detail": "Internal server error", "code": "INTERNAL_ERROR"}
    assert "hunter2" not in caplog.text
    assert "RuntimeError" in caplog.text


def test_an_unreachable_database_is_503_with_retry_after(env: Env, auth_headers: Headers) -> None:
    env(DATABASE_URL="postgresql://nobody:pw@127.0.0.1:1/none")
    client = TestClient(create_app())

    health = client.get("/api/health/db")
    tasks = client.get("/api/tasks", headers=auth_headers)

    for response in (health, tasks):
        assert response.status_code == 503
        assert response.headers["retry-after"] == "5"
        assert response.json() == {
            "detail": "The database is unavailable; retry shortly",
            "code": "DATABASE_UNAVAILABLE",
        }


def test_health_needs_no_database(env: Env) -> None:
    env(DATABASE_URL="postgresql://nobody:pw@127.0.0.1:1/none")

    response = TestClient(create_app()).get("/api/health")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_invalid_input_is_422_even_while_the_database_is_down(
    env: Env, auth_headers: Headers
) -> None:
    env(DATABASE_URL="postgresql://nobody:pw@127.0.0.1:1/none")
    client = TestClient(create_app())

    bad_body = client.post("/api/tasks", json={"title": ""}, headers=auth_headers)
    bad_query = client.get("/api/tasks?limit=0", headers=auth_headers)

    assert (bad_body.status_code, bad_query.status_code) == (422, 422)
