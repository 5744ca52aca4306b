"""Bearer tokens: the claims checked, and the two signing modes kept apart."""

import base64
import hashlib
import hmac
import json
import time
import types
from typing import Any

import pytest
from fastapi.testclient import TestClient

from backend import auth
from backend.main import create_app
from tests.conftest import SECRET, Env, TokenFactory
from tests.keys import Key, key_set, new_key

ISSUER = "https://auth.example.test"
AUDIENCE = "https://auth.example.test"

Headers = list[tuple[str, str]]


def b64(data: bytes | str) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def segment(value: Any) -> str:
    return b64(json.dumps(value))


def hmac_token(header: dict[str, Any], claims: dict[str, Any], secret: bytes) -> str:
    """Signed by hand: PyJWT refuses an HMAC key that looks like a public key."""
    digest = hashlib.sha512 if header["alg"] == "HS512" else hashlib.sha256
    signing_input = f"{segment(header)}.{segment(claims)}"
    signature = hmac.new(secret, signing_input.encode(), digest).digest()
    return f"{signing_input}.{b64(signature)}"


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {
        "sub": "user-1",
        "iat": now,
        "exp": now + 600,
        "iss": ISSUER,
        "aud": AUDIENCE,
    }
    return {k: v for k, v in {**base, **overrides}.items() if v is not None}


def bearer(token: str) -> Headers:
    return [("Authorization", f"Bearer {token}")]


def unauthorized(response: Any, code: str) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == "Bearer"
    body = response.json()
    assert set(body) == {"detail", "code"}
    assert body["code"] == code
    assert body["detail"]


@pytest.fixture(scope="module")
def ed_key() -> Key:
    return new_key("EdDSA", "ed-1")


@pytest.fixture(scope="module")
def attacker_key() -> Key:
    return new_key("EdDSA", "attacker")


@pytest.fixture
def strict_client(env: Env, ed_key: Key) -> TestClient:
    """Both modes on, issuer and audience enforced: the corpus's target."""
    env(JWKS=key_set(ed_key), JWT_ISSUER=ISSUER, JWT_AUDIENCE=AUDIENCE)
    return TestClient(create_app())


# --- HS256 with the shared secret ------------------------------------------------------


def test_a_valid_token_names_the_caller(client: TestClient, make_token: TokenFactory) -> None:
    token = make_token("u-42", email="ada@example.test", name="Ada")

    response = client.get("/api/me", headers=bearer(token))

    assert response.status_code == 200
    assert response.json() == {"user_id": "u-42", "email": "ada@example.test", "name": "Ada"}


def test_a_token_without_profile_claims_has_null_email_and_name(
    client: TestClient, make_token: TokenFactory
) -> None:
    response = client.get("/api/me", headers=bearer(make_token("u-1")))

    assert response.json() == {"user_id": "u-1", "email": None, "name": None}


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER", "bEaReR", "Bearer "])
def test_the_scheme_is_matched_case_insensitively_and_spaces_around_the_token_are_ignored(
    client: TestClient, make_token: TokenFactory, scheme: str
) -> None:
    response = client.get("/api/me", headers=[("Authorization", f"{scheme} {make_token('u')}")])

    assert response.status_code == 200


def test_profile_claims_that_are_not_text_are_left_out(
    client: TestClient, make_token: TokenFactory
) -> None:
    token = make_token("u-1", email="\ud800@example.test", name=["not", "text"])

    response = client.get("/api/me", headers=bearer(token))

    assert response.json() == {"user_id": "u-1", "email": None, "name": None}


def test_no_credentials_is_unauthenticated(client: TestClient) -> None:
    response = client.get("/api/tasks")

    unauthorized(response, "UNAUTHENTICATED")


def test_an_expired_token_is_token_expired(client: TestClient, make_token: TokenFactory) -> None:
    response = client.get("/api/me", headers=bearer(make_token("u", ttl=-31)))

    unauthorized(response, "TOKEN_EXPIRED")
    assert response.json()["detail"] == "Token has expired"


def test_expiry_within_the_30_second_leeway_is_accepted(
    client: TestClient, make_token: TokenFactory
) -> None:
    response = client.get("/api/me", headers=bearer(make_token("u", ttl=-20)))

    assert response.status_code == 200


def test_nbf_within_the_leeway_is_accepted(client: TestClient, make_token: TokenFactory) -> None:
    token = make_token("u", nbf=int(time.time()) + 20)

    assert client.get("/api/me", headers=bearer(token)).status_code == 200


@pytest.mark.parametrize(
    ("claim", "offset", "code"),
    [
        ("exp", -30, "TOKEN_EXPIRED"),  # the leeway's last second has passed
        ("exp", -29, None),
        ("nbf", 30, None),  # the leeway's last second
        ("nbf", 31, "TOKEN_INVALID"),
        ("iat", 30, None),
        ("iat", 31, "TOKEN_INVALID"),
    ],
)
def test_the_leeway_is_30_seconds_to_the_second(
    client: TestClient,
    make_token: TokenFactory,
    monkeypatch: pytest.MonkeyPatch,
    claim: str,
    offset: int,
    code: str | None,
) -> None:
    now = 2_000_000_000
    monkeypatch.setattr(auth, "time", types.SimpleNamespace(time=lambda: float(now)))
    times = {"iat": now - 60, "exp": now + 600, claim: now + offset}

    response = client.get("/api/me", headers=bearer(make_token("u", **times)))

    if code is None:
        assert response.status_code == 200, response.text
    else:
        unauthorized(response, code)


def test_a_token_without_iat_or_nbf_is_accepted(client: TestClient) -> None:
    token = hmac_token({"alg": "HS256", "typ": "JWT"}, claims(iat=None), SECRET.encode())

    assert client.get("/api/me", headers=bearer(token)).json()["user_id"] == "user-1"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("exp", "9999999999"),
        ("exp", True),
        ("exp", float("inf")),
        ("exp", float("nan")),
        ("exp", [9999999999]),
        ("nbf", "0"),
        ("nbf", False),
        ("iat", True),
        ("iat", {"at": 0}),
    ],
)
def test_a_time_claim_that_is_not_a_json_number_is_token_invalid(
    client: TestClient, make_token: TokenFactory, name: str, value: Any
) -> None:
    token = make_token("u", **{name: value})

    response = client.get("/api/me", headers=bearer(token))

    assert response.status_code == 401
    assert response.json() == {
        "detail": f"Token {name!r} claim must be a number",
        "code": "TOKEN_INVALID",
    }


def test_time_claims_may_be_fractional_numbers(
    client: TestClient, make_token: TokenFactory
) -> None:
    now = time.time()
    token = make_token("u", exp=now + 600.5, nbf=now - 0.25, iat=now)

    response = client.get("/api/me", headers=bearer(token))

    assert response.status_code == 200


def test_issuer_and_audience_are_enforced_only_when_configured(
    env: Env, make_token: TokenFactory
) -> None:
    token = make_token("u", iss="https://elsewhere.test", aud="someone-else")
    open_client = TestClient(create_app())
    accepted = open_client.get("/api/me", headers=bearer(token))

    env(JWT_ISSUER=ISSUER, JWT_AUDIENCE=AUDIENCE)
    strict = TestClient(create_app())
    refused = strict.get("/api/me", headers=bearer(token))
    right = strict.get("/api/me", headers=bearer(make_token("u", iss=ISSUER, aud=AUDIENCE)))

    assert accepted.status_code == 200
    unauthorized(refused, "TOKEN_INVALID")
    assert right.status_code == 200


@pytest.mark.parametrize(
    ("claim", "detail"),
    [("iss", "Token issuer is not accepted"), ("aud", "Token audience is not accepted")],
)
def test_an_hs256_token_with_only_its_issuer_or_only_its_audience_wrong_is_refused(
    env: Env, make_token: TokenFactory, claim: str, detail: str
) -> None:
    env(JWT_ISSUER=ISSUER, JWT_AUDIENCE=AUDIENCE)
    token = make_token("u", **{"iss": ISSUER, "aud": AUDIENCE, claim: "https://evil.test"})

    response = TestClient(create_app()).get("/api/me", headers=bearer(token))

    unauthorized(response, "TOKEN_INVALID")
    assert response.json()["detail"] == detail


def test_hs256_is_refused_when_no_secret_is_configured(
    env: Env, ed_key: Key, make_token: TokenFactory
) -> None:
    env(BETTER_AUTH_SECRET=None, JWKS=key_set(ed_key))

    response = TestClient(create_app()).get("/api/me", headers=bearer(make_token("u")))

    unauthorized(response, "TOKEN_INVALID")
    detail = "HS256 tokens are not accepted: no shared secret is configured"
    assert response.json()["detail"] == detail


def test_with_only_the_secret_a_token_naming_a_kid_or_an_asymmetric_alg_is_handled(
    client: TestClient, make_token: TokenFactory, ed_key: Key
) -> None:
    """No key set configured: a kid is ignored on HS256, and EdDSA is refused, not a 500."""
    with_kid = make_token("u", headers={"kid": "some-key"})
    asymmetric = ed_key.sign(claims())

    accepted = client.get("/api/me", headers=bearer(with_kid))
    refused = client.get("/api/me", headers=bearer(asymmetric))

    assert accepted.status_code == 200
    unauthorized(refused, "TOKEN_INVALID")
    assert refused.json()["detail"] == "Token is not signed by a known key"


@pytest.mark.parametrize("length", [1, 255])
def test_a_sub_of_1_to_255_characters_is_the_user_id(
    client: TestClient, make_token: TokenFactory, length: int
) -> None:
    response = client.get("/api/me", headers=bearer(make_token("u" * length)))

    assert response.status_code == 200
    assert response.json()["user_id"] == "u" * length


def test_a_token_of_exactly_8192_bytes_is_parsed_not_refused_for_its_length(
    client: TestClient,
) -> None:
    token = f"{'a' * 4000}.{'b' * 4000}.{'c' * 190}"

    response = client.get("/api/me", headers=bearer(token))

    assert len(token) == 8192
    unauthorized(response, "TOKEN_INVALID")
    assert response.json()["detail"] == "Token header is malformed"


def test_key_set_tokens_are_accepted_beside_the_secret(
    strict_client: TestClient, ed_key: Key
) -> None:
    response = strict_client.get("/api/me", headers=bearer(ed_key.sign(claims(email="e@x.test"))))

    assert response.json() == {"user_id": "user-1", "email": "e@x.test", "name": None}


@pytest.mark.parametrize(
    ("header", "detail"),
    [
        ({"alg": ["HS256"]}, "Token header 'alg' must be a string"),
        ({"alg": {}}, "Token header 'alg' must be a string"),
        ({"alg": 256}, "Token header 'alg' must be a string"),
        ({"alg": None, "kid": "ed-1"}, "Token header 'alg' must be a string"),
        ({"alg": "EdDSA", "kid": ["ed-1"]}, "Token header is malformed"),
        ({"alg": "EdDSA", "kid": {"a": 1}}, "Token header is malformed"),
    ],
)
def test_a_header_parameter_that_is_not_a_string_is_token_invalid_without_a_signature(
    strict_client: TestClient, header: dict[str, Any], detail: str
) -> None:
    token = f"{segment(header)}.{segment(claims())}.c2ln"

    response = strict_client.get("/api/tasks", headers=bearer(token))

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json() == {"detail": detail, "code": "TOKEN_INVALID"}
