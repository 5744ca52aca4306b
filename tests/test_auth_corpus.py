"""The hostile corpus: every token an attacker might try is a 401, refused by the right check."""

import time
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from fastapi.testclient import TestClient

from backend.main import create_app
from tests.conftest import SECRET, Env
from tests.keys import Key, key_set, new_key
from tests.test_auth import (
    AUDIENCE,
    ISSUER,
    Headers,
    b64,
    bearer,
    claims,
    hmac_token,
    segment,
    unauthorized,
)


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


Case = Callable[[Key, Key], Headers]


def signed(**overrides: Any) -> Callable[[Key, Key], Headers]:
    return lambda ed, _: bearer(ed.sign(claims(**overrides)))


def with_header(**header: Any) -> Callable[[Key, Key], Headers]:
    """Signed by the trusted key: the header is the only fault."""
    return lambda ed, _: bearer(ed.sign(claims(), **header))


def public_pem(key: Key) -> bytes:
    return bytes(
        key.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


def tamper_payload(ed: Key, _: Key) -> Headers:
    header, _payload, signature = ed.sign(claims()).split(".")
    return bearer(f"{header}.{segment(claims(sub='admin'))}.{signature}")


def tamper_header(ed: Key, _: Key) -> Headers:
    _header, payload, signature = ed.sign(claims()).split(".")
    return bearer(f"{segment({'alg': 'EdDSA', 'kid': 'ed-1', 'x': 1})}.{payload}.{signature}")


def strip_signature(ed: Key, _: Key) -> Headers:
    header, payload, _signature = ed.sign(claims()).split(".")
    return bearer(f"{header}.{payload}.")


def alg_none(ed: Key, _: Key) -> Headers:
    return bearer(f"{segment({'alg': 'none'})}.{segment(claims())}.")


def alg_none_kid(ed: Key, _: Key) -> Headers:
    return bearer(f"{segment({'alg': 'none', 'kid': ed.kid})}.{segment(claims())}.")


def alg_none_capitalised(ed: Key, _: Key) -> Headers:
    return bearer(f"{segment({'alg': 'None'})}.{segment(claims())}.")


def key_confusion(ed: Key, _: Key) -> Headers:
    return bearer(hmac_token({"alg": "HS256", "typ": "JWT"}, claims(), public_pem(ed)))


def key_confusion_with_kid(ed: Key, _: Key) -> Headers:
    return bearer(hmac_token({"alg": "HS256", "kid": ed.kid}, claims(), public_pem(ed)))


def wrong_secret(*_: Key) -> Headers:
    return bearer(hmac_token({"alg": "HS256"}, claims(), b"not-the-secret-not-the-secret-xx"))


def hs512_with_secret(*_: Key) -> Headers:
    return bearer(hmac_token({"alg": "HS512"}, claims(), SECRET.encode()))


def asymmetric_alg_on_the_wrong_key(ed: Key, _: Key) -> Headers:
    rsa = new_key("RS256", ed.kid)
    return bearer(rsa.sign(claims()))


def ed_signed(ed: Key, header: dict[str, Any], payload: str) -> str:
    """Signed by hand, so the signature is valid whatever the header or payload holds."""
    signing_input = f"{segment(header)}.{payload}"
    return f"{signing_input}.{b64(ed.private.sign(signing_input.encode()))}"


def crit_b64(ed: Key, _: Key) -> Headers:
    """Past PyJWT's header check (b64 is the one extension it knows): only the API's refuses it."""
    header = {"alg": "EdDSA", "kid": ed.kid, "crit": ["b64"], "b64": True}
    return bearer(ed_signed(ed, header, segment(claims())))


def oversized(ed: Key, _: Key) -> Headers:
    return bearer(ed.sign(claims(pad="x" * 9000)))


def raw(token: str) -> Callable[[Key, Key], Headers]:
    return lambda *_: bearer(token)


def headers(*values: str) -> Callable[[Key, Key], Headers]:
    return lambda *_: [("Authorization", value) for value in values]


def two_authorization_headers(ed: Key, _: Key) -> Headers:
    token = ed.sign(claims())
    return [("Authorization", f"Bearer {token}"), ("Authorization", f"Bearer {token}")]


# What refused the token: the corpus names the check, not only the code.
ALG = "Token algorithm is not accepted"
SIGNATURE = "Token signature is invalid"
UNKNOWN_KEY = "Token is not signed by a known key"
BAD_SUB = "Token 'sub' must be a non-empty string of at most 255 characters"
MALFORMED = "Token header is malformed"
NOT_THREE_PARTS = "Token is not a signed JWT (three dot-separated parts)"
NOT_YET = "Token is not valid yet"
INVALID = "Token is invalid"
OWN_KEY = "Token header names its own key, which is never trusted"
NOT_BEARER = "Authorization must use the Bearer scheme"
CRITICAL = "Token header lists critical extensions this API does not support"

CORPUS: dict[str, tuple[Case, str, str]] = {
    "alg none": (alg_none, "TOKEN_INVALID", ALG),
    "alg none with a real kid": (alg_none_kid, "TOKEN_INVALID", ALG),
    "alg None capitalised": (alg_none_capitalised, "TOKEN_INVALID", ALG),
    "HS256 signed with the public key": (key_confusion, "TOKEN_INVALID", SIGNATURE),
    "HS256 with the key set's kid": (key_confusion_with_kid, "TOKEN_INVALID", SIGNATURE),
    "wrong secret": (wrong_secret, "TOKEN_INVALID", SIGNATURE),
    "HS512 with the right secret": (hs512_with_secret, "TOKEN_INVALID", ALG),
    "RS256 under an EdDSA key's kid": (
        asymmetric_alg_on_the_wrong_key,
        "TOKEN_INVALID",
        UNKNOWN_KEY,
    ),
    "tampered payload": (tamper_payload, "TOKEN_INVALID", SIGNATURE),
    "tampered header": (tamper_header, "TOKEN_INVALID", SIGNATURE),
    "signature stripped": (strip_signature, "TOKEN_INVALID", SIGNATURE),
    "expired": (signed(exp=int(time.time()) - 3600), "TOKEN_EXPIRED", "Token has expired"),
    "nbf in the future": (signed(nbf=int(time.time()) + 3600), "TOKEN_INVALID", NOT_YET),
    "iat in the future": (signed(iat=int(time.time()) + 3600), "TOKEN_INVALID", NOT_YET),
    "missing sub": (signed(sub=None), "TOKEN_INVALID", "Token has no 'sub' claim"),
    "empty sub": (signed(sub=""), "TOKEN_INVALID", BAD_SUB),
    "numeric sub": (signed(sub=42), "TOKEN_INVALID", BAD_SUB),
    "list sub": (signed(sub=["a"]), "TOKEN_INVALID", BAD_SUB),
    "sub over 255 characters": (signed(sub="u" * 256), "TOKEN_INVALID", BAD_SUB),
    "sub with a NUL": (signed(sub="u\x00"), "TOKEN_INVALID", BAD_SUB),
    "sub with a lone surrogate": (signed(sub="u\ud800"), "TOKEN_INVALID", BAD_SUB),
    "missing exp": (signed(exp=None), "TOKEN_INVALID", "Token has no 'exp' claim"),
    "exp not a number": (
        signed(exp="tomorrow"),
        "TOKEN_INVALID",
        "Token 'exp' claim must be a number",
    ),
    "wrong iss": (signed(iss="https://evil.test"), "TOKEN_INVALID", "Token issuer is not accepted"),
    "missing iss": (signed(iss=None), "TOKEN_INVALID", "Token has no 'iss' claim"),
    "wrong aud": (
        signed(aud="https://evil.test"),
        "TOKEN_INVALID",
        "Token audience is not accepted",
    ),
    "missing aud": (signed(aud=None), "TOKEN_INVALID", "Token has no 'aud' claim"),
    "unknown kid": (
        lambda _, attacker: bearer(attacker.sign(claims())),
        "TOKEN_INVALID",
        UNKNOWN_KEY,
    ),
    "kid like a path": (with_header(kid="../../../../etc/passwd"), "TOKEN_INVALID", UNKNOWN_KEY),
    "kid like SQL": (with_header(kid="' OR '1'='1' --"), "TOKEN_INVALID", UNKNOWN_KEY),
    "jku header": (with_header(jku="http://127.0.0.1:9/jwks.json"), "TOKEN_INVALID", OWN_KEY),
    "x5u header": (with_header(x5u="http://127.0.0.1:9/cert.pem"), "TOKEN_INVALID", OWN_KEY),
    "jwk header": (
        lambda ed, attacker: bearer(ed.sign(claims(), jwk=attacker.public_jwk)),
        "TOKEN_INVALID",
        OWN_KEY,
    ),
    "crit with an unknown extension": (
        lambda ed, _: bearer(ed.sign(claims(), crit=["exp-ext"], **{"exp-ext": 1})),
        "TOKEN_INVALID",
        MALFORMED,  # PyJWT's own header check refuses every extension but b64
    ),
    "crit naming b64, which PyJWT supports": (crit_b64, "TOKEN_INVALID", CRITICAL),
    "malformed base64": (raw("e$$$.eyJzdWIiOiJ1In0.c2ln"), "TOKEN_INVALID", MALFORMED),
    "header not JSON": (
        raw(f"{b64('not json')}.{segment(claims())}.c2ln"),
        "TOKEN_INVALID",
        MALFORMED,
    ),
    "header a JSON list": (
        raw(f"{b64('[]')}.{segment(claims())}.c2ln"),
        "TOKEN_INVALID",
        MALFORMED,
    ),
    "payload not JSON": (
        lambda ed, _: bearer(ed_signed(ed, {"alg": "EdDSA", "kid": ed.kid}, b64("}{"))),
        "TOKEN_INVALID",
        INVALID,
    ),
    "one segment": (raw("abc"), "TOKEN_INVALID", NOT_THREE_PARTS),
    "two segments": (
        raw(f"{segment({'alg': 'HS256'})}.{segment(claims())}"),
        "TOKEN_INVALID",
        NOT_THREE_PARTS,
    ),
    "four segments": (raw("a.b.c.d"), "TOKEN_INVALID", NOT_THREE_PARTS),
    "five segments (JWE)": (raw("a.b.c.d.e"), "TOKEN_INVALID", NOT_THREE_PARTS),
    "token over 8 KiB": (oversized, "TOKEN_INVALID", "Token is longer than 8192 bytes"),
    "Basic scheme": (headers("Basic dXNlcjpwYXNz"), "UNAUTHENTICATED", NOT_BEARER),
    "Token scheme": (headers("Token abc.def.ghi"), "UNAUTHENTICATED", NOT_BEARER),
    "Bearer with no token": (
        headers("Bearer "),
        "UNAUTHENTICATED",
        "Authentication required: send Authorization: Bearer <token>",
    ),
    "empty Authorization": (headers(""), "UNAUTHENTICATED", NOT_BEARER),
    "two Authorization headers": (
        two_authorization_headers,
        "TOKEN_INVALID",
        "Send exactly one Authorization header",
    ),
}


@pytest.mark.parametrize("name", list(CORPUS))
def test_hostile_token_is_401_in_the_error_shape(
    strict_client: TestClient, ed_key: Key, attacker_key: Key, name: str
) -> None:
    case, code, detail = CORPUS[name]

    response = strict_client.get("/api/tasks", headers=case(ed_key, attacker_key))

    unauthorized(response, code)
    assert response.json()["detail"] == detail, "refused, but by another check"


def test_the_corpus_is_large_and_its_control_case_passes(
    strict_client: TestClient, ed_key: Key
) -> None:
    response = strict_client.get("/api/tasks", headers=bearer(ed_key.sign(claims())))

    assert len(CORPUS) >= 30
    assert response.status_code == 200


def test_a_token_in_the_query_string_is_not_accepted(
    strict_client: TestClient, ed_key: Key
) -> None:
    token = ed_key.sign(claims())

    response = strict_client.get("/api/tasks", params={"access_token": token, "token": token})

    unauthorized(response, "UNAUTHENTICATED")


def test_an_oversized_token_is_refused_before_parsing(
    strict_client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def must_not_parse(*_: Any) -> None:
        raise AssertionError("parsed an oversized token")

    monkeypatch.setattr("jwt.get_unverified_header", must_not_parse)

    response = strict_client.get("/api/tasks", headers=bearer("a" * 8193))

    unauthorized(response, "TOKEN_INVALID")
    assert response.json()["detail"] == "Token is longer than 8192 bytes"
