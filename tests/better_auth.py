"""Real Better Auth tokens for tests: runs tests/interop/better_auth/server.mjs.

The Node harness runs the real `better-auth` library (jwt plugin, memory
adapter) on 127.0.0.1 and signs up users the way a frontend does. Use the
session-scoped `better_auth` fixture (import it into a conftest.py):

    def test_x(better_auth: BetterAuthServer) -> None:
        token = better_auth.users[0].token  # EdDSA, iss/aud = better_auth.issuer

Without node, npm or `npm ci` in tests/interop/better_auth the fixture skips,
except under CI=true, where it fails. Tokens expire 15 minutes after startup
(Better Auth's default). `rotate()` adds a signing key to the shared server:
the JWKS then lists more than one key for the rest of the session.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, NoReturn

import pytest

HARNESS_DIR = Path(__file__).parent / "interop" / "better_auth"
STARTUP_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 5.0

# urllib would honour *_proxy variables; the harness is only ever on 127.0.0.1.
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass(frozen=True)
class BetterAuthUser:
    id: str
    email: str
    name: str
    token: str  # EdDSA JWT from GET /api/auth/token


@dataclass(frozen=True)
class BetterAuthRS256:
    """A second Better Auth deployment (own origin/port) configured for RS256."""

    base_url: str
    issuer: str
    audience: str
    jwks_url: str
    user_id: str
    email: str
    name: str
    token: str  # RS256 JWT from GET /api/auth/token


@dataclass(frozen=True)
class BetterAuthServer:
    base_url: str
    issuer: str  # the origin of base_url, as Better Auth sets `iss`
    audience: str  # the same origin, as Better Auth sets `aud`
    jwks_url: str
    rotate_url: str
    users: tuple[BetterAuthUser, ...]  # user A, user B
    expired_token: str  # user A, same key/iss/aud, exp 5 minutes in the past
    rs256: BetterAuthRS256

    def rotate(self) -> str:
        """Make Better Auth mint a new signing key; return a new token for user A.

        The new token has a new `kid`; earlier keys stay in the JWKS.
        """
        request = urllib.request.Request(self.rotate_url, data=b"", method="POST")
        with _opener.open(request, timeout=10) as response:
            body: dict[str, Any] = json.load(response)
        token: str = body["token"]
        return token

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BetterAuthServer:
        return cls(
            base_url=data["base_url"],
            issuer=data["issuer"],
            audience=data["audience"],
            jwks_url=data["jwks_url"],
            rotate_url=data["rotate_url"],
            users=tuple(BetterAuthUser(**user) for user in data["users"]),
            expired_token=data["expired_token"],
            rs256=BetterAuthRS256(**data["rs256"]),
        )


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("CI") == "true":
        pytest.fail(f"Better Auth harness required under CI=true: {reason}")
    pytest.skip(reason)


def _read_line(stream: IO[str], timeout: float) -> str | None:
    """First line of `stream`, or None on timeout ("" if the stream closed)."""
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: lines.put(stream.readline()), daemon=True).start()
    try:
        return lines.get(timeout=timeout)
    except queue.Empty:
        return None


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.stdin is not None:
        proc.stdin.close()
    try:
        proc.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


@pytest.fixture(scope="session")
def better_auth() -> Iterator[BetterAuthServer]:
    node = shutil.which("node")
    if node is None or shutil.which("npm") is None:
        _unavailable("node and npm are needed for the Better Auth interop harness")
    if not (HARNESS_DIR / "node_modules").is_dir():
        _unavailable(f"run `npm ci` in {HARNESS_DIR} for the Better Auth interop harness")

    with tempfile.TemporaryFile(mode="w+") as stderr:
        proc = subprocess.Popen(
            [node, "server.mjs"],
            cwd=HARNESS_DIR,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
        try:
            assert proc.stdout is not None
            line = _read_line(proc.stdout, STARTUP_TIMEOUT_S)
            if not line:
                proc.kill()
                proc.wait()
                stderr.seek(0)
                what = "timed out" if line is None else f"exited {proc.returncode}"
                pytest.fail(f"Better Auth harness {what} before ready:\n{stderr.read()}")
            yield BetterAuthServer.from_json(json.loads(line))
        finally:
            _stop(proc)
