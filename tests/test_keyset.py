"""Key-set tokens: where the keys come from, when they are fetched, and what a fault answers."""

import base64
import json
import time
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from backend.main import create_app
from tests.conftest import Clock, Env
from tests.keys import Key, KeySetServer, key_set, new_key, serve_key_set


def claims(origin: str | None = None, **extra: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {"sub": "ba-user", "iat": now, "exp": now + 900, **extra}
    return base | ({"iss": origin, "aud": origin} if origin else {})


def base64url(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


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
def better_auth_client(env: Env, jwks_server: KeySetServer) -> TestClient:
    """Configured the way a Better Auth deployment is: its base URL, nothing else."""
    env(BETTER_AUTH_URL=f"{jwks_server.url}/")
    return TestClient(create_app())


def test_with_only_better_auth_url_the_key_set_is_fetched_from_its_jwks_path(
    better_auth_client: TestClient, jwks_server: KeySetServer, ed_key: Key
) -> None:
    response = get_me(better_auth_client, ed_key.sign(claims(jwks_server.url)))

    assert response.status_code == 200
    assert response.json()["user_id"] == "ba-user"
    assert jwks_server.requests == 1


def test_the_key_set_is_fetched_once_for_the_warm_instance(
    better_auth_client: TestClient, jwks_server: KeySetServer, ed_key: Key
) -> None:
    for _ in range(5):
        assert get_me(better_auth_client, ed_key.sign(claims(jwks_server.url))).status_code == 200

    assert jwks_server.requests == 1


MISSING = object()


@pytest.mark.parametrize(
    ("iss", "aud"),
    [
        (MISSING, MISSING),
        ("https://other.test", "origin"),
        ("origin", "https://other.test"),
        ("origin", MISSING),
    ],
)
def test_with_only_better_auth_url_iss_and_aud_must_be_its_origin(
    better_auth_client: TestClient, jwks_server: KeySetServer, ed_key: Key, iss: Any, aud: Any
) -> None:
    token_claims = claims()
    for name, value in {"iss": iss, "aud": aud}.items():
        if value is not MISSING:
            token_claims[name] = jwks_server.url if value == "origin" else value

    response = get_me(better_auth_client, ed_key.sign(token_claims))

    assert response.status_code == 401
    assert response.json()["code"] == "TOKEN_INVALID"


def test_jwt_issuer_and_audience_override_the_better_auth_origin(
    env: Env, jwks_server: KeySetServer, ed_key: Key
) -> None:
    env(BETTER_AUTH_URL=jwks_server.url, JWT_ISSUER="https://issuer.test", JWT_AUDIENCE="api")
    client = TestClient(create_app())

    overridden = get_me(client, ed_key.sign(claims(iss="https://issuer.test", aud="api")))
    origin = get_me(client, ed_key.sign(claims(jwks_server.url)))

    assert overridden.status_code == 200
    assert origin.status_code == 401


def test_jwks_url_overrides_the_better_auth_path(env: Env, ed_key: Key) -> None:
    with serve_key_set(key_set(ed_key)) as elsewhere:
        env(JWKS_URL=f"{elsewhere.url}/keys.json")
        client = TestClient(create_app())

        response = get_me(client, ed_key.sign(claims()))

        assert response.status_code == 200
        assert elsewhere.requests == 1


@pytest.mark.parametrize("algorithm", ["EdDSA", "ES256", "ES512", "RS256", "PS256"])
def test_every_asymmetric_algorithm_verifies_with_its_own_key(env: Env, algorithm: str) -> None:
    key = new_key(algorithm)
    env(JWKS=key_set(key))

    response = get_me(TestClient(create_app()), key.sign(claims()))

    assert response.status_code == 200


def test_a_symmetric_key_in_the_key_set_is_never_used(env: Env) -> None:
    import jwt

    secret = "k" * 32
    symmetric = {"kty": "oct", "kid": "sym", "alg": "HS256", "k": base64url(secret)}
    env(JWKS=json.dumps({"keys": [symmetric]}), BETTER_AUTH_SECRET=None)

    response = get_me(
        TestClient(create_app()), jwt.encode(claims(), secret, headers={"kid": "sym"})
    )

    assert response.status_code == 401


def test_a_flood_of_unknown_kids_costs_at_most_one_fetch(
    better_auth_client: TestClient, jwks_server: KeySetServer, ed_key: Key, clock: Clock
) -> None:
    get_me(better_auth_client, ed_key.sign(claims(jwks_server.url)))
    clock.now += 60

    answers = {
        get_me(
            better_auth_client, new_key("EdDSA", uuid.uuid4().hex).sign(claims(jwks_server.url))
        ).status_code
        for _ in range(50)
    }

    assert answers == {401}
    assert jwks_server.requests == 2


def test_a_rotated_key_set_accepts_old_and_new_tokens(
    better_auth_client: TestClient, jwks_server: KeySetServer, ed_key: Key, clock: Clock
) -> None:
    old_token = ed_key.sign(claims(jwks_server.url))
    assert get_me(better_auth_client, old_token).status_code == 200
    rotated = new_key("EdDSA", "ed-next")
    jwks_server.document = key_set(rotated, ed_key)
    clock.now += 10.0  # the cooldown, to the second: a literal, so changing it fails here

    new = get_me(better_auth_client, rotated.sign(claims(jwks_server.url)))
    old = get_me(better_auth_client, old_token)

    assert (new.status_code, old.status_code) == (200, 200)
    assert jwks_server.requests == 2


def test_an_unknown_kid_within_the_cooldown_is_not_refetched(
    better_auth_client: TestClient, jwks_server: KeySetServer, ed_key: Key, clock: Clock
) -> None:
    get_me(better_auth_client, ed_key.sign(claims(jwks_server.url)))
    rotated = new_key("EdDSA", "ed-next")
    jwks_server.document = key_set(rotated, ed_key)
    clock.now += 9.99  # just short of the 10 s cooldown

    response = get_me(better_auth_client, rotated.sign(claims(jwks_server.url)))

    assert response.status_code == 401
    assert jwks_server.requests == 1


@pytest.mark.parametrize(
    "fault", ["status 500", "not JSON", "nested 5000 deep", "connection refused"]
)
def test_an_unreachable_key_set_is_503_auth_unavailable(
    env: Env, jwks_server: KeySetServer, ed_key: Key, fault: str
) -> None:
    url = jwks_server.url
    if fault == "status 500":
        jwks_server.status = 500
    elif fault == "not JSON":
        jwks_server.document = "<html>oops</html>"
    elif fault == "nested 5000 deep":
        jwks_server.document = '{"keys": ' + "[" * 5000 + "]" * 5000 + "}"
    else:
        url = "http://127.0.0.1:1"
    env(BETTER_AUTH_URL=url)

    response = get_me(TestClient(create_app()), ed_key.sign(claims(url)))

    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert response.json() == {
        "detail": "The authentication key set is unavailable; retry shortly",
        "code": "AUTH_UNAVAILABLE",
    }


def test_a_refetch_that_fails_is_503_not_a_401_that_blames_the_user(
    better_auth_client: TestClient, jwks_server: KeySetServer, ed_key: Key, clock: Clock
) -> None:
    get_me(better_auth_client, ed_key.sign(claims(jwks_server.url)))
    jwks_server.status = 503
    clock.now += 60

    response = get_me(better_auth_client, new_key("EdDSA", "ed-next").sign(claims(jwks_server.url)))
    known = get_me(better_auth_client, ed_key.sign(claims(jwks_server.url)))

    assert response.status_code == 503
    assert known.status_code == 200


def test_an_inline_key_set_makes_no_network_call(
    env: Env, jwks_server: KeySetServer, ed_key: Key, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_network(*_: Any, **__: Any) -> None:
        raise AssertionError("the key set was fetched")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    env(BETTER_AUTH_URL=jwks_server.url, JWKS=key_set(ed_key))

    response = get_me(TestClient(create_app()), ed_key.sign(claims(jwks_server.url)))

    assert response.status_code == 200
    assert jwks_server.requests == 0


def test_an_inline_key_stays_valid_after_the_url_is_fetched(
    env: Env, jwks_server: KeySetServer, ed_key: Key
) -> None:
    inline_only = new_key("EdDSA", "inline-only")
    env(BETTER_AUTH_URL=jwks_server.url, JWKS=key_set(inline_only))
    client = TestClient(create_app())

    fetched = get_me(client, ed_key.sign(claims(jwks_server.url)))
    inline = get_me(client, inline_only.sign(claims(jwks_server.url)))

    assert (fetched.status_code, inline.status_code) == (200, 200)
    assert jwks_server.requests == 1
