"""Serverless scale through PgBouncer in transaction mode: many instances, few server connections.

Each simulated function instance is a thread with an engine of its own (one connection, as
a Lambda instance holds), sending the app's own statements; PgBouncer multiplexes them over
10 server connections, as Neon's pooler multiplexes thousands. Twice: unprepared through a
pooler that breaks prepared statements (the default), and prepared through one that tracks
them (DATABASE_PREPARED_STATEMENTS, as Neon's pooler allows).
"""

import json
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from backend import listing, queries
from backend.db import engine_for
from backend.envelope import Call
from tests.test_pgbouncer import Bouncer, running_bouncer

INSTANCES = 200
SERVER_CONNECTIONS = 10
REPEATS = 1000
TIMEOUT = 30.0  # each wait: a client may queue behind 199 others for a server connection

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", params=[False, True], ids=["unprepared", "prepared"])
def pooler(database_url: str, request: pytest.FixtureRequest) -> Iterator[Bouncer]:
    """The pooler; where it tracks prepared statements, the app's engines prepare them."""
    with running_bouncer(
        database_url,
        pool_size=SERVER_CONNECTIONS,
        max_clients=INSTANCES + 50,
        tracking=request.param,
    ) as running:
        yield running


def instance(url: str, prepared: bool, start: threading.Barrier) -> tuple[int, int]:
    """One cold instance: its own engine, a write and a read of its own user, then gone."""
    engine = engine_for(url, pool_size=1, timeout=TIMEOUT, prepared=prepared)
    call = Call(user_id=f"scale-{uuid.uuid4().hex[:12]}", rate_limit=600)
    try:
        start.wait(timeout=TIMEOUT)  # every instance connects and sends at once
        task, _ = queries.create_task(engine, call, {"title": "at scale"})
        page, _, _ = listing.list_tasks(engine, call, listing.ListQuery())
        return task.id, len(json.loads(page))
    finally:
        engine.dispose()


def test_200_instances_share_10_server_connections_without_an_error(pooler: Bouncer) -> None:
    start = threading.Barrier(INSTANCES)

    with ThreadPoolExecutor(max_workers=INSTANCES) as pool:
        futures = [
            pool.submit(instance, pooler.url, pooler.tracking, start) for _ in range(INSTANCES)
        ]
        outcomes = [future.result(timeout=120) for future in futures]

    assert len({task_id for task_id, _ in outcomes}) == INSTANCES
    assert {listed for _, listed in outcomes} == {1}


def test_1000_requests_on_one_warm_connection_never_meet_a_prepared_statement_error(
    pooler: Bouncer,
) -> None:
    """Unprepared, with psycopg's default preparation (after 5 runs) this fails within about
    100 requests; prepared, without the pooler's tracking it fails at the second instance's."""
    engine, other = (
        engine_for(pooler.url, pool_size=1, timeout=TIMEOUT, prepared=pooler.tracking)
        for _ in range(2)
    )
    call, passer_by = (Call(user_id=f"warm-{uuid.uuid4().hex[:12]}") for _ in range(2))
    queries.create_task(engine, call, {"title": "warm"})
    try:
        with engine.connect() as connection:
            raw = connection.connection.dbapi_connection
        pages = []
        for _ in range(REPEATS):  # another instance between requests: server connections move
            pages.append(listing.list_tasks(engine, call, listing.ListQuery())[0])
            queries.get_task(other, passer_by, 1)
        with engine.connect() as connection:
            same = connection.connection.dbapi_connection is raw
    finally:
        engine.dispose()
        other.dispose()

    assert same  # one connection served every request, far past psycopg's prepare threshold
    assert {len(json.loads(page)) for page in pages} == {1}
