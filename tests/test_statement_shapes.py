"""Statements are built once per shape: a request's values are bind parameters, so a second
request of the same kind builds no statement and compiles nothing (`backend.compiled`)."""

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine.interfaces import Dialect
from sqlalchemy.sql import ClauseElement

from backend import compiled
from tests.conftest import Env

Headers = dict[str, str]
Request = Callable[[int], Any]
"""Sends one request of a kind; the argument varies its values (ids, titles, keys)."""


@pytest.fixture
def executed(
    client: TestClient, auth_headers: Headers, monkeypatch: pytest.MonkeyPatch
) -> list[tuple[ClauseElement, bool]]:
    """For each statement sent: the statement object, and whether it was compiled for it."""
    client.get("/api/tasks", headers=auth_headers)  # the engine exists
    seen: list[tuple[ClauseElement, bool]] = []
    kept = compiled.sendable

    def recording(statement: ClauseElement, dialect: Dialect) -> compiled.Sendable:
        misses = kept.cache_info().misses
        sendable = kept(statement, dialect)
        seen.append((statement, kept.cache_info().misses > misses))
        return sendable

    monkeypatch.setattr(compiled, "sendable", recording)
    return seen


def kinds(client: TestClient, headers: Headers) -> dict[str, Request]:
    def new(n: int) -> int:
        body = {"title": f"task {n}", "tags": [f"t{n}"]}
        task_id: int = client.post("/api/tasks", json=body, headers=headers).json()["id"]
        return task_id

    def trashed(n: int) -> int:
        task_id = new(n)
        client.delete(f"/api/tasks/{task_id}", headers=headers)
        return task_id

    keyed = {**headers, "Idempotency-Key": "shape-key"}
    return {
        "create": lambda n: client.post("/api/tasks", json={"title": f"c{n}"}, headers=headers),
        "create keyed": lambda n: client.post(
            "/api/tasks", json={"title": f"k{n}"}, headers={**keyed, "Idempotency-Key": f"k{n}"}
        ),
        "read": lambda n: client.get(f"/api/tasks/{new(n)}", headers=headers),
        "list": lambda n: client.get(f"/api/tasks?limit={n}", headers=headers),
        "list filtered": lambda n: client.get(
            f"/api/tasks?tag=t{n}&q=task+{n}&priority=high&status=pending", headers=headers
        ),
        "patch": lambda n: client.patch(
            f"/api/tasks/{new(n)}", json={"title": f"p{n}"}, headers=headers
        ),
        "patch if-match": lambda n: client.patch(
            f"/api/tasks/{new(n)}", json={"title": f"m{n}"}, headers={**headers, "If-Match": '"1"'}
        ),
        "toggle": lambda n: client.patch(f"/api/tasks/{new(n)}/complete", headers=headers),
        "delete": lambda n: client.delete(f"/api/tasks/{new(n)}", headers=headers),
        "trash": lambda n: client.get(f"/api/tasks/trash?limit={n}", headers=headers),
        "restore": lambda n: client.post(f"/api/tasks/{trashed(n)}/restore", headers=headers),
        "delete for good": lambda n: client.delete(
            f"/api/tasks/trash/{trashed(n)}", headers=headers
        ),
        "empty": lambda n: client.post("/api/tasks/trash/empty", headers=headers),
        "bulk": lambda n: client.post(
            "/api/tasks/bulk", json={"action": "complete", "ids": [new(n), n]}, headers=headers
        ),
        "stats": lambda n: client.get("/api/tasks/stats", headers=headers),
        "changes": lambda n: client.get(f"/api/tasks/changes?limit={n}", headers=headers),
    }


KINDS = [
    "create",
    "create keyed",
    "read",
    "list",
    "list filtered",
    "patch",
    "patch if-match",
    "toggle",
    "delete",
    "trash",
    "restore",
    "delete for good",
    "empty",
    "bulk",
    "stats",
    "changes",
]


@pytest.mark.parametrize("kind", KINDS)
def test_a_second_request_of_a_kind_builds_and_compiles_nothing(
    env: Env, client: TestClient, auth_headers: Headers, executed: list[Any], kind: str
) -> None:
    send = kinds(client, auth_headers)[kind]
    send(1)
    first = executed[-1][0]
    executed.clear()

    response = send(2)

    assert response.status_code < 300, response.text
    statement, compiled_now = executed[-1]
    assert statement is first, "the statement was built again"
    assert not compiled_now, "the statement was compiled again"
