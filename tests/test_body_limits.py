"""The body limit's edges: a Content-Length that is not a number declares nothing (the body
is still counted as it arrives), and a Content-Encoding list of identity only is no coding."""

from typing import Any

import pytest
from fastapi.testclient import TestClient

Headers = dict[str, str]
TOO_LARGE = {"detail": "Request body is over 64 KiB", "code": "PAYLOAD_TOO_LARGE"}


@pytest.mark.parametrize("declared", ["abc", "1e9", "-1", ""])
def test_a_content_length_that_is_not_a_number_is_no_crash(
    client: TestClient, declared: str
) -> None:
    """Mangum passes an event's headers on as they came: nothing before the app checks them."""
    response = client.get("/api/health", headers={"Content-Length": declared})

    assert (response.status_code, response.json()) == (200, {"status": "ok"})


def test_a_streamed_body_over_the_limit_is_413_whatever_length_it_declared(
    client: TestClient, auth_headers: Headers
) -> None:
    def chunks() -> Any:
        for _ in range(65):
            yield b"x" * 1024

    response = client.post(
        "/api/tasks", content=chunks(), headers={**auth_headers, "Content-Length": "abc"}
    )

    assert (response.status_code, response.json()) == (413, TOO_LARGE)


@pytest.mark.parametrize("encoding", ["identity, identity", "identity,", "IDENTITY,identity"])
def test_a_content_encoding_list_of_identity_only_is_read_as_usual(
    client: TestClient, auth_headers: Headers, encoding: str
) -> None:
    """A list header: its items are split on commas, and an empty item is no coding."""
    response = client.post(
        "/api/tasks", json={"title": "x"}, headers={**auth_headers, "Content-Encoding": encoding}
    )

    assert response.status_code == 201
