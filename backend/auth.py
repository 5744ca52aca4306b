"""Who the caller is: the bearer token, verified by the shared secret or the key set."""

import math
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any

import jwt
from fastapi import Depends, Request, Response
from fastapi.openapi.models import HTTPBearer as HTTPBearerScheme
from jwt.exceptions import InvalidSubjectError

from backend.config import Settings, get_settings
from backend.errors import TokenExpired, TokenInvalid, Unauthenticated
from backend.execution import blocking
from backend.keyset import ASYMMETRIC_ALGORITHMS, KeySet
from backend.lazy_routes import LazyRoute
from backend.once import Once
from backend.parsing import BoundedJSONRequest
from backend.schemas import is_text
from backend.verified import Verified, VerifiedTokens

MAX_TOKEN_BYTES = 8192
LEEWAY_SECONDS = 30
MAX_USER_ID_LENGTH = 255
SUB_RULE = "Token 'sub' must be a non-empty string of at most 255 characters"
KEY_REFERENCE_HEADERS = frozenset({"jku", "x5u", "jwk", "x5c", "x5t", "x5t#S256"})
TIME_CLAIMS = ("exp", "nbf", "iat")
TEXT_HEADERS = ("alg", "kid")  # the parameters that route a token to its key


@dataclass(frozen=True)
class User:
    id: str
    email: str | None = None
    name: str | None = None


@dataclass(frozen=True)
class ClaimRules:
    issuer: str | None
    audience: str | None


class Verifier:
    """HS256 tokens verify only with the secret; asymmetric ones only with the key set."""

    def __init__(self, settings: Settings, key_set: KeySet | None = None) -> None:
        secret = settings.better_auth_secret
        self.secret = secret.get_secret_value() if secret else None
        self.key_set = key_set
        self.secret_rules = ClaimRules(settings.jwt_issuer, settings.jwt_audience)
        self.key_set_rules = ClaimRules(
            settings.jwt_issuer or settings.auth_origin,
            settings.jwt_audience or settings.auth_origin,
        )
        self.verified = VerifiedTokens()

    def would_block(self, header: dict[str, Any]) -> bool:
        """Whether verifying needs the network (a key set fetch)."""
        kid = header.get("kid")
        return self.key_set is not None and isinstance(kid, str) and self.key_set.would_fetch(kid)

    def remembered(self, token: str) -> User | None:
        """The caller, if this instance verified `token` before with the key it would use now.

        Raises TokenExpired once its `exp` has passed, as verifying it again would.
        """
        verified = self.verified.get(token)
        if verified is None:
            return None
        if verified.kid is not None and (
            self.key_set is None or self.key_set.keys.get(verified.kid) is not verified.key
        ):
            return None  # the key set has changed that key: verify the token afresh
        check_times(verified.times, time.time())
        return verified.user

    def verify(self, token: str, header: dict[str, Any]) -> User:
        """Verify `token`, whose `header` came from `header_of` (cheap checks come first)."""
        algorithm = header.get("alg")
        kid = header.get("kid")
        key: Any
        if algorithm == "HS256":
            if self.secret is None:
                raise TokenInvalid("HS256 tokens are not accepted: no shared secret is configured")
            key, kid, rules = self.secret, None, self.secret_rules
        elif algorithm in ASYMMETRIC_ALGORITHMS:
            key = self.key_set.key(kid) if self.key_set and isinstance(kid, str) else None
            if key is None or key.algorithm_name != algorithm:
                raise TokenInvalid("Token is not signed by a known key")
            rules = self.key_set_rules
        else:
            raise TokenInvalid("Token algorithm is not accepted")
        claims = decode(token, key, algorithm, rules)
        check_times(claims, time.time())
        user = user_from(claims)
        times = {name: claims[name] for name in TIME_CLAIMS if name in claims}
        self.verified.add(token, Verified(user, times, kid, key))
        return user


def header_of(token: str) -> dict[str, Any]:
    if len(token) > MAX_TOKEN_BYTES:
        raise TokenInvalid(f"Token is longer than {MAX_TOKEN_BYTES} bytes")
    if token.count(".") != 2:
        raise TokenInvalid("Token is not a signed JWT (three dot-separated parts)")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise TokenInvalid("Token header is malformed") from None
    if KEY_REFERENCE_HEADERS & header.keys():
        raise TokenInvalid("Token header names its own key, which is never trusted")
    if "crit" in header:
        raise TokenInvalid("Token header lists critical extensions this API does not support")
    for name in TEXT_HEADERS:
        if name in header and not isinstance(header[name], str):
            raise TokenInvalid(f"Token header {name!r} must be a string")
    return header


def decode(token: str, key: Any, algorithm: str, rules: ClaimRules) -> dict[str, Any]:
    """The token's claims, its signature, issuer and audience verified; not yet its times."""
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[algorithm],
            issuer=rules.issuer,
            audience=rules.audience,
            options={
                "require": ["sub", "exp"],
                "verify_aud": rules.audience is not None,
                # PyJWT would take "9999999999" and true as times: `check_times` does not.
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
            },
        )
    except InvalidSubjectError:  # PyJWT's verify_sub: a `sub` that is not a string
        raise TokenInvalid(SUB_RULE) from None
    except jwt.PyJWTError as exc:
        raise TokenInvalid(reason(exc)) from None
    return claims


def check_times(claims: dict[str, Any], now: float) -> None:
    """`exp`, `nbf` and `iat` are JSON numbers (not booleans or strings), within the leeway."""
    for name in TIME_CLAIMS:
        if name in claims and not is_number(claims[name]):
            raise TokenInvalid(f"Token {name!r} claim must be a number")
    if max(claims.get("nbf", now), claims.get("iat", now)) > now + LEEWAY_SECONDS:
        raise TokenInvalid("Token is not valid yet")
    if claims["exp"] <= now - LEEWAY_SECONDS:
        raise TokenExpired()


def is_number(value: object) -> bool:
    return type(value) is int or (type(value) is float and math.isfinite(value))


def reason(exc: jwt.PyJWTError) -> str:
    if isinstance(exc, jwt.InvalidSignatureError):
        return "Token signature is invalid"
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return f"Token has no {exc.claim!r} claim"
    if isinstance(exc, jwt.InvalidIssuerError):
        return "Token issuer is not accepted"
    if isinstance(exc, jwt.InvalidAudienceError):
        return "Token audience is not accepted"
    return "Token is invalid"


def user_from(claims: dict[str, Any]) -> User:
    sub: str = claims["sub"]  # a string: PyJWT's verify_sub refused any other type
    if not 1 <= len(sub) <= MAX_USER_ID_LENGTH or not is_text(sub):
        raise TokenInvalid(SUB_RULE)
    return User(sub, text_claim(claims, "email"), text_claim(claims, "name"))


def text_claim(claims: dict[str, Any], name: str) -> str | None:
    value = claims.get(name)
    return value if isinstance(value, str) and is_text(value) else None


def bearer_token(request: Request) -> str:
    values = request.headers.getlist("authorization")
    if not values:
        raise Unauthenticated()
    if len(values) > 1:
        raise TokenInvalid("Send exactly one Authorization header")
    scheme, _, token = values[0].strip().partition(" ")
    if scheme.lower() != "bearer":
        raise Unauthenticated("Authorization must use the Bearer scheme")
    if not token.strip():
        raise Unauthenticated()
    return token.strip()


@Once
def get_verifier() -> Verifier:
    settings = get_settings()
    key_set = None
    if settings.key_set_url or settings.jwks:
        key_set = KeySet(settings.key_set_url, settings.jwks)
    return Verifier(settings, key_set)


async def authenticate(request: Request) -> User:
    token = bearer_token(request)
    verifier = get_verifier()
    user = verifier.remembered(token)
    if user is not None:
        return user
    header = header_of(token)
    if verifier.would_block(header):
        return await blocking(verifier.verify, token, header)
    return verifier.verify(token, header)


BEARER = "HTTPBearer"
"""The security scheme every authenticated operation names (`main.TaskAPI.openapi`)."""
BEARER_SCHEME = HTTPBearerScheme(
    description="A JWT from Better Auth or signed with BETTER_AUTH_SECRET"
)


class AuthenticatedRoute(LazyRoute):
    """A route that checks the body size, then the token, then that it serves the caller
    (`authorize`), before anything else about the request.

    FastAPI parses the body before it solves dependencies, so a token checked in a
    dependency would come after a malformed-JSON 422; here it comes first. The body is
    then parsed within bounds (`BoundedJSONRequest`). The document says so by naming the
    bearer scheme on the operation; a `Security` dependency would say the same, at the
    cost of solving it on every request.
    """

    def __init__(self, path: str, endpoint: Callable[..., Any], **options: Any) -> None:
        extra = options.get("openapi_extra") or {}
        options["openapi_extra"] = {"security": [{BEARER: []}], **extra}
        super().__init__(path, endpoint, **options)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def authenticated(request: Request) -> Response:
            request = BoundedJSONRequest(request.scope, request.receive)
            await request.body()
            request.state.user = await authenticate(request)
            self.authorize(request)
            return await handler(request)

        return authenticated

    def authorize(self, request: Request) -> None:
        """Raise if this route does not serve the verified caller; this one serves any."""


def caller(request: Request) -> User:
    """The caller, as `AuthenticatedRoute` verified them."""
    user: User = request.state.user
    return user


async def current_user(request: Request) -> User:
    return caller(request)


CurrentUser = Annotated[User, Depends(current_user)]
