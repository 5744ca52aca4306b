"""Fetching the key set: bounded in size and time whatever the server does, one fetch at a time.

No test here measures time: the server holds its answer until the test releases it, and the
deadline runs on the fake clock (`clock`), which the server moves forward mid-body.
"""

import json
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
from fastapi.testclient import TestClient

from backend import keyset
from backend.errors import AuthUnavailable
from backend.main import create_app
from tests.conftest import Clock, Env
from tests.keys import Key, KeySetServer, key_set, new_key, serve_key_set


def claims() -> dict[str, Any]:
    now = int(time.time())
    return {"sub": "ba-user", "iat": now, "exp": now + 900}


def get_me(client: TestClient, token: str) -> Any:
    return client.get("/api/me", headers={"Authorization": f"Bearer {token}"})


@pytest.fixture
def ed_key() -> Key:
    return new_key("EdDSA", "ed-current")


@pytest.fixture
def jwks_server(ed_key: Key) -> Iterator[KeySetServer]:
    with serve_key_set(key_set(ed_key)) as server:
        yield server


@pytest.fixture
def client(env: Env, jwks_server: KeySetServer) -> TestClient:
    env(JWKS_URL=jwks_server.url)
    return TestClient(create_app())


def test_the_key_set_is_asked_for_as_json(
    client: TestClient, jwks_server: KeySetServer, ed_key: Key
) -> None:
    response = get_me(client, ed_key.sign(claims()))

    assert response.status_code == 200
    assert jwks_server.accept == ["application/json"]


def padded(document: str, size: int) -> str:
    """The same key set, `size` bytes long: JSON allows trailing whitespace."""
    assert len(document) <= size
    return document + " " * (size - len(document))


@pytest.mark.parametrize(("size", "status"), [(256 * 1024, 200), (256 * 1024 + 1, 503)])
def test_a_key_set_over_256_kib_is_refused_as_unavailable(
    client: TestClient, jwks_server: KeySetServer, ed_key: Key, size: int, status: int
) -> None:
    jwks_server.document = padded(jwks_server.document, size)

    response = get_me(client, ed_key.sign(claims()))

    assert response.status_code == status
    assert jwks_server.requests == 1


@pytest.mark.parametrize(("taken", "status"), [(3.0, 200), (3.001, 503)])
def test_a_key_set_that_drips_past_3_seconds_is_cut_off(
    client: TestClient,
    jwks_server: KeySetServer,
    ed_key: Key,
    clock: Clock,
    taken: float,
    status: int,
) -> None:
    def slow_second_half() -> None:
        clock.now += taken  # each read arrives in time; the whole does not

    jwks_server.midway = slow_second_half

    response = get_me(client, ed_key.sign(claims()))

    assert response.status_code == status
    assert jwks_server.requests == 1


def test_a_key_set_server_that_never_answers_is_503_before_it_does(
    client: TestClient,
    jwks_server: KeySetServer,
    ed_key: Key,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(keyset, "FETCH_TIMEOUT_SECONDS", 0.2)
    jwks_server.hold = True  # until the test ends (at most 10 s): a valid key set, then

    response = get_me(client, ed_key.sign(claims()))

    assert response.status_code == 503
    assert response.json()["code"] == "AUTH_UNAVAILABLE"
    assert (jwks_server.requests, jwks_server.answered) == (1, 0)


@pytest.mark.parametrize(("use", "status"), [("sig", 200), (None, 200), ("enc", 401)])
def test_only_a_key_meant_for_signatures_verifies(
    env: Env, ed_key: Key, use: str | None, status: int
) -> None:
    jwk = ed_key.public_jwk | ({} if use is None else {"use": use})
    env(JWKS=json.dumps({"keys": [jwk]}))

    response = get_me(TestClient(create_app()), ed_key.sign(claims()))

    assert response.status_code == status
    if status == 401:
        assert response.json()["detail"] == "Token is not signed by a known key"


@pytest.mark.parametrize("document", ["[]", "{}", '{"keys": ["junk", {"kty": "OKP"}]}'])
def test_a_key_set_without_usable_keys_refuses_the_token_and_breaks_nothing(
    client: TestClient, jwks_server: KeySetServer, ed_key: Key, document: str
) -> None:
    jwks_server.document = document

    response = get_me(client, ed_key.sign(claims()))

    assert response.status_code == 401
    assert response.json()["detail"] == "Token is not signed by a known key"


def test_a_symmetric_key_in_a_fetched_key_set_is_not_a_known_kid(
    client: TestClient, jwks_server: KeySetServer, ed_key: Key, clock: Clock
) -> None:
    """So a token naming it asks the key set again (after the cooldown) rather than using it."""
    symmetric = {"kty": "oct", "kid": "sym", "alg": "HS256", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQ"}
    jwks_server.document = json.dumps({"keys": [symmetric, ed_key.public_jwk]})
    assert get_me(client, ed_key.sign(claims())).status_code == 200
    clock.now += 10

    response = get_me(client, new_key("EdDSA", "sym").sign(claims()))

    assert response.status_code == 401
    assert jwks_server.requests == 2


class CountingLock:
    """The key set's lock, counting the threads that have come to it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.arrived = 0
        self.count_lock = threading.Lock()

    def __enter__(self) -> None:
        with self.count_lock:
            self.arrived += 1
        self.lock.acquire()

    def __exit__(self, *_: object) -> None:
        self.lock.release()


def test_concurrent_first_requests_wait_for_one_fetch_and_all_get_the_key(
    jwks_server: KeySetServer, ed_key: Key, clock: Clock
) -> None:
    callers = 8
    key_set_ = keyset.KeySet(jwks_server.url)
    lock = CountingLock()
    key_set_.lock = lock  # type: ignore[assignment]
    jwks_server.ready = lambda: lock.arrived == callers  # answer once every caller waits
    results: list[object] = []

    def caller() -> None:
        try:
            results.append(key_set_.key(ed_key.kid))
        except AuthUnavailable as error:
            results.append(error)

    threads = [threading.Thread(target=caller) for _ in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert jwks_server.requests == 1
    assert len(results) == callers
    assert all(getattr(result, "key_id", None) == ed_key.kid for result in results), results


@pytest.fixture
def served_api(env: Env, jwks_server: KeySetServer) -> Iterator[str]:
    """The app under uvicorn (one event loop, as in production) on a free port."""
    env(JWKS_URL=jwks_server.url)
    listener = socket.create_server(("127.0.0.1", 0))
    config = uvicorn.Config(create_app(), lifespan="off", log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    jwks_server.release.set()
    server.should_exit = True
    thread.join(timeout=10)
    listener.close()


def status_of(url: str, token: str | None = None, timeout: float = 30) -> int:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout) as r:
        status: int = r.status
        return status


def test_a_request_waiting_for_the_key_set_does_not_stall_the_others(
    served_api: str, jwks_server: KeySetServer, ed_key: Key, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(keyset, "FETCH_TIMEOUT_SECONDS", 30.0)  # the hold outlasts the check
    jwks_server.hold = True
    waiting: list[int] = []
    first = threading.Thread(
        target=lambda: waiting.append(status_of(f"{served_api}/api/me", ed_key.sign(claims())))
    )
    first.start()
    deadline = time.monotonic() + 10
    while jwks_server.requests == 0 and time.monotonic() < deadline:
        time.sleep(0.01)

    health = status_of(f"{served_api}/api/health", timeout=5)  # while the fetch is held
    answered_meanwhile = jwks_server.answered
    jwks_server.release.set()
    first.join(timeout=30)

    assert (health, answered_meanwhile) == (200, 0)
    assert waiting == [200]
