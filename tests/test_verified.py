"""A warm instance verifies each token once; what could change the verdict is checked each time.

The times (an `exp` that passes) and the key set (a key replaced or removed at a refetch)
are what can change it; the rest of a token is the same string, verified the same way.
"""

import time
import types
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from backend import auth
from backend.main import create_app
from backend.verified import Verified, VerifiedTokens
from tests.conftest import Clock, Env, TokenFactory
from tests.keys import Key, KeySetServer, key_set, new_key, serve_key_set


def me(client: TestClient, token: str) -> Any:
    return client.get("/api/me", headers={"Authorization": f"Bearer {token}"})


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The tokens whose signature the app checks, in order (PyJWT still checks them)."""
    seen: list[str] = []
    decode = auth.decode

    def counted(token: str, *args: Any) -> dict[str, Any]:
        seen.append(token)
        return decode(token, *args)

    monkeypatch.setattr(auth, "decode", counted)
    return seen


def test_a_token_is_verified_once_and_serves_every_later_request(
    client: TestClient, make_token: TokenFactory, decodes: list[str]
) -> None:
    token, other = make_token("user-a"), make_token("user-b")

    answers = [me(client, t).json()["user_id"] for t in (token, other, token, other, token)]

    assert answers == ["user-a", "user-b", "user-a", "user-b", "user-a"]
    assert decodes == [token, other]


def test_a_remembered_token_is_refused_once_it_expires(
    client: TestClient, make_token: TokenFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = make_token("user-a", ttl=60)
    assert me(client, token).status_code == 200
    later = time.time() + 60 + auth.LEEWAY_SECONDS
    monkeypatch.setattr(auth, "time", types.SimpleNamespace(time=lambda: later))

    response = me(client, token)

    assert response.status_code == 401
    assert response.json()["code"] == "TOKEN_EXPIRED"


def test_a_refused_token_is_not_remembered(
    client: TestClient, make_token: TokenFactory, decodes: list[str]
) -> None:
    forged = make_token("user-a", key="another-secret-that-is-long-enough-for-hs256")

    statuses = [me(client, forged).status_code for _ in range(2)]

    assert statuses == [401, 401]
    assert decodes == [forged, forged]
    assert len(auth.get_verifier().verified) == 0


@pytest.fixture
def first_key() -> Key:
    return new_key("EdDSA", "ed-1")


@pytest.fixture
def jwks_server(first_key: Key) -> Iterator[KeySetServer]:
    with serve_key_set(key_set(first_key)) as server:
        yield server


@pytest.fixture
def key_set_client(env: Env, jwks_server: KeySetServer) -> TestClient:
    env(JWKS_URL=jwks_server.url, BETTER_AUTH_SECRET=None)
    return TestClient(create_app())


def claims() -> dict[str, Any]:
    now = int(time.time())
    return {"sub": "ba-user", "iat": now, "exp": now + 900}


def test_a_key_set_token_is_verified_once_while_its_key_stays(
    key_set_client: TestClient, first_key: Key, decodes: list[str]
) -> None:
    token = first_key.sign(claims())

    answers = [me(key_set_client, token).json()["user_id"] for _ in range(3)]

    assert answers == ["ba-user"] * 3
    assert decodes == [token]


@pytest.mark.parametrize("first_kid_after", ["replaced", "removed"])
def test_a_remembered_token_is_verified_afresh_once_the_key_set_changes_its_key(
    key_set_client: TestClient,
    jwks_server: KeySetServer,
    first_key: Key,
    clock: Clock,
    first_kid_after: str,
) -> None:
    token = first_key.sign(claims())
    assert me(key_set_client, token).status_code == 200
    new_kid = new_key("EdDSA", "ed-2")
    keys = [new_kid] + ([new_key("EdDSA", "ed-1")] if first_kid_after == "replaced" else [])
    jwks_server.document = key_set(*keys)
    clock.now += 60  # past the refetch cooldown: an unknown kid refetches the key set
    assert me(key_set_client, new_kid.sign(claims())).status_code == 200
    assert jwks_server.requests == 2

    response = me(key_set_client, token)

    assert response.status_code == 401
    assert response.json()["code"] == "TOKEN_INVALID"


def test_the_oldest_token_makes_room_for_a_new_one() -> None:
    tokens = VerifiedTokens(size=2)
    entry = Verified(auth.User("u"), {"exp": 0}, None, "secret")

    tokens.add("a", entry)
    tokens.add("b", entry)
    tokens.add("b", entry)  # already there: nothing leaves
    assert (len(tokens), tokens.get("a")) == (2, entry)
    tokens.add("c", entry)

    assert (len(tokens), tokens.get("a"), tokens.get("b"), tokens.get("c")) == (
        2,
        None,
        entry,
        entry,
    )
