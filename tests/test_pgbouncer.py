"""Through PgBouncer in transaction mode, as Neon's pooled endpoint runs it."""

import os
import pwd
import re
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, make_url, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import ClauseElement

from backend import db
from backend.compiled import Row, send
from backend.db import engine_for
from backend.main import create_app
from tests.conftest import Env
from tests.syncing import Replica

Headers = dict[str, str]

PGBOUNCER = os.environ.get("PGBOUNCER") or shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
"""The binary: $PGBOUNCER (`.ci/run` names its own build), else the first on the PATH."""


def version() -> tuple[int, ...]:
    """`PgBouncer 1.18.0` -> (1, 18, 0)."""
    output = subprocess.run(
        [PGBOUNCER, "--version"], capture_output=True, text=True, timeout=10, check=True
    )
    found = re.search(r"PgBouncer (\d+)\.(\d+)", output.stdout)
    assert found, output.stdout
    return tuple(int(part) for part in found.groups())


def prepared_statements(tracking: bool) -> str:
    """Whether the pooler tracks protocol-level prepared statements (1.21 and later can).

    Off, on any version, it breaks what psycopg prepares, as Debian's 1.18 does: the app's
    default, unprepared statements must work there. On, it is Neon's pooler (1.22+), which
    DATABASE_PREPARED_STATEMENTS needs.
    """
    if not tracking:
        return "max_prepared_statements = 0\n" if version() >= (1, 21) else ""
    if version() < (1, 22):
        if os.environ.get("CI") == "true":
            pytest.fail("PgBouncer 1.22+ is missing: .ci/run builds it")
        pytest.skip("PgBouncer 1.22+ tracks prepared statements: scripts/install_pgbouncer.sh")
    return "max_prepared_statements = 200\n"  # PgBouncer's default since 1.22


@dataclass
class Bouncer:
    """A PgBouncer process in front of the test database; it can be restarted."""

    config: Path
    port: int
    url: str
    run_as: str
    process: "subprocess.Popen[bytes] | None" = None
    tracking: bool = False
    """It keeps prepared statements, as Neon's pooler does."""

    def start(self) -> None:
        user = ["-u", self.run_as] if os.geteuid() == 0 else []  # it refuses to run as root
        with (self.config.parent / "pgbouncer.log").open("ab") as log:
            self.process = subprocess.Popen([PGBOUNCER, *user, str(self.config)], stderr=log)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        self.stop()
        pytest.fail("PgBouncer did not start listening within 15 s")

    def stop(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGINT)  # immediate shutdown: clients are cut off
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def bouncer(database_url: str) -> Iterator[Bouncer]:
    with running_bouncer(database_url) as running:
        yield running


@contextmanager
def running_bouncer(
    database_url: str, *, pool_size: int = 1, max_clients: int = 100, tracking: bool = False
) -> Iterator[Bouncer]:
    """PgBouncer in transaction mode in front of `database_url`'s server, stopped afterwards.

    `pool_size` server connections serve up to `max_clients` client connections;
    `tracking`: it keeps prepared statements, as Neon's does.
    """
    if not os.path.exists(PGBOUNCER):
        if os.environ.get("CI") == "true":
            pytest.fail("pgbouncer is missing: .ci/run builds it")
        pytest.skip("pgbouncer is not installed (scripts/install_pgbouncer.sh)")
    target = make_url(database_url)
    host = str(target.query.get("host") or target.host or "127.0.0.1")
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="pgbouncer-") as folder:
        os.chmod(folder, 0o755)
        auth = Path(folder) / "users.txt"
        auth.write_text(f'"{target.username}" ""\n')
        config = Path(folder) / "pgbouncer.ini"
        config.write_text(
            "[databases]\n"
            f"{target.database} = host={host} port={target.port or 5432} "
            f"dbname={target.database}\n"
            "[pgbouncer]\n"
            f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
            f"auth_type = trust\nauth_file = {auth}\n"
            # One server connection by default: each client's first prepared statement is
            # named _pg3_0, so a second client that prepares collides there, every time.
            f"pool_mode = transaction\ndefault_pool_size = {pool_size}\n"
            f"min_pool_size = {pool_size}\nmax_client_conn = {max_clients}\n"
            "server_round_robin = 1\nlogfile =\n" + prepared_statements(tracking)
        )
        for path in (auth, config):
            path.chmod(0o644)
        url = f"postgresql://{target.username}@127.0.0.1:{port}/{target.database}"
        # A Unix socket (the embedded server's) is reachable by its owner only.
        run_as = pwd.getpwuid(os.stat(host).st_uid).pw_name if host.startswith("/") else "nobody"
        running = Bouncer(config, port, url, run_as, tracking=tracking)
        running.start()
        try:
            yield running
        finally:
            running.stop()


@pytest.fixture
def pooled_client(env: Env, bouncer: Bouncer) -> TestClient:
    env(DATABASE_URL=bouncer.url)
    return TestClient(create_app())


def wait_until_every_idle_socket_is_readable() -> None:
    """Bounded: what the pool check sees once a closed peer's end of stream has arrived."""
    idle = [entry.dbapi_connection for entry in db.get_engine().pool._pool.queue]  # type: ignore[attr-defined]
    sockets = [connection.pgconn.socket for connection in idle if connection is not None]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        readable, _, _ = select.select(sockets, [], [], 0.05)
        if len(readable) == len(sockets):
            return
    pytest.fail("the pooled sockets never saw the old pooler close them")


def test_every_route_works_through_pgbouncer_in_transaction_mode(
    pooled_client: TestClient, auth_headers: Headers
) -> None:
    assert every_route(pooled_client, auth_headers) == [201] + [200] * 11


def test_prepared_statements_work_through_a_pooler_that_tracks_them_as_neons_does(
    env: Env, database_url: str, auth_headers: Headers
) -> None:
    with running_bouncer(database_url, tracking=True) as tracking:
        env(DATABASE_URL=tracking.url, DATABASE_PREPARED_STATEMENTS="true")
        client = TestClient(create_app())
        other = engine_for(tracking.url, pool_size=1, prepared=True)  # another instance
        passes = []
        try:
            for _ in range(3):  # prepared at first use, then bound; the two instances interleave
                passes.append(every_route(client, auth_headers))
                passes.append([len(send_on(other, text("SELECT 1 AS one")))])
        finally:
            other.dispose()

    assert passes == [[201] + [200] * 11, [1]] * 3


def every_route(client: TestClient, headers: Headers) -> list[int]:
    """The status of a request to each route, a new task's from its creation to its purge."""
    created = client.post("/api/tasks", json={"title": "pooled"}, headers=headers)
    url = created.headers["location"]
    return [
        created.status_code,
        client.get(url, headers=headers).status_code,
        client.put(url, json={"title": "again"}, headers=headers).status_code,
        client.patch(url, json={"tags": ["x"]}, headers=headers).status_code,
        client.patch(f"{url}/complete", headers=headers).status_code,
        client.get("/api/tasks?tag=x&sort=title", headers=headers).status_code,
        client.delete(url, headers=headers).status_code,
        client.get("/api/tasks/trash", headers=headers).status_code,
        client.post(f"{url}/restore", headers=headers).status_code,
        client.delete(url, headers=headers).status_code,
        client.post("/api/tasks/trash/empty", headers=headers).status_code,
        client.get("/api/health/db").status_code,
    ]


def send_on(engine: Engine, statement: ClauseElement) -> list[Row]:
    pooled = engine.raw_connection()
    try:
        return send(pooled, engine.dialect, statement, None)
    finally:
        pooled.close()


def test_prepared_statements_break_on_a_pooler_that_does_not_track_them(bouncer: Bouncer) -> None:
    """The control: why DATABASE_PREPARED_STATEMENTS is off unless the pooler is Neon's kind."""
    first, second = (engine_for(bouncer.url, pool_size=1, prepared=True) for _ in range(2))
    statement = text("SELECT 1 AS one")
    try:
        send_on(first, statement)
        with pytest.raises(DBAPIError) as broken:
            send_on(second, statement)  # prepared under the name the first gave its own
    finally:
        first.dispose()
        second.dispose()

    assert isinstance(broken.value.orig, psycopg.errors.DuplicatePreparedStatement)


def test_this_pooler_breaks_statements_psycopg_prepares_on_its_own(bouncer: Bouncer) -> None:
    """The control: with psycopg's default `prepare_threshold` (5), two instances collide."""
    with (
        psycopg.connect(bouncer.url, autocommit=True) as first,
        psycopg.connect(bouncer.url, autocommit=True) as second,
    ):
        for _ in range(6):
            first.execute("SELECT 1")
        for _ in range(5):
            second.execute("SELECT 1")

        with pytest.raises(psycopg.errors.DuplicatePreparedStatement, match="_pg3_0"):
            second.execute("SELECT 1")  # the sixth: prepared as _pg3_0, which first holds


def test_statements_repeated_past_psycopgs_prepare_threshold_keep_working(
    pooled_client: TestClient, auth_headers: Headers, bouncer: Bouncer
) -> None:
    for index in range(3):
        pooled_client.post("/api/tasks", json={"title": f"t{index}"}, headers=auth_headers)
    other_instance = engine_for(bouncer.url, pool_size=1)  # the app's engine, as another instance
    answers, others = [], []

    with other_instance.connect() as connection:
        for _ in range(8):  # interleaved on the one server connection: either prepared collides
            answers.append(pooled_client.get("/api/tasks?limit=100", headers=auth_headers))
            others.append(connection.execute(text("SELECT 1")).scalar())
    other_instance.dispose()

    assert [response.status_code for response in answers] == [200] * 8
    assert {len(response.json()) for response in answers} == {3}
    assert others == [1] * 8


def test_a_restarted_pooler_costs_no_failed_request(
    pooled_client: TestClient, auth_headers: Headers, bouncer: Bouncer
) -> None:
    assert pooled_client.get("/api/tasks", headers=auth_headers).status_code == 200
    bouncer.stop()
    bouncer.start()
    wait_until_every_idle_socket_is_readable()  # the old pooler's goodbye has arrived

    response = pooled_client.get("/api/tasks", headers=auth_headers)

    assert response.status_code == 200


def test_sync_through_pgbouncer_pages_and_goes_idle_whichever_server_connection_answers(
    pooled_client: TestClient, auth_headers: Headers, bouncer: Bouncer
) -> None:
    for index in range(3):
        pooled_client.post("/api/tasks", json={"title": f"t{index}"}, headers=auth_headers)
    replica = Replica(pooled_client, auth_headers, limit=1)
    idle = []

    with psycopg.connect(bouncer.url, autocommit=True, prepare_threshold=None) as other_instance:
        replica.sync()
        for _ in range(8):  # past psycopg's prepare threshold, server connections changing hands
            other_instance.execute("SELECT 1")
            idle.append(replica.page())

    assert sorted(replica.received) == sorted(replica.tasks)
    assert len(replica.tasks) == 3
    assert {(len(page["changes"]), len(page["purged"])) for page in idle} == {(0, 0)}
