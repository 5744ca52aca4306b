"""Under uvicorn (and Vercel's ASGI server) one request's slow statement blocks no other."""

import json
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import psycopg
import pytest
import uvicorn
from fastapi.testclient import TestClient

from backend.main import create_app
from tests.conftest import Env

Headers = dict[str, str]
WAIT = 30.0


@pytest.fixture
def server(env: Env) -> Iterator[str]:
    """The app under uvicorn in this process, on a free port, with a generous database wait."""
    env(DATABASE_TIMEOUT_SECONDS="60")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    config = uvicorn.Config(create_app(), lifespan="off", log_level="warning")
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + WAIT
    while not running.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert running.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    running.should_exit = True
    thread.join(timeout=WAIT)
    listener.close()


def call(url: str, headers: Headers, method: str = "GET", body: Any = None) -> int:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, method=method, headers={**headers, "Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=WAIT) as response:
        status: int = response.status
        return status


def waiting_on_the_lock(database_url: str, request: "Future[int]") -> None:
    """Return once a backend of this database waits for a row lock: the request has begun."""
    deadline = time.monotonic() + WAIT
    with psycopg.connect(database_url, autocommit=True) as watcher:
        while time.monotonic() < deadline and not request.done():
            row = watcher.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            ).fetchone()
            if row and row[0]:
                return
            time.sleep(0.02)
    pytest.fail("the request never reached the locked row")


def test_a_request_waiting_on_the_database_delays_neither_health_nor_another_user(
    server: str,
    client: TestClient,
    auth_headers: Headers,
    other_headers: Headers,
    database_url: str,
) -> None:
    task = client.post("/api/tasks", json={"title": "held"}, headers=auth_headers).json()
    holder = psycopg.connect(database_url)
    holder.execute("SELECT 1 FROM tasks WHERE id = %s FOR UPDATE", (task["id"],))
    with ThreadPoolExecutor(max_workers=1) as pool:
        slow: Future[int] = pool.submit(
            call, f"{server}/api/tasks/{task['id']}", auth_headers, "PATCH", {"title": "late"}
        )
        try:
            waiting_on_the_lock(database_url, slow)
            health = call(f"{server}/api/health", {})
            other = call(f"{server}/api/tasks", other_headers)
            still_waiting = not slow.done()
        finally:
            holder.rollback()
            holder.close()
        finished = slow.result(timeout=WAIT)

    assert (health, other) == (200, 200)
    assert still_waiting, "the patch could not end while its row stayed locked"
    assert finished == 200
