"""CORS: the listed origins only, over HTTP and in a real headless Chromium.

The browser tests start the API under uvicorn on one port and serve a page from another
(`tests/browser/cors.html`), so the page's origin differs from the API's as a deployed
frontend's does. The page calls the API with a bearer token and reports what its JavaScript
saw back to the page server.
"""

import contextlib
import json
import os
import queue
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi.testclient import TestClient
from httpx2 import Response

from backend.main import create_app
from tests.conftest import Env, TokenFactory

Headers = dict[str, str]
Report = dict[str, Any]

ALLOWED_ORIGIN = "http://127.0.0.1:5173"
REQUEST_HEADERS = [
    "Authorization",
    "Content-Type",
    "If-Match",
    "If-None-Match",
    "Idempotency-Key",
    "X-Request-ID",
]
EXPOSED_HEADERS = ["ETag", "Location", "Link", "Retry-After", "X-Request-ID"]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
PAGES = Path(__file__).parent / "browser"
BROWSER_TIMEOUT = 30.0
FETCH_TIMEOUT_MS = 10_000
STARTUP_TIMEOUT = 10.0


def header_list(value: str | None) -> set[str]:
    """A comma-separated header list, lowercased: names are case-insensitive."""
    return {item.strip().lower() for item in (value or "").split(",") if item.strip()}


@pytest.fixture
def cors_client(env: Env) -> TestClient:
    env(CORS_ORIGINS=ALLOWED_ORIGIN)
    return TestClient(create_app())


def preflight(
    client: TestClient, origin: str, method: str = "POST", headers: str = "authorization"
) -> Response:
    return client.options(
        "/api/tasks",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": headers,
        },
    )


# Over HTTP: what the API answers, whatever a browser then does with it.


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE"])
def test_a_preflight_from_a_listed_origin_admits_every_method_and_header_a_frontend_sends(
    cors_client: TestClient, method: str
) -> None:
    requested = ", ".join(name.lower() for name in REQUEST_HEADERS)

    response = preflight(cors_client, ALLOWED_ORIGIN, method, requested)

    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert method.lower() in header_list(response.headers["access-control-allow-methods"])
    allowed = header_list(response.headers["access-control-allow-headers"])
    assert {name.lower() for name in REQUEST_HEADERS} <= allowed
    assert response.headers["access-control-max-age"] == "600"  # one preflight per 10 minutes


def test_a_response_to_a_listed_origin_exposes_etag_location_retry_after_and_request_id(
    cors_client: TestClient, auth_headers: Headers
) -> None:
    response = cors_client.post(
        "/api/tasks",
        json={"title": "Cross-origin"},
        headers={**auth_headers, "Origin": ALLOWED_ORIGIN},
    )

    assert response.status_code == 201
    assert response.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    exposed = header_list(response.headers.get("access-control-expose-headers"))
    assert {name.lower() for name in EXPOSED_HEADERS} <= exposed
    assert "origin" in header_list(response.headers.get("vary"))


def test_an_error_response_to_a_listed_origin_is_readable_too(cors_client: TestClient) -> None:
    response = cors_client.get("/api/tasks", headers={"Origin": ALLOWED_ORIGIN})

    assert response.status_code == 401
    assert response.headers["access-control-allow-origin"] == ALLOWED_ORIGIN


@pytest.mark.parametrize(
    "origin",
    [
        "http://127.0.0.1:5174",  # another port
        "http://localhost:5173",  # another host name for the same address
        "https://127.0.0.1:5173",  # another scheme
        "null",  # a sandboxed frame or a file: page
    ],
)
def test_a_preflight_from_an_unlisted_origin_is_403_in_the_error_shape(
    cors_client: TestClient, origin: str
) -> None:
    response = preflight(cors_client, origin)

    body = response.json()
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/json"
    assert body == {"detail": body["detail"], "code": "FORBIDDEN"}
    assert isinstance(body["detail"], str)
    assert body["detail"]
    assert "access-control-allow-origin" not in response.headers


def test_a_preflight_asking_for_an_unlisted_header_is_403(cors_client: TestClient) -> None:
    response = preflight(cors_client, ALLOWED_ORIGIN, "POST", "authorization, x-evil")

    body = response.json()
    assert response.status_code == 403
    assert body == {"detail": body["detail"], "code": "FORBIDDEN"}
    assert "x-evil" not in header_list(response.headers.get("access-control-allow-headers"))


def test_a_response_to_an_unlisted_origin_carries_no_cors_headers(
    cors_client: TestClient,
) -> None:
    response = cors_client.get("/api/health", headers={"Origin": "http://127.0.0.1:5174"})

    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers


# In a real browser: Chromium enforces what the API answers.


class PageServer(ThreadingHTTPServer):
    """Serves one page at `/` and queues whatever the page POSTs to `/report`."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), PageHandler)
        self.page = b""
        self.reports: queue.Queue[Report] = queue.Queue()

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.server_port}"

    def serve(self, config: dict[str, Any], page: str = "cors.html") -> None:
        """Bake the config (API address, token, ...) into the page's JSON script block."""
        text = json.dumps(config).replace("</", "<\\/")
        self.page = (PAGES / page).read_text().replace("__CONFIG__", text).encode()


class PageHandler(BaseHTTPRequestHandler):
    def page_server(self) -> PageServer:
        assert isinstance(self.server, PageServer)
        return self.server

    def do_GET(self) -> None:
        if self.path != "/":
            self.answer(404)
            return
        self.answer(200, self.page_server().page, "text/html; charset=utf-8")

    def do_POST(self) -> None:
        if self.path != "/report":
            self.answer(404)
            return
        length = int(self.headers.get("Content-Length", "0"))
        report = json.loads(self.rfile.read(length))
        self.answer(204)
        self.page_server().reports.put(report)

    def answer(self, status: int, body: bytes = b"", content_type: str = "text/plain") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: pytest shows the report on failure."""


@pytest.fixture
def chromium() -> Path:
    """Debian's chromium; CI installs it, so there a missing browser fails the run."""
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing: apt-get install -y chromium"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return CHROMIUM


@contextlib.contextmanager
def serving_page() -> Iterator[PageServer]:
    server = PageServer()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1})
    thread.daemon = True
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def allowed_page() -> Iterator[PageServer]:
    with serving_page() as server:
        yield server


@pytest.fixture
def refused_page() -> Iterator[PageServer]:
    with serving_page() as server:
        yield server


@pytest.fixture
def api(env: Env, allowed_page: PageServer) -> Iterator[str]:
    """The app under uvicorn on a free port, allowing only the allowed page's origin."""
    env(CORS_ORIGINS=allowed_page.origin)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    config = uvicorn.Config(
        create_app(), lifespan="off", log_level="warning", timeout_graceful_shutdown=5
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"

    yield f"http://127.0.0.1:{port}"

    server.should_exit = True
    thread.join(timeout=10)
    listener.close()
    assert not thread.is_alive(), "uvicorn did not stop"


def stop(browser: "subprocess.Popen[bytes]") -> None:
    """End the browser and every process it started: its own session, by its id."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(browser.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        browser.wait(timeout=5)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(browser.pid, signal.SIGKILL)  # whatever of the group is left
    browser.wait(timeout=5)


def open_in_chromium(chromium: Path, page: PageServer, profile: Path) -> Report:
    """Load the page in headless Chromium and return what it reported, within the timeout."""
    log = profile.with_suffix(".log")
    # Its own TMPDIR for the singleton socket and shared memory files, short enough for a
    # socket path (108 bytes) and removed afterwards, since a killed browser leaves them.
    with (
        tempfile.TemporaryDirectory(prefix="cors-", ignore_cleanup_errors=True) as scratch,
        log.open("wb") as output,
    ):
        browser = subprocess.Popen(
            [str(chromium), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", page.origin + "/"],
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, "TMPDIR": scratch},
        )
        try:
            deadline = time.monotonic() + BROWSER_TIMEOUT
            while time.monotonic() < deadline:
                try:
                    return page.reports.get(timeout=0.2)
                except queue.Empty:
                    if browser.poll() is not None:
                        break
        finally:
            stop(browser)
    tail = log.read_text(errors="replace")[-3000:]
    pytest.fail(f"the page reported nothing (chromium exit {browser.returncode}):\n{tail}")


def page_config(api: str, token: str, fallback_path: str | None = None) -> dict[str, Any]:
    return {
        "api": api,
        "token": token,
        "fallbackPath": fallback_path,
        "requestId": f"cors-probe-{uuid.uuid4().hex[:12]}",
        "idempotencyKey": str(uuid.uuid4()),
        "fetchTimeoutMs": FETCH_TIMEOUT_MS,
    }


def test_a_page_on_a_listed_origin_creates_reads_and_changes_a_task_and_reads_the_exposed_headers(
    chromium: Path,
    api: str,
    allowed_page: PageServer,
    make_token: TokenFactory,
    user_id: str,
    tmp_path: Path,
) -> None:
    config = page_config(api, make_token(user_id))
    allowed_page.serve(config)

    report = open_in_chromium(chromium, allowed_page, tmp_path / "profile")

    assert report.get("fatal") is None, report
    assert report["origin"] == allowed_page.origin
    created, read, changed = report["calls"]
    assert created["ok"], created
    assert created["status"] == 201, created
    location = created["headers"]["location"]
    assert location == f"/api/tasks/{created['body']['id']}"
    assert created["headers"]["etag"] == '"1"'
    assert created["headers"]["x-request-id"]
    assert created["headers"]["server"] is None, "a header the API does not expose is hidden"
    assert read["ok"], read
    assert read["status"] == 200, read
    assert read["body"]["title"] == "Written in a browser"
    assert read["body"]["user_id"] == user_id
    assert read["headers"]["etag"] == '"1"'
    assert read["headers"]["x-request-id"] == config["requestId"]
    assert changed["ok"], changed
    assert changed["status"] == 200, changed
    assert changed["body"]["title"] == "Changed in a browser"
    assert changed["headers"]["etag"] == '"2"'


def test_a_page_on_an_unlisted_origin_is_blocked_and_changes_nothing(
    chromium: Path,
    api: str,
    refused_page: PageServer,
    client: TestClient,
    auth_headers: Headers,
    make_token: TokenFactory,
    user_id: str,
    tmp_path: Path,
) -> None:
    seeded = client.post("/api/tasks", json={"title": "Seeded"}, headers=auth_headers).json()
    refused_page.serve(page_config(api, make_token(user_id), f"/api/tasks/{seeded['id']}"))

    report = open_in_chromium(chromium, refused_page, tmp_path / "profile")

    assert report.get("fatal") is None, report
    assert report["origin"] == refused_page.origin
    assert [call["name"] for call in report["calls"]] == ["POST", "GET", "PATCH"]
    for call in report["calls"]:
        assert not call["ok"], call
        assert call["error"] == "TypeError", call
    tasks = client.get("/api/tasks", headers=auth_headers).json()
    assert [(t["id"], t["title"], t["version"]) for t in tasks] == [(seeded["id"], "Seeded", 1)]


def test_a_frontend_written_for_the_hackathon_spec_works_unmodified(
    chromium: Path,
    api: str,
    allowed_page: PageServer,
    make_token: TokenFactory,
    user_id: str,
    tmp_path: Path,
) -> None:
    allowed_page.serve(page_config(api, make_token(user_id)), "frontend.html")

    report = open_in_chromium(chromium, allowed_page, tmp_path / "profile")

    assert report.get("fatal") is None, report
    steps = report["steps"]
    assert (steps["empty"]["count"], steps["empty"]["pending"]) == (0, 0)
    task_id = steps["created"]["id"]
    assert steps["toggled"]["completed"] is True
    edited = steps["edited"]
    assert (edited["title"], edited["description"]) == ("Buy oat milk", "1 litre")
    assert edited["completed"] is True, "a partial PUT keeps the task completed"
    assert steps["afterEdit"]["tasks"] == [edited], "and so does the list after a reload"
    assert steps["deleted"]["id"] == task_id
    assert steps["deleted"]["deleted_at"] is not None
    assert steps["afterDelete"]["count"] == 0
    assert steps["restored"]["deleted_at"] is None
    assert [t["id"] for t in steps["afterRestore"]["tasks"]] == [task_id]
    assert steps["shownError"] == "title: String should have at least 1 character"
    assert steps["listed"] == "Buy oat milk"
