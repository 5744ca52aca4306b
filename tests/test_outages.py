"""Outages through the tests' own fault proxy: every request ends in a 503 saying what happened."""

import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import psycopg
import pytest
from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy import event, make_url, update
from sqlalchemy.exc import TimeoutError as PoolTimeout

from backend import db, listing, statements
from backend.main import create_app
from backend.models import tasks
from tests.conftest import Env
from tests.faults import FaultProxy
from tests.test_pgbouncer import running_bouncer

Headers = dict[str, str]
T = TypeVar("T")

TIMEOUT = 0.5  # DATABASE_TIMEOUT_SECONDS in these tests
HANG_SECONDS = 30  # a request still running after this had an unbounded wait

UNAVAILABLE = {
    "detail": "The database is unavailable; retry shortly",
    "code": "DATABASE_UNAVAILABLE",
}
UNKNOWN = {
    "detail": "The database connection broke after the request was sent: it may have been "
    "applied; retry with the same Idempotency-Key",
    "code": "OUTCOME_UNKNOWN",
}


def bounded(call: Callable[[], T]) -> T:
    """Run `call` in a thread of its own; a hang fails the test instead of stalling the run."""
    outcome: list[T] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            outcome.append(call())
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(HANG_SECONDS)
    assert not thread.is_alive(), f"no answer within {HANG_SECONDS} s: a wait is unbounded"
    if errors:
        raise errors[0]
    return outcome[0]


def logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The app's warnings and errors, without the request log's lines."""
    return [r.getMessage() for r in caplog.records if r.name == "backend"]


def assert_503(response: Response, body: dict[str, str]) -> None:
    assert (response.status_code, response.json()) == (503, body)
    assert response.headers["retry-after"] == "5"


def task_count(database_url: str, user_id: str) -> int:
    with psycopg.connect(database_url) as connection:
        row = connection.execute("SELECT count(*) FROM tasks WHERE user_id = %s", [user_id])
        return int(row.fetchone()[0])  # type: ignore[index]


@pytest.fixture
def proxy(database_url: str) -> Iterator[FaultProxy]:
    target = make_url(database_url)
    host = str(target.query.get("host") or target.host or "127.0.0.1")
    port = target.port or 5432

    def upstream() -> socket.socket:
        if host.startswith("/"):  # the embedded server's Unix socket
            side = socket.socket(socket.AF_UNIX)
            side.connect(f"{host}/.s.PGSQL.{port}")
            return side
        return socket.create_connection((host, port), timeout=10)

    running = FaultProxy(upstream)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def bounded_app(env: Env) -> TestClient:
    """A fresh app on the tests' database itself, with small bounds on every wait."""
    env(DATABASE_TIMEOUT_SECONDS=str(TIMEOUT))
    return TestClient(create_app())


@pytest.fixture
def outage(env: Env, proxy: FaultProxy, database_url: str) -> Callable[..., TestClient]:
    """A fresh app whose database is behind the proxy, with small bounds on every wait."""

    def app(timeout: float = TIMEOUT) -> TestClient:
        url = make_url(database_url).set(
            host="127.0.0.1", port=proxy.port, query={"sslmode": "disable"}
        )
        env(
            DATABASE_URL=url.render_as_string(hide_password=False),
            DATABASE_TIMEOUT_SECONDS=str(timeout),
        )
        return TestClient(create_app())

    return app


def test_a_refused_database_is_503_unavailable_until_it_is_back(
    outage: Callable[..., TestClient], proxy: FaultProxy, auth_headers: Headers
) -> None:
    client = outage()
    assert client.get("/api/tasks", headers=auth_headers).status_code == 200  # one pooled
    proxy.refuse()

    read = bounded(lambda: client.get("/api/tasks", headers=auth_headers))
    write = bounded(lambda: client.post("/api/tasks", json={"title": "x"}, headers=auth_headers))
    health = bounded(lambda: client.get("/api/health/db"))
    proxy.set("forward")
    recovered = bounded(lambda: client.get("/api/tasks", headers=auth_headers))

    for response in (read, write, health):
        assert_503(response, UNAVAILABLE)  # the write never left: nothing to be unsure of
    assert recovered.status_code == 200


def test_a_blackholed_database_is_503_not_a_hang(
    outage: Callable[..., TestClient],
    proxy: FaultProxy,
    auth_headers: Headers,
    database_url: str,
    user_id: str,
) -> None:
    client = outage()
    assert client.get("/api/tasks", headers=auth_headers).status_code == 200  # one pooled
    proxy.set("blackhole")

    sent = bounded(lambda: client.post("/api/tasks", json={"title": "x"}, headers=auth_headers))
    connecting = bounded(lambda: client.get("/api/tasks", headers=auth_headers))
    cold = bounded(lambda: outage().get("/api/health/db"))

    assert_503(sent, UNKNOWN)  # sent on the pooled connection: it may have reached the server
    assert task_count(database_url, user_id) == 0  # here it did not
    assert_503(connecting, UNAVAILABLE)
    assert_503(cold, UNAVAILABLE)


def test_a_database_slower_than_the_timeout_is_503_and_one_within_it_answers(
    outage: Callable[..., TestClient],
    proxy: FaultProxy,
    auth_headers: Headers,
    database_url: str,
    user_id: str,
) -> None:
    client = outage()
    assert client.get("/api/tasks", headers=auth_headers).status_code == 200

    proxy.set("slow", delay=TIMEOUT * 4)
    write = bounded(lambda: client.post("/api/tasks", json={"title": "x"}, headers=auth_headers))
    read = bounded(lambda: client.get("/api/tasks", headers=auth_headers))
    proxy.set("slow", delay=TIMEOUT / 10)
    in_time = bounded(lambda: client.get("/api/tasks", headers=auth_headers))

    assert_503(read, UNAVAILABLE)
    assert_503(write, UNKNOWN)
    assert in_time.status_code == 200
    assert [task["title"] for task in in_time.json()] == ["x"]  # the write was applied


def test_a_read_with_no_answer_in_time_is_503_and_not_retried(
    outage: Callable[..., TestClient],
    proxy: FaultProxy,
    auth_headers: Headers,
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = outage()
    assert client.get("/api/tasks", headers=auth_headers).status_code == 200

    proxy.set("slow", delay=TIMEOUT * 4)
    with caplog.at_level(logging.WARNING, logger="backend"):
        read = bounded(lambda: client.get("/api/tasks", headers=auth_headers))

    assert_503(read, UNAVAILABLE)
    assert logged(caplog) == ["database unavailable: no answer to a read in time"]


def test_a_connection_that_comes_after_the_deadline_sends_nothing(
    bounded_app: TestClient,
    auth_headers: Headers,
    database_url: str,
    user_id: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = bounded_app
    assert client.get("/api/tasks", headers=auth_headers).status_code == 200
    engine = db.get_engine()

    def past_the_deadline(*_: Any) -> None:
        time.sleep(TIMEOUT * 1.5)

    event.listen(engine, "checkout", past_the_deadline)
    try:
        with caplog.at_level(logging.WARNING, logger="backend"):
            write = bounded(
                lambda: client.post("/api/tasks", json={"title": "x"}, headers=auth_headers)
            )
    finally:
        event.remove(engine, "checkout", past_the_deadline)

    assert_503(write, UNAVAILABLE)
    assert task_count(database_url, user_id) == 0
    assert logged(caplog) == ["database unavailable: no time left once connected"]


def test_a_write_cut_after_it_was_sent_is_outcome_unknown_and_applied_once(
    outage: Callable[..., TestClient],
    proxy: FaultProxy,
    auth_headers: Headers,
    database_url: str,
    user_id: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = outage()
    assert client.get("/api/tasks", headers=auth_headers).status_code == 200
    proxy.set("cut", cuts=1)

    with caplog.at_level(logging.WARNING, logger="backend"):
        response = bounded(
            lambda: client.post("/api/tasks", json={"title": "once"}, headers=auth_headers)
        )

    assert_503(response, UNKNOWN)
    assert task_count(database_url, user_id) == 1  # committed, and never sent again
    assert logged(caplog) == ["database outcome unknown: OperationalError after a write was sent"]


READS = {
    "list": "/api/tasks",
    "one task": "/api/tasks/{id}",
    "trash": "/api/tasks/trash",
    "stats": "/api/tasks/stats",
    "changes": "/api/tasks/changes",
}


def answered(response: Any) -> Any:
    """A read's body, less a sync token (which names the moment it was issued)."""
    body = response.json()
    return {k: v for k, v in body.items() if k != "next_since"} if isinstance(body, dict) else body


@pytest.mark.parametrize("path", READS.values(), ids=list(READS))
def test_a_read_cut_after_it_was_sent_is_retried_once_on_a_fresh_connection(
    outage: Callable[..., TestClient],
    proxy: FaultProxy,
    auth_headers: Headers,
    path: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = outage()
    created = client.post("/api/tasks", json={"title": "x"}, headers=auth_headers)
    assert created.status_code == 201
    url = path.format(id=created.json()["id"])
    before = client.get(url, headers=auth_headers)

    with caplog.at_level(logging.WARNING, logger="backend"):
        proxy.set("cut", cuts=1)
        retried = bounded(lambda: client.get(url, headers=auth_headers))
        proxy.set("cut", cuts=2)
        twice = bounded(lambda: client.get(url, headers=auth_headers))

    assert (before.status_code, retried.status_code) == (200, 200)
    assert answered(retried) == answered(before)
    assert_503(twice, UNAVAILABLE)
    assert logged(caplog) == [
        "database read retried: OperationalError",
        "database read retried: OperationalError",
        "database unavailable: OperationalError on a retried read",
    ]


def test_a_database_stalled_behind_pgbouncer_is_503_at_the_deadline(
    env: Env, proxy: FaultProxy, database_url: str, auth_headers: Headers
) -> None:
    behind_proxy = make_url(database_url).set(host="127.0.0.1", port=proxy.port, query={})
    with running_bouncer(behind_proxy.render_as_string(hide_password=False)) as bouncer:
        env(DATABASE_URL=bouncer.url, DATABASE_TIMEOUT_SECONDS=str(TIMEOUT))
        client = TestClient(create_app())
        assert client.get("/api/tasks", headers=auth_headers).status_code == 200
        proxy.set("blackhole")  # PgBouncer answers the app; the database answers nobody

        write = bounded(
            lambda: client.post("/api/tasks", json={"title": "x"}, headers=auth_headers)
        )
        read = bounded(lambda: client.get("/api/tasks", headers=auth_headers))
        health = bounded(lambda: client.get("/api/health/db"))

    assert_503(write, UNKNOWN)
    assert_503(read, UNAVAILABLE)
    assert_503(health, UNAVAILABLE)


def test_an_exhausted_pool_is_503_unavailable_not_500(
    bounded_app: TestClient,
    auth_headers: Headers,
    database_url: str,
    user_id: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = bounded_app
    engine = db.get_engine()
    held = [engine.connect() for _ in range(db.POOL_SIZE)]

    try:
        with caplog.at_level(logging.WARNING, logger="backend"):
            read = bounded(lambda: client.get("/api/tasks", headers=auth_headers))
            write = bounded(
                lambda: client.post("/api/tasks", json={"title": "x"}, headers=auth_headers)
            )
            health = bounded(lambda: client.get("/api/health/db"))
    finally:
        for connection in held:
            connection.close()
    freed = bounded(lambda: client.get("/api/tasks", headers=auth_headers))

    for response in (read, write, health):
        assert_503(response, UNAVAILABLE)
    assert logged(caplog) == ["database unavailable: no pooled connection came free in time"] * 3
    assert task_count(database_url, user_id) == 0
    assert freed.status_code == 200


def test_a_pool_timeout_outside_the_statement_runner_is_503_too(
    client: TestClient, auth_headers: Headers, monkeypatch: pytest.MonkeyPatch
) -> None:
    def exhausted(*_: Any) -> None:
        raise PoolTimeout("QueuePool limit of size 5 overflow 0 reached")

    monkeypatch.setattr(listing, "list_tasks", exhausted)

    assert_503(client.get("/api/tasks", headers=auth_headers), UNAVAILABLE)


class Checkouts:
    """The most connections an engine has had checked out at once."""

    def __init__(self, engine: Any) -> None:
        self.lock = threading.Lock()
        self.held = self.peak = 0
        event.listen(engine, "checkout", self.out)
        event.listen(engine, "checkin", self.back)

    def out(self, *_: Any) -> None:
        with self.lock:
            self.held += 1
            self.peak = max(self.peak, self.held)

    def back(self, *_: Any) -> None:
        with self.lock:
            self.held -= 1


def test_health_checks_hold_one_connection_however_many_arrive(
    outage: Callable[..., TestClient], proxy: FaultProxy, auth_headers: Headers
) -> None:
    client = outage(timeout=2.0)
    assert client.get("/api/tasks", headers=auth_headers).status_code == 200
    checkouts = Checkouts(db.get_engine())
    proxy.set("slow", delay=0.3)
    answers: list[Response] = []
    callers = [
        threading.Thread(target=lambda: answers.append(client.get("/api/health/db")), daemon=True)
        for _ in range(40)
    ]

    for caller in callers:
        caller.start()
    time.sleep(0.05)  # the storm is under way
    signed_in = bounded(lambda: client.get("/api/tasks", headers=auth_headers))
    for caller in callers:
        caller.join(HANG_SECONDS)

    assert not any(caller.is_alive() for caller in callers)
    assert [response.status_code for response in answers] == [200] * 40
    assert signed_in.status_code == 200
    assert checkouts.peak <= 2  # one health check and the signed-in request, never the pool


def test_a_write_passed_as_a_read_is_refused_before_anything_is_sent(env: Env) -> None:
    statement = update(tasks).values(title="x").where(tasks.c.id == 0)

    with pytest.raises(ValueError, match="retrying it could apply it twice"):
        statements.run(db.get_engine(), statement, write=False)
