"""Fixtures: a database of the run's own on a real PostgreSQL, the app, and tokens."""

import os
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import jwt
import psycopg
import pytest
from fastapi.testclient import TestClient

from backend import (
    auth,
    bulk,
    compiled,
    config,
    db,
    envelope,
    keyset,
    listing,
    queries,
    stats,
    sync,
    trash,
)
from backend.local import throwaway_database, throwaway_server, with_database
from backend.main import create_app

SECRET = "test-secret-that-is-long-enough-for-hs256"

Env = Callable[..., None]
TokenFactory = Callable[..., str]


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """A database of this run's own (TEST_DATABASE_URL's server, or an embedded one), migrated."""
    with (
        throwaway_server(os.environ.get("TEST_DATABASE_URL"), "task-api-pg-") as admin_url,
        throwaway_database(admin_url, "tasks_test_") as url,
    ):
        yield url


@pytest.fixture
def empty_database(database_url: str) -> Iterator[str]:
    """Another database on the same server, with nothing in it; dropped afterwards."""
    name = f"tasks_migrations_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(database_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield with_database(database_url, name)
    with psycopg.connect(database_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


BUILDERS = (queries, listing, trash, bulk, stats, sync)
"""The modules whose `*_statement` builders keep a statement per shape for the process."""


@pytest.fixture(autouse=True)
def fresh_statements() -> None:
    """Each test builds the statements it sends, as a new instance does.

    A builder keeps its statement for the process, and every one is keyed by an envelope:
    a new envelope builds everything anew. Without this, a test sends what an earlier one
    built; under mutmut, which forks each mutant's run from the process that ran the tests
    unmutated, no mutant in what the builders call would ever be built, and only the first
    test of each shape would be counted as reaching it."""
    envelope.envelope.cache_clear()
    compiled.sendable.cache_clear()
    for module in BUILDERS:
        for name, value in vars(module).items():
            if name.endswith("_statement") and hasattr(value, "cache_clear"):
                value.cache_clear()


def clear_caches() -> None:
    config.get_settings.forget()
    auth.get_verifier.forget()
    db.drop_engine()


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, database_url: str) -> Iterator[Env]:
    """Set the app's environment for one test; the app reads it afresh."""
    for name in config.Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("BETTER_AUTH_SECRET", SECRET)

    def set_env(**values: str | None) -> None:
        for name, value in values.items():
            if value is None:
                monkeypatch.delenv(name, raising=False)
            else:
                monkeypatch.setenv(name, value)
        clear_caches()

    clear_caches()
    yield set_env
    clear_caches()


@pytest.fixture
def client(env: Env) -> TestClient:
    return TestClient(create_app())


@pytest.fixture
def make_token() -> TokenFactory:
    def make(
        sub: Any = None,
        *,
        ttl: int = 600,
        headers: dict[str, Any] | None = None,
        key: Any = SECRET,
        algorithm: str = "HS256",
        **claims: Any,
    ) -> str:
        now = int(time.time())
        payload: dict[str, Any] = {"sub": sub, "iat": now, "exp": now + ttl, **claims}
        payload = {k: v for k, v in payload.items() if v is not None}
        return jwt.encode(payload, key, algorithm=algorithm, headers=headers)

    return make


class Clock:
    """Stands in for the key set's monotonic clock, so cooldowns pass without sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(keyset, "monotonic", fake)
    return fake


@pytest.fixture
def user_id() -> str:
    """A user of this test's own: tests share one database and never see each other."""
    return f"user-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def auth_headers(user_id: str, make_token: TokenFactory) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_token(user_id)}"}


@pytest.fixture
def other_headers(make_token: TokenFactory) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_token(f'other-{uuid.uuid4().hex[:12]}')}"}
