"""A task's JSON, as PostgreSQL writes it for a list or a sync page, is what `TaskOut` would
answer."""

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from backend import db
from backend.models import tasks
from backend.queries import to_task
from backend.rows import shown
from backend.schemas import Changes
from tests.conftest import Env

Headers = dict[str, str]
INDIA = timezone(timedelta(hours=5, minutes=30))
ROW: dict[str, Any] = {
    "id": 7,
    "user_id": "user-1",
    "title": "Buy milk",
    "description": None,
    "completed": False,
    "completed_at": None,
    "priority": 2,
    "tags": [],
    "due_at": None,
    "recurrence": None,
    "timezone": None,
    "created_at": datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC),
    "updated_at": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
    "deleted_at": None,
    "version": 1,
    "write_xid": "7331",  # a column the API does not show
}
ROWS = {
    "defaults": {},
    "every priority": {"priority": 1},
    "high": {"priority": 3},
    "completed": {"completed": True, "completed_at": datetime(2026, 2, 1, tzinfo=UTC)},
    "whole seconds": {"due_at": datetime(2026, 3, 1, 9, 0, tzinfo=UTC)},
    "another offset": {"due_at": datetime(2026, 3, 1, 9, 0, 0, 1, tzinfo=INDIA)},
    "first and last years": {
        "due_at": datetime(1, 1, 1, tzinfo=UTC),
        "deleted_at": datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    },
    "text": {"title": 'Ünïcode "quotes" \\ </script> 🙂', "description": "line\nbreak\ttab"},
    "control characters": {"title": "\x01\x08\x0c\x1f\x7f\u2028\u2029", "description": "\r/"},
    "empty description": {"description": ""},
    "rule": {"recurrence": "FREQ=WEEKLY;BYDAY=MO", "timezone": "Australia/Sydney"},
    "tags": {"tags": ["home", "q&a", "work"]},
    "big id": {"id": 2**53 + 1, "version": 2**31 - 1},
}


@pytest.mark.parametrize("changes", ROWS.values(), ids=list(ROWS))
def test_a_row_is_written_as_the_model_writes_it(env: Env, changes: dict[str, Any]) -> None:
    env()
    row = {**ROW, **changes}
    values = (sa.literal(row[column.name], column.type).label(column.name) for column in tasks.c)
    source = sa.select(*values).subquery("t")
    with db.get_engine().connect() as connection:
        written = connection.execute(sa.select(shown(source))).scalar_one()

    assert written.encode() == to_task(row).model_dump_json().encode()


def test_a_list_and_a_read_show_each_task_as_its_creation_answered(
    client: TestClient, auth_headers: Headers
) -> None:
    """A write answers through FastAPI's `response_model`; a read writes the model itself,
    and a list has PostgreSQL write it: the same bytes for the same task."""
    bodies = [
        {"title": "plain"},
        {"title": "due", "due_at": "2030-01-07T09:00:00Z", "priority": "high"},
        {"title": "odd", "due_at": "2030-01-07T09:00:00.000001+05:30", "tags": ["b", "a"]},
        {"title": "rule", "due_at": "2030-01-07T09:00:00Z", "recurrence": "FREQ=DAILY"},
        {"title": "done", "completed": True, "description": "ok", "priority": "low"},
        {"title": 'Ünïcode "q" \\ </script> \u2028 🙂 \x01', "description": "tab\there"},
    ]
    created = {}
    for body in bodies:
        answer = client.post("/api/tasks", json=body, headers=auth_headers)
        assert answer.status_code == 201
        created[answer.json()["id"]] = answer.content

    listed = client.get("/api/tasks", headers=auth_headers)

    assert sorted(task["id"] for task in listed.json()) == sorted(created)
    for task in listed.json():
        read = client.get(f"/api/tasks/{task['id']}", headers=auth_headers)
        assert read.headers["content-type"] == "application/json"
        assert read.content == created[task["id"]]
        assert task == read.json()
    assert listed.content == b"[" + b",".join(created[t["id"]] for t in listed.json()) + b"]"


def test_a_sync_page_is_what_pydantic_writes_around_each_task_as_its_creation_answered(
    client: TestClient, auth_headers: Headers
) -> None:
    """A sync page has PostgreSQL write each task, and joins them into `Changes`: the same
    bytes as the model would write, each task as its creation answered it."""
    created = {}
    for body in ({"title": "one", "tags": ["x"]}, {"title": "two", "priority": "high"}, {}, {}):
        answer = client.post("/api/tasks", json={"title": "t", **body}, headers=auth_headers)
        created[answer.json()["id"]] = answer.content
    gone = sorted(created)[-2:]

    def page(since: str | None = None, limit: int = 100) -> Any:
        params: dict[str, Any] = {"limit": limit, **({"since": since} if since else {})}
        return client.get("/api/tasks/changes", params=params, headers=auth_headers)

    first = page(limit=3)
    rest = page(first.json()["next_since"])
    for task_id in gone:
        client.delete(f"/api/tasks/{task_id}", headers=auth_headers)
        client.delete(f"/api/tasks/trash/{task_id}", headers=auth_headers)
    purged = page(rest.json()["next_since"])

    for answer in (first, rest, purged):
        assert answer.headers["content-type"] == "application/json"
        written = Changes.model_validate_json(answer.content).model_dump_json()
        assert answer.content == written.encode()
    assert [first.json()["has_more"], rest.json()["has_more"]] == [True, False]
    changed = first.json()["changes"] + rest.json()["changes"]
    assert sorted(task["id"] for task in changed) == sorted(created)
    assert [json.dumps(task, separators=(",", ":"), ensure_ascii=False) for task in changed] == [
        created[task["id"]].decode() for task in changed
    ]
    assert (purged.json()["changes"], purged.json()["purged"]) == ([], gone)
