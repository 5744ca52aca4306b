"""A syncing client for the tests: calls /changes, keeps a replica, compares it with the server."""

from dataclasses import dataclass, field
from typing import Any

import psycopg
from fastapi.testclient import TestClient

Headers = dict[str, str]
Task = dict[str, Any]


def changes(
    client: TestClient, headers: Headers, since: str | None = None, limit: int | None = None
) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if since is not None:
        params["since"] = since
    if limit is not None:
        params["limit"] = limit
    response = client.get("/api/tasks/changes", params=params, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"changes", "purged", "next_since", "has_more"}
    if limit is not None:
        assert len(body["changes"]) + len(body["purged"]) <= limit
    return body


@dataclass
class Replica:
    """A frontend's local copy: tasks by id, rebuilt from what /changes sends."""

    client: TestClient
    headers: Headers
    limit: int | None = None
    since: str | None = None
    tasks: dict[int, Task] = field(default_factory=dict)
    received: list[int] = field(default_factory=list)
    """Ids of every task sent, in order, duplicates included."""
    versions: list[tuple[int, int]] = field(default_factory=list)
    """`(id, version)` of every task sent."""

    def page(self) -> dict[str, Any]:
        """Call once, apply what came back; the answer, for assertions."""
        body = changes(self.client, self.headers, self.since, self.limit)
        for task in body["changes"]:
            self.tasks[task["id"]] = task
            self.received.append(task["id"])
            self.versions.append((task["id"], task["version"]))
        for task_id in body["purged"]:
            self.tasks.pop(task_id, None)
        self.since = body["next_since"]
        return body

    def sync(self) -> list[dict[str, Any]]:
        """Call until `has_more` is false; every page's answer."""
        pages = [self.page()]
        while pages[-1]["has_more"]:
            pages.append(self.page())
            assert len(pages) < 1000, "paging does not end"
        return pages

    def state(self) -> dict[int, tuple[int, str, bool]]:
        return {
            i: (t["version"], t["title"], t["deleted_at"] is not None)
            for i, t in self.tasks.items()
        }


def server_state(database_url: str, user_id: str) -> dict[int, tuple[int, str, bool]]:
    """The user's live and trashed tasks, as committed now."""
    with psycopg.connect(database_url, autocommit=True) as connection:
        rows = connection.execute(
            "SELECT id, version, title, deleted_at IS NOT NULL FROM tasks WHERE user_id = %s",
            (user_id,),
        ).fetchall()
    return {row[0]: (row[1], row[2], row[3]) for row in rows}
