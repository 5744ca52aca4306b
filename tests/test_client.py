"""The TypeScript client (clients/typescript) against the real API, in Node and in Chromium.

Two API processes (`python -m backend serve`) run on this run's database: one as
configured by default, one with `RATE_LIMIT_PER_MINUTE=5` for the 429. `node --test` then
runs the client's own tests with their URLs and the signing secret: every operation
through the client, the retry rules, the check that `src/schema.ts` is what
`specs/openapi.json` generates, and the type-level tests. A page in headless Chromium
imports the built ES module and drives the API with it.

The client must be installed and built first (`make test` does: `npm ci` and `npm run
build` in clients/typescript); without Node or the build these tests skip, except under
CI=true, where they fail.
"""

import contextlib
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import NoReturn

import pytest

from backend import config
from tests.conftest import SECRET, TokenFactory
from tests.test_cors import PageHandler, PageServer, chromium, open_in_chromium

__all__ = ["chromium"]  # the fixture, imported for this module's browser test

ROOT = Path(__file__).resolve().parent.parent
CLIENT = ROOT / "clients" / "typescript"
STATIC = {
    "/client/": CLIENT / "dist",
    "/openapi-fetch/": CLIENT / "node_modules" / "openapi-fetch" / "dist",
}
LIMITED_PER_MINUTE = 5
STARTUP_TIMEOUT = 60.0
NODE_TIMEOUT = 240.0

# urllib would honour *_proxy variables; the API is only ever on 127.0.0.1.
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def unavailable(reason: str) -> NoReturn:
    if os.environ.get("CI") == "true":
        pytest.fail(f"the TypeScript client is required under CI=true: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def node() -> str:
    found = shutil.which("node")
    if found is None:
        unavailable("node is needed for the TypeScript client's tests")
    if not (CLIENT / "dist" / "index.js").is_file():
        unavailable(f"build the client first: cd {CLIENT} && npm ci && npm run build")
    return found


class ClientPageHandler(PageHandler):
    """The page at `/`, and the built client and openapi-fetch as ES modules."""

    def do_GET(self) -> None:  # noqa: N802 (BaseHTTPRequestHandler's name)
        for prefix, folder in STATIC.items():
            if self.path.startswith(prefix):
                self.static(folder, self.path.removeprefix(prefix))
                return
        super().do_GET()

    def static(self, folder: Path, name: str) -> None:
        file = (folder / name).resolve()
        if not file.is_relative_to(folder.resolve()) or not file.is_file():
            self.answer(404)
            return
        kind = "text/javascript" if file.suffix in {".js", ".mjs"} else "application/json"
        self.answer(200, file.read_bytes(), kind)


class ClientPageServer(PageServer):
    def __init__(self) -> None:
        ThreadingHTTPServer.__init__(self, ("127.0.0.1", 0), ClientPageHandler)
        self.page = b""
        self.reports = queue.Queue()


@pytest.fixture(scope="module")
def page() -> Iterator[ClientPageServer]:
    server = ClientPageServer()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1})
    thread.daemon = True
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def healthy(url: str) -> bool:
    try:
        with _opener.open(f"{url}/api/health", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@contextlib.contextmanager
def serving(database_url: str, state: Path, **settings: str) -> Iterator[str]:
    """`python -m backend serve` on a free port with these settings, stopped at the end."""
    env = {k: v for k, v in os.environ.items() if k.lower() not in config.Settings.model_fields}
    env.update(DATABASE_URL=database_url, BETTER_AUTH_SECRET=SECRET, **settings)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    state.mkdir(parents=True)
    log = state / "serve.log"
    with log.open("wb") as output:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "backend",
                "serve",
                "--port",
                str(port),
                "--state-dir",
                str(state),
            ],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not healthy(url):
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the API did not start:\n{log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.2)
        yield url
    finally:
        stop(server)


def stop(server: "subprocess.Popen[bytes]") -> None:
    """Interrupt serve (as Ctrl-C does), then kill its session if it lingers."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGINT)
    try:
        server.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=5)


@pytest.fixture(scope="module")
def apis(
    node: str, database_url: str, page: ClientPageServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    """The default API (allowing the page's origin) and one limited to 5 requests a minute."""
    state = tmp_path_factory.mktemp("client-api")
    with (
        serving(database_url, state / "default", CORS_ORIGINS=page.origin) as api,
        serving(
            database_url, state / "limited", RATE_LIMIT_PER_MINUTE=str(LIMITED_PER_MINUTE)
        ) as limited,
    ):
        yield api, limited


def run_node(node: str, args: list[str], env: dict[str, str]) -> "subprocess.CompletedProcess[str]":
    """Run node in a session of its own; on timeout, end it and the test files it started."""
    process = subprocess.Popen(
        [node, *args],
        cwd=CLIENT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=NODE_TIMEOUT)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate(timeout=10)
        pytest.fail(f"node --test did not finish in {NODE_TIMEOUT} s:\n{stdout[-6000:]}")
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def test_the_client_passes_its_node_tests_against_the_api(node: str, apis: tuple[str, str]) -> None:
    api, limited = apis
    env = {
        **os.environ,
        "TASK_API_URL": api,
        "TASK_API_LIMITED_URL": limited,
        "TASK_API_LIMITED_PER_MINUTE": str(LIMITED_PER_MINUTE),
        "TASK_API_SECRET": SECRET,
    }
    tests = sorted(str(path.relative_to(CLIENT)) for path in (CLIENT / "test").glob("*.test.mjs"))

    output = run_node(node, ["--test", "--test-reporter=spec", *tests], env)

    assert output.returncode == 0, f"{output.stdout[-6000:]}\n{output.stderr[-3000:]}"
    assert re.search(r"\bskipped 0\b", output.stdout), "every test ran: none skipped"


def test_a_page_in_chromium_drives_the_api_with_the_built_client(
    chromium: Path,
    apis: tuple[str, str],
    page: ClientPageServer,
    make_token: TokenFactory,
    tmp_path: Path,
) -> None:
    user_id = f"user-{uuid.uuid4().hex[:12]}"
    page.serve({"api": apis[0], "token": make_token(user_id)}, "client.html")

    report = open_in_chromium(chromium, page, tmp_path / "profile")

    assert report.get("fatal") is None, report
    assert report["origin"] == page.origin
    assert report["created"]["user_id"] == user_id
    assert report["created"]["version"] == 1
    assert report["keys"]["distinct"] == report["keys"]["writes"] == 4
    assert report["listed"] == ["Page two", "Page one"]
    assert report["pages"] == 2
    assert report["updated"]["title"] == "Edited in a browser"
    assert report["stale"] == {"name": "ApiError", "status": 412, "code": "PRECONDITION_FAILED"}
    assert report["etag"] == '"2"'
