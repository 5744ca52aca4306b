"""Prepared statements (DATABASE_PREPARED_STATEMENTS=true) on the wire: each statement is
parsed and planned once per connection, its Parse sent with its first use in one round trip;
a search is planned at each use. (`test_pgbouncer.py` runs them through a pooler.)"""

import re
from collections.abc import Callable

import psycopg
import pytest
from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy import literal, select

from backend import db
from backend.compiled import send
from backend.main import create_app
from tests.conftest import Env
from tests.wire import Wire, round_trips, traced

Headers = dict[str, str]


@pytest.fixture
def prepared(env: Env) -> TestClient:
    env(DATABASE_PREPARED_STATEMENTS="true")
    return TestClient(create_app())


def parsed(messages: list[str]) -> list[str]:
    """The name of each statement parsed: "" for one planned only for this use."""
    return re.findall(r'^Parse\t "([^"]*)"', "\n".join(messages), re.MULTILINE)


def bound(messages: list[str]) -> list[str]:
    """The statement each Bind runs."""
    return re.findall(r'^Bind\t "[^"]*" "([^"]*)"', "\n".join(messages), re.MULTILINE)


def repeated(
    wire: Wire, request: Callable[[], Response], times: int
) -> list[tuple[Response, list[str]]]:
    """Requests of one kind, each with the messages it sent."""
    return [(request(), wire.sent()) for _ in range(times)]


def test_a_statement_is_prepared_with_its_first_use_in_one_round_trip_then_only_bound(
    prepared: TestClient, auth_headers: Headers
) -> None:
    created = prepared.post("/api/tasks", json={"title": "x"}, headers=auth_headers).json()
    url = f"/api/tasks/{created['id']}"
    kinds: dict[str, Callable[[], Response]] = {
        "read": lambda: prepared.get(url, headers=auth_headers),
        "list": lambda: prepared.get("/api/tasks?sort=title", headers=auth_headers),
        "patch": lambda: prepared.patch(url, json={"title": "y"}, headers=auth_headers),
        "stats": lambda: prepared.get("/api/tasks/stats", headers=auth_headers),
        "changes": lambda: prepared.get("/api/tasks/changes", headers=auth_headers),
    }

    with traced(db.get_engine()) as wire:
        runs = {name: repeated(wire, request, 2) for name, request in kinds.items()}

    for name, ((first, sent_first), (second, sent_second)) in runs.items():
        assert (first.status_code, second.status_code) == (200, 200), name
        assert (round_trips(sent_first), round_trips(sent_second)) == (1, 1), name
        [name_parsed] = parsed(sent_first)
        assert name_parsed != "", (name, "planned for one use only")
        assert bound(sent_first) == bound(sent_second) == [name_parsed], name
        assert parsed(sent_second) == [], (name, "parsed again")
    assert runs["patch"][1][0].json()["title"] == "y"
    assert runs["read"][1][0].json()["title"] == "x"  # read before the patch
    assert [task["id"] for task in runs["list"][1][0].json()] == [created["id"]]


@pytest.mark.parametrize("search", ["q=word", "tag=a"])
def test_a_search_is_planned_at_each_use_as_its_values_decide(
    prepared: TestClient, auth_headers: Headers, search: str
) -> None:
    prepared.post("/api/tasks", json={"title": "a word", "tags": ["a"]}, headers=auth_headers)

    with traced(db.get_engine()) as wire:  # past psycopg's own threshold (5) too
        runs = repeated(wire, lambda: prepared.get(f"/api/tasks?{search}", headers=auth_headers), 7)

    for response, messages in runs:
        assert len(response.json()) == 1
        assert round_trips(messages) == 1
        assert parsed(messages) == [""]


def test_a_new_connection_prepares_its_statements_again(
    prepared: TestClient, auth_headers: Headers, database_url: str
) -> None:
    def read() -> Response:
        return prepared.get("/api/tasks", headers=auth_headers)

    read()  # prepared on the instance's connection
    with psycopg.connect(database_url, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )

    with traced(db.get_engine()) as wire:
        runs = repeated(wire, read, 2)

    (first, sent_first), (second, sent_second) = runs
    assert (first.status_code, second.status_code) == (200, 200)
    assert round_trips(sent_first) == 1
    assert parsed(sent_first) != [""]
    assert parsed(sent_second) == []


def test_each_connection_prepares_a_statement_for_itself_in_one_round_trip(env: Env) -> None:
    env(DATABASE_PREPARED_STATEMENTS="true")
    statement = select(literal(1).label("one"))
    wire = Wire()

    engine = db.get_engine()
    first, second = engine.raw_connection(), engine.raw_connection()
    try:
        send(first, engine.dialect, statement, None)  # prepared on the first connection only
        wire.start(second.dbapi_connection)
        answers = [send(second, engine.dialect, statement, None) for _ in range(2)]
        wire.stop(second.dbapi_connection)
    finally:
        first.close()
        second.close()
    messages = wire.sent()
    wire.file.close()

    assert answers == [[{"one": 1}]] * 2
    assert round_trips(messages) == 2
    assert len(parsed(messages)) == 1
    assert parsed(messages) != [""]
