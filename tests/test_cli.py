"""The command line: serve on the embedded PostgreSQL, migrate, token, openapi."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import jwt
import psycopg
import pytest
from alembic.script import ScriptDirectory
from fastapi.testclient import TestClient

from backend.__main__ import main
from backend.main import create_app
from backend.migrations import alembic_config
from backend.models import metadata
from tests.conftest import SECRET, Env

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def get_json(url: str, token: str | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def test_token_prints_an_hs256_token_for_the_given_user(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BETTER_AUTH_SECRET", SECRET)

    status = main(["token", "--sub", "u-7", "--email", "u7@example.test", "--ttl", "120"])

    token = capsys.readouterr().out.strip()
    claims = jwt.decode(token, SECRET, algorithms=["HS256"])
    assert status == 0
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    assert (claims["sub"], claims["email"], claims["exp"] - claims["iat"]) == (
        "u-7",
        "u7@example.test",
        120,
    )


def test_a_token_minted_with_jwt_issuer_and_audience_set_is_accepted_by_the_app(
    env: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    env(JWT_ISSUER="https://issuer.example.test", JWT_AUDIENCE="task-api")

    status = main(["token", "--sub", "u-9", "--name", "Nine"])

    token = capsys.readouterr().out.strip()
    response = TestClient(create_app()).get("/api/me", headers={"Authorization": f"Bearer {token}"})
    claims = jwt.decode(token, options={"verify_signature": False})
    assert status == 0
    assert (claims["iss"], claims["aud"]) == ("https://issuer.example.test", "task-api")
    assert response.status_code == 200
    assert response.json() == {"user_id": "u-9", "email": None, "name": "Nine"}


def test_a_token_minted_without_jwt_issuer_or_audience_carries_neither(
    env: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    env(BETTER_AUTH_URL="https://auth.example.test")

    main(["token", "--sub", "u-9"])

    claims = jwt.decode(capsys.readouterr().out.strip(), options={"verify_signature": False})
    assert "iss" not in claims
    assert "aud" not in claims


def test_token_refuses_clearly_without_a_secret(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.delenv("BETTER_AUTH_SECRET", raising=False)
    monkeypatch.setattr("backend.__main__.LOCAL_DIR", tmp_path)

    status = main(["token", "--sub", "u-7"])

    output = capsys.readouterr()
    assert status == 2
    assert output.out == ""
    assert "no secret configured: set BETTER_AUTH_SECRET" in output.err


def test_token_rejects_a_ttl_that_is_not_positive(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["token", "--sub", "u", "--ttl", "0"])

    assert exit_info.value.code == 2
    assert "must be a positive number of seconds" in capsys.readouterr().err


def test_openapi_prints_the_published_document_byte_for_byte() -> None:
    """`make openapi` writes specs/openapi.json with this command; test_openapi checks the app."""
    result = subprocess.run(
        [sys.executable, "-m", "backend", "openapi"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout == (ROOT / "specs" / "openapi.json").read_text()


def test_migrate_without_a_url_says_what_to_set(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("DATABASE_URL_UNPOOLED", raising=False)

    status = main(["migrate"])

    assert status == 2
    assert "set DATABASE_URL_UNPOOLED or DATABASE_URL" in capsys.readouterr().err


UNREACHABLE = "postgresql://nobody@127.0.0.1:1/none"


SCHEMA_AT_HEAD = (
    {"alembic_version", *metadata.tables},
    [(ScriptDirectory.from_config(alembic_config("unused")).get_current_head(),)],
)
"""Every table the models declare, at the newest revision the migrations hold."""


def tables_and_revision(url: str) -> tuple[set[str], list[tuple[str]]]:
    with psycopg.connect(url) as connection:
        names = connection.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        ).fetchall()
        revision = (
            connection.execute("SELECT version_num FROM alembic_version").fetchall()
            if ("alembic_version",) in names
            else []
        )
    return {name for (name,) in names}, revision


@pytest.mark.parametrize(
    ("url_option", "unpooled", "pooled"),
    [
        ("empty", None, None),  # --url first
        (None, "empty", UNREACHABLE),  # then DATABASE_URL_UNPOOLED, over DATABASE_URL
        (None, None, "empty"),  # then DATABASE_URL
    ],
)
def test_migrate_builds_the_schema_on_an_empty_database_from_the_first_url_set(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    empty_database: str,
    url_option: str | None,
    unpooled: str | None,
    pooled: str | None,
) -> None:
    def given(value: str | None) -> str | None:
        return empty_database if value == "empty" else value

    for name, value in {"DATABASE_URL_UNPOOLED": unpooled, "DATABASE_URL": pooled}.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, given(value) or "")
    before = tables_and_revision(empty_database)

    status = main(["migrate", *(["--url", empty_database] if url_option else [])])

    assert status == 0
    assert "latest revision" in capsys.readouterr().out
    assert before == (set(), [])
    assert tables_and_revision(empty_database) == SCHEMA_AT_HEAD


def test_serve_without_configuration_runs_on_an_embedded_postgresql(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "BETTER_AUTH_SECRET")}
    command = [sys.executable, "-m", "backend", "serve", "--port", str(port)]
    with subprocess.Popen(
        [*command, "--state-dir", str(tmp_path)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as server:
        try:
            health = wait_for(f"http://127.0.0.1:{port}/api/health/db", server)
            output = read_available(server)
            token = re.search(r"^(eyJ[\w-]+\.[\w-]+\.[\w-]+)$", output, re.MULTILINE)
            assert token, output
            me = get_json(f"http://127.0.0.1:{port}/api/me", token.group(1))

            server.send_signal(signal.SIGINT)
            code = server.wait(timeout=30)
        finally:
            if server.poll() is None:
                server.kill()

    assert health == (200, {"status": "ok"})
    assert me == (200, {"user_id": "dev-user", "email": None, "name": None})
    assert code == 0
    assert (tmp_path / "postgres" / "PG_VERSION").exists(), "data kept between runs"
    assert not (tmp_path / "postgres" / "postmaster.pid").exists(), "PostgreSQL stopped"
    assert (tmp_path / "secret").stat().st_mode & 0o077 == 0


def wait_for(url: str, server: "subprocess.Popen[str]", seconds: float = 90) -> tuple[int, Any]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"serve exited early:\n{server.stdout.read() if server.stdout else ''}")
        try:
            return get_json(url)
        except OSError:
            time.sleep(0.25)
    pytest.fail(f"serve did not answer {url} within {seconds} s")


def read_available(server: "subprocess.Popen[str]") -> str:
    """What serve printed before it started answering (its banner and token)."""
    assert server.stdout is not None
    os.set_blocking(server.stdout.fileno(), False)
    text = server.stdout.read() or ""
    os.set_blocking(server.stdout.fileno(), True)
    return text
