"""Real Better Auth tokens drive the API: the npm library signs, the API verifies.

The `better_auth` fixture (tests/better_auth.py) runs the real `better-auth` library
in Node; it skips without Node or `npm ci`, except under CI=true, where it fails.
"""

import urllib.request
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient

from backend import keyset
from backend.main import create_app
from tests import better_auth as harness
from tests.better_auth import BetterAuthServer, BetterAuthUser
from tests.conftest import Clock, Env

better_auth = harness.better_auth  # the session fixture, under its name, for this module's tests

Headers = dict[str, str]

NOT_A_KNOWN_KEY = {"detail": "Token is not signed by a known key", "code": "TOKEN_INVALID"}


def bearer(token: str) -> Headers:
    return {"Authorization": f"Bearer {token}"}


def algorithm_of(token: str) -> str:
    algorithm: str = jwt.get_unverified_header(token)["alg"]
    return algorithm


def kid_of(token: str) -> str:
    kid: str = jwt.get_unverified_header(token)["kid"]
    return kid


def me_of(user: BetterAuthUser) -> dict[str, str]:
    """What /api/me must answer: the user exactly as Better Auth records them."""
    return {"user_id": user.id, "email": user.email, "name": user.name}


def create(client: TestClient, user: BetterAuthUser, title: str) -> dict[str, Any]:
    response = client.post("/api/tasks", json={"title": title}, headers=bearer(user.token))
    assert response.status_code == 201, response.text
    task: dict[str, Any] = response.json()
    return task


def listed(client: TestClient, user: BetterAuthUser) -> list[dict[str, Any]]:
    response = client.get("/api/tasks", params={"limit": 100}, headers=bearer(user.token))
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()
    return items


@pytest.fixture
def jwks_fetches(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The URL of every key set fetch the API makes, in order."""
    fetched: list[str] = []
    real_urlopen = urllib.request.urlopen

    def recording_urlopen(request: urllib.request.Request, *args: Any, **kwargs: Any) -> Any:
        fetched.append(request.full_url)
        return real_urlopen(request, *args, **kwargs)

    monkeypatch.setattr(urllib.request, "urlopen", recording_urlopen)
    return fetched


def deployment_of(env: Env, base_url: str) -> TestClient:
    """The API configured as a Better Auth deployment: its URL, and no shared secret."""
    env(BETTER_AUTH_URL=base_url, BETTER_AUTH_SECRET=None)
    return TestClient(create_app())


@pytest.fixture
def deployment(env: Env, better_auth: BetterAuthServer) -> TestClient:
    """The API in front of the EdDSA (default) Better Auth instance."""
    return deployment_of(env, better_auth.base_url)


@pytest.fixture
def alice(better_auth: BetterAuthServer) -> BetterAuthUser:
    return better_auth.users[0]


@pytest.fixture
def bob(better_auth: BetterAuthServer) -> BetterAuthUser:
    return better_auth.users[1]


@pytest.mark.parametrize("index", [0, 1], ids=["alice", "bob"])
def test_me_shows_the_better_auth_user_id_email_and_name(
    deployment: TestClient, better_auth: BetterAuthServer, index: int
) -> None:
    user = better_auth.users[index]

    response = deployment.get("/api/me", headers=bearer(user.token))

    assert algorithm_of(user.token) == "EdDSA"
    assert response.status_code == 200
    assert response.json() == me_of(user)


def test_each_better_auth_user_lists_only_their_own_tasks(
    deployment: TestClient, alice: BetterAuthUser, bob: BetterAuthUser
) -> None:
    alices = {create(deployment, alice, title)["id"] for title in ("Alice one", "Alice two")}
    bobs = {create(deployment, bob, "Bob one")["id"]}

    listed_to_alice = listed(deployment, alice)
    listed_to_bob = listed(deployment, bob)

    assert {task["user_id"] for task in listed_to_alice} == {alice.id}
    assert {task["user_id"] for task in listed_to_bob} == {bob.id}
    assert alices <= {task["id"] for task in listed_to_alice}
    assert bobs <= {task["id"] for task in listed_to_bob}


@pytest.mark.parametrize(
    ("method", "body"),
    [("GET", None), ("PATCH", {"title": "stolen"}), ("DELETE", None)],
    ids=["read", "patch", "delete"],
)
def test_another_better_auth_users_task_is_404(
    deployment: TestClient,
    alice: BetterAuthUser,
    bob: BetterAuthUser,
    method: str,
    body: dict[str, Any] | None,
) -> None:
    task = create(deployment, alice, "Alice's private task")

    response = deployment.request(
        method, f"/api/tasks/{task['id']}", json=body, headers=bearer(bob.token)
    )

    assert response.status_code == 404
    assert response.json() == {"detail": "Task not found", "code": "NOT_FOUND"}
    unchanged = deployment.get(f"/api/tasks/{task['id']}", headers=bearer(alice.token))
    assert unchanged.json() == task


def test_another_better_auth_users_id_in_the_path_is_403(
    deployment: TestClient, alice: BetterAuthUser, bob: BetterAuthUser
) -> None:
    response = deployment.get(f"/api/{alice.id}/tasks", headers=bearer(bob.token))

    assert response.status_code == 403
    assert response.json() == {
        "detail": "The user id in the path is not the caller's",
        "code": "FORBIDDEN",
    }


def test_the_callers_own_better_auth_id_in_the_path_lists_their_tasks(
    deployment: TestClient, bob: BetterAuthUser
) -> None:
    task = create(deployment, bob, "Bob's task by path")

    response = deployment.get(f"/api/{bob.id}/tasks", headers=bearer(bob.token))

    assert response.status_code == 200
    assert task in response.json()


def test_an_rs256_better_auth_token_is_accepted(env: Env, better_auth: BetterAuthServer) -> None:
    rs256 = better_auth.rs256
    client = deployment_of(env, rs256.base_url)

    response = client.get("/api/me", headers=bearer(rs256.token))

    assert algorithm_of(rs256.token) == "RS256"
    assert response.status_code == 200
    assert response.json() == {"user_id": rs256.user_id, "email": rs256.email, "name": rs256.name}


@pytest.mark.parametrize(
    "token_from", ["eddsa-token-at-rs256-deployment", "rs256-token-at-eddsa-deployment"]
)
def test_a_token_from_another_better_auth_deployment_is_token_invalid(
    env: Env, better_auth: BetterAuthServer, token_from: str
) -> None:
    if token_from.startswith("eddsa"):
        base_url, token = better_auth.rs256.base_url, better_auth.users[0].token
    else:
        base_url, token = better_auth.base_url, better_auth.rs256.token
    client = deployment_of(env, base_url)

    response = client.get("/api/me", headers=bearer(token))

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json() == NOT_A_KNOWN_KEY


def test_an_expired_better_auth_token_is_token_expired(
    deployment: TestClient, better_auth: BetterAuthServer
) -> None:
    response = deployment.get("/api/me", headers=bearer(better_auth.expired_token))

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json() == {"detail": "Token has expired", "code": "TOKEN_EXPIRED"}


def test_after_better_auth_rotates_its_key_the_new_and_the_old_token_are_accepted(
    deployment: TestClient,
    better_auth: BetterAuthServer,
    alice: BetterAuthUser,
    clock: Clock,
    jwks_fetches: list[str],
) -> None:
    old_token = alice.token
    before = deployment.get("/api/me", headers=bearer(old_token))  # caches today's key set
    new_token = better_auth.rotate()
    clock.now += keyset.REFETCH_COOLDOWN_SECONDS

    new = deployment.get("/api/me", headers=bearer(new_token))
    old = deployment.get("/api/me", headers=bearer(old_token))

    assert before.status_code == 200
    assert kid_of(new_token) != kid_of(old_token)
    assert (new.status_code, old.status_code) == (200, 200)
    assert new.json() == old.json() == me_of(alice)
    assert jwks_fetches == [better_auth.jwks_url, better_auth.jwks_url]


@pytest.mark.parametrize("algorithm", ["EdDSA", "RS256"])
def test_with_only_better_auth_secret_a_better_auth_token_is_token_invalid(
    env: Env, better_auth: BetterAuthServer, algorithm: str
) -> None:
    token = better_auth.users[0].token if algorithm == "EdDSA" else better_auth.rs256.token
    env(BETTER_AUTH_URL=None, JWKS_URL=None, JWKS=None)  # BETTER_AUTH_SECRET stays set
    client = TestClient(create_app())

    response = client.get("/api/me", headers=bearer(token))

    assert algorithm_of(token) == algorithm
    assert response.status_code == 401
    assert response.json() == NOT_A_KNOWN_KEY
