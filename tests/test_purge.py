"""The purge of tasks trashed past retention: the CLI, the Lambda schedule, the Vercel cron."""

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from tests.conftest import Env

Headers = dict[str, str]
EVENTS = Path(__file__).parent / "events"
ROOT = Path(__file__).parent.parent
CRON_SECRET = "cron-secret-of-the-test"


@pytest.fixture
def aged(client: TestClient, auth_headers: Headers, database_url: str) -> dict[str, int]:
    """A live task, one trashed within retention, and one trashed 31 days ago."""
    ids = {}
    for name in ("live", "fresh", "expired"):
        response = client.post("/api/tasks", json={"title": name}, headers=auth_headers)
        ids[name] = response.json()["id"]
    for name in ("fresh", "expired"):
        client.delete(f"/api/tasks/{ids[name]}", headers=auth_headers)
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute(
            "UPDATE tasks SET deleted_at = now() - interval '31 days' WHERE id = %s",
            (ids["expired"],),
        )
    return ids


def remaining(database_url: str, ids: dict[str, int]) -> set[str]:
    with psycopg.connect(database_url) as connection:
        rows = connection.execute("SELECT id FROM tasks WHERE id = ANY(%s)", (list(ids.values()),))
        found = {row[0] for row in rows}
    return {name for name, task_id in ids.items() if task_id in found}


def test_the_purge_command_deletes_only_tasks_trashed_past_retention(
    aged: dict[str, int], database_url: str, env: Env
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "backend", "purge"],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert "tasks deleted for good" in result.stdout
    assert remaining(database_url, aged) == {"live", "fresh"}


def test_the_scheduled_lambda_purges_on_the_event_eventbridge_sends(
    aged: dict[str, int], database_url: str
) -> None:
    from backend.lambda_handler import purge

    scheduled = json.loads((EVENTS / "scheduled.json").read_text())

    answer: dict[str, Any] = purge(scheduled, None)

    assert answer["purged"] >= 1
    assert remaining(database_url, aged) == {"live", "fresh"}


def test_the_vercel_cron_route_purges_with_the_cron_secret(
    client: TestClient, aged: dict[str, int], database_url: str, env: Env
) -> None:
    env(CRON_SECRET=CRON_SECRET)

    response = client.get("/api/cron/purge", headers={"Authorization": f"Bearer {CRON_SECRET}"})

    assert response.status_code == 200
    assert response.json()["purged"] >= 1
    assert remaining(database_url, aged) == {"live", "fresh"}


@pytest.mark.parametrize("secret", [None, CRON_SECRET])
@pytest.mark.parametrize(
    "authorization", [None, "Bearer wrong", f"Basic {CRON_SECRET}", f"Bearer {CRON_SECRET}x"]
)
def test_the_cron_route_refuses_anything_but_the_cron_secret(
    client: TestClient,
    aged: dict[str, int],
    database_url: str,
    env: Env,
    secret: str | None,
    authorization: str | None,
) -> None:
    env(CRON_SECRET=secret)
    headers = {"Authorization": authorization} if authorization else {}

    response = client.get("/api/cron/purge", headers=headers)

    assert response.status_code == 401
    assert response.json()["code"] == "UNAUTHENTICATED"
    assert remaining(database_url, aged) == {"live", "fresh", "expired"}


def test_a_user_token_is_not_the_cron_secret(
    client: TestClient, aged: dict[str, int], auth_headers: Headers, env: Env
) -> None:
    env(CRON_SECRET=CRON_SECRET)

    assert client.get("/api/cron/purge", headers=auth_headers).status_code == 401


def test_vercel_calls_the_cron_route_daily() -> None:
    config = json.loads((ROOT / "vercel.json").read_text())

    assert config["crons"] == [{"path": "/api/cron/purge", "schedule": "0 3 * * *"}]
