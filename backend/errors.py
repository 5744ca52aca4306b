"""The error tree and the one body shape every error is answered in (handlers: `handlers`).

    AppError                      status  code
    ├── Unauthenticated             401   UNAUTHENTICATED
    │   ├── TokenExpired            401   TOKEN_EXPIRED
    │   └── TokenInvalid            401   TOKEN_INVALID
    ├── Forbidden                   403   FORBIDDEN
    ├── NotFound                    404   NOT_FOUND
    ├── Conflict                    409   CONFLICT
    ├── SyncExpired                 410   SYNC_EXPIRED
    ├── PreconditionFailed          412   PRECONDITION_FAILED
    ├── PayloadTooLarge             413   PAYLOAD_TOO_LARGE
    ├── UnsupportedMediaType        415   UNSUPPORTED_MEDIA_TYPE
    ├── ValidationFailed            422   VALIDATION_ERROR
    │   └── IdempotencyKeyReused    422   IDEMPOTENCY_KEY_REUSED
    ├── RateLimited                 429   RATE_LIMITED
    ├── DatabaseUnavailable         503   DATABASE_UNAVAILABLE
    ├── OutcomeUnknown              503   OUTCOME_UNKNOWN
    └── AuthUnavailable             503   AUTH_UNAVAILABLE

Body: {"detail": str, "code": str, "field"?: str, "errors"?: [{"field", "message"}]}.
"""

from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from fastapi.responses import JSONResponse
from pydantic import BaseModel

RETRY_AFTER_SECONDS = "5"

ErrorCode = Literal[
    "UNAUTHENTICATED",
    "TOKEN_EXPIRED",
    "TOKEN_INVALID",
    "FORBIDDEN",
    "NOT_FOUND",
    "METHOD_NOT_ALLOWED",
    "CONFLICT",
    "SYNC_EXPIRED",
    "PRECONDITION_FAILED",
    "PAYLOAD_TOO_LARGE",
    "UNSUPPORTED_MEDIA_TYPE",
    "VALIDATION_ERROR",
    "IDEMPOTENCY_KEY_REUSED",
    "RATE_LIMITED",
    "INTERNAL_ERROR",
    "DATABASE_UNAVAILABLE",
    "OUTCOME_UNKNOWN",
    "AUTH_UNAVAILABLE",
]


class FieldError(BaseModel):
    field: str
    message: str


class ErrorBody(BaseModel):
    detail: str
    code: ErrorCode
    field: str | None = None
    errors: list[FieldError] | None = None


class AppError(Exception):
    """Raise when a request ends in an error the client should see."""

    status_code = 500
    code = "INTERNAL_ERROR"
    detail = "Internal server error"
    default_headers: ClassVar[dict[str, str]] = {}

    def __init__(
        self,
        detail: str | None = None,
        *,
        field: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail or self.detail)
        self.detail = detail or self.detail
        self.field = field
        self.headers = {**self.default_headers, **(headers or {})}


class Unauthenticated(AppError):
    """Raise when a request carries no credentials."""

    status_code = 401
    code = "UNAUTHENTICATED"
    detail = "Authentication required: send Authorization: Bearer <token>"
    default_headers: ClassVar[dict[str, str]] = {"WWW-Authenticate": "Bearer"}


class TokenExpired(Unauthenticated):
    """Raise when the token's `exp` has passed."""

    code = "TOKEN_EXPIRED"
    detail = "Token has expired"


class TokenInvalid(Unauthenticated):
    """Raise when a token is malformed, badly signed, or fails a claim check."""

    code = "TOKEN_INVALID"
    detail = "Token is invalid"


class Forbidden(AppError):
    """Raise when the caller may not act on what the request names."""

    status_code = 403
    code = "FORBIDDEN"
    detail = "Forbidden"


class NotFound(AppError):
    """Raise when a route or a task of this caller does not exist."""

    status_code = 404
    code = "NOT_FOUND"
    detail = "Not found"


class Conflict(AppError):
    """Raise when the same idempotency key's first request is still running."""

    status_code = 409
    code = "CONFLICT"
    detail = "A request with this Idempotency-Key is still running; retry shortly"
    default_headers: ClassVar[dict[str, str]] = {"Retry-After": "1"}


class SyncExpired(AppError):
    """Raise when a sync token is older than TRASH_RETENTION_DAYS: purges it needs are gone."""

    status_code = 410
    code = "SYNC_EXPIRED"
    detail = "This sync token has expired: sync again without `since` to get every task"

    def __init__(self, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(field="since", headers=headers)


class PreconditionFailed(AppError):
    """Raise when `If-Match` names none of the task's current version."""

    status_code = 412
    code = "PRECONDITION_FAILED"
    detail = "If-Match does not match the task's current ETag"


class PayloadTooLarge(AppError):
    """Raise when a request body is over the limit."""

    status_code = 413
    code = "PAYLOAD_TOO_LARGE"
    detail = "Request body is too large"


class UnsupportedMediaType(AppError):
    """Raise when a request body is content-coded (gzip, ...): it is never decoded."""

    status_code = 415
    code = "UNSUPPORTED_MEDIA_TYPE"
    detail = "Content-Encoding is not supported: send the body uncompressed (identity)"
    default_headers: ClassVar[dict[str, str]] = {"Accept-Encoding": "identity"}


class ValidationFailed(AppError):
    """Raise when one input is invalid in a way the schemas cannot express."""

    status_code = 422
    code = "VALIDATION_ERROR"


class IdempotencyKeyReused(ValidationFailed):
    """Raise when an idempotency key comes back with another request."""

    code = "IDEMPOTENCY_KEY_REUSED"
    detail = "This Idempotency-Key was used for another request; use a new key"

    def __init__(self, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(field="Idempotency-Key", headers=headers)


class RateLimited(AppError):
    """Raise when the caller is over RATE_LIMIT_PER_MINUTE."""

    status_code = 429
    code = "RATE_LIMITED"
    detail = "Too many requests; retry after the number of seconds in Retry-After"


class DatabaseUnavailable(AppError):
    """Raise when the database cannot be reached."""

    status_code = 503
    code = "DATABASE_UNAVAILABLE"
    detail = "The database is unavailable; retry shortly"
    default_headers: ClassVar[dict[str, str]] = {"Retry-After": RETRY_AFTER_SECONDS}


class OutcomeUnknown(AppError):
    """Raise when a write's connection broke after the statement was sent."""

    status_code = 503
    code = "OUTCOME_UNKNOWN"
    detail = (
        "The database connection broke after the request was sent: it may have been applied; "
        "retry with the same Idempotency-Key"
    )
    default_headers: ClassVar[dict[str, str]] = {"Retry-After": RETRY_AFTER_SECONDS}


class AuthUnavailable(AppError):
    """Raise when the key set needed to verify a token cannot be fetched."""

    status_code = 503
    code = "AUTH_UNAVAILABLE"
    detail = "The authentication key set is unavailable; retry shortly"
    default_headers: ClassVar[dict[str, str]] = {"Retry-After": RETRY_AFTER_SECONDS}


class DatabaseNotConfigured(RuntimeError):
    """Raise when a deployed function has no DATABASE_URL (a 500 whose log line says so)."""


def error_response(
    status_code: int,
    code: str,
    detail: str,
    *,
    field: str | None = None,
    errors: list[dict[str, str]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {"detail": detail, "code": code}
    if field is not None:
        body["field"] = field
    if errors is not None:
        body["errors"] = errors
    return JSONResponse(body, status_code=status_code, headers=headers)
