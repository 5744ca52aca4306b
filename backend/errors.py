"""The error tree and the handlers that give every error one body shape.

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

import logging
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute, iter_route_contexts
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException

from backend.recurrence import CONSTRAINT_FIELDS, CONSTRAINT_MESSAGES

log = logging.getLogger("backend")

RETRY_AFTER_SECONDS = "5"


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


# For HTTP errors raised by FastAPI or a route; 404 and 405 have their own answers below.
STATUS_CODES = {
    401: "UNAUTHENTICATED",
    403: "FORBIDDEN",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    422: "VALIDATION_ERROR",
}


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


def field_name(loc: Sequence[int | str]) -> str | None:
    """`("body", "tags", 2)` -> `"tags.2"`; the request part alone names no field.

    FastAPI starts every request validation error's `loc` with the part: body, query, ...
    """
    return ".".join(str(p) for p in loc[1:]) or None


def validation_message(error: dict[str, Any]) -> str:
    kind = error.get("type")
    if kind == "json_invalid":
        return (
            f"Request body is not valid JSON: {error.get('ctx', {}).get('error', 'decode error')}"
        )
    if kind == "extra_forbidden":
        return "Unknown or read-only field"
    if kind == "missing" and tuple(error.get("loc", ())) == ("body",):
        return "Request body is required"
    message = str(error.get("msg", "Invalid value"))
    return message.removeprefix("Value error, ")


async def handle_app_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    errors = None
    if isinstance(exc, ValidationFailed):
        errors = [{"field": exc.field or "", "message": exc.detail}]
    return error_response(
        exc.status_code,
        exc.code,
        exc.detail,
        field=exc.field,
        errors=errors,
        headers=exc.headers,
    )


async def handle_validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = []
    for error in exc.errors():
        loc = tuple(error.get("loc", ()))
        name = None if error.get("type") == "json_invalid" else field_name(loc)
        errors.append({"field": name or "", "message": validation_message(error)})
    fields = {e["field"] for e in errors}
    field = fields.pop() if len(fields) == 1 else None
    detail = errors[0]["message"] if len(errors) == 1 else f"{len(errors)} inputs are invalid"
    if field and len(errors) == 1:
        detail = f"{field}: {detail}"
    return error_response(422, "VALIDATION_ERROR", detail, field=field or None, errors=errors)


async def handle_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return error_response(404, "NOT_FOUND", f"No route for {request.url.path}")
    if exc.status_code == 405:
        allow = ", ".join(allowed_methods(request))
        return error_response(
            405,
            "METHOD_NOT_ALLOWED",
            f"{request.method} is not allowed here; allowed: {allow}",
            headers={"Allow": allow},
        )
    if exc.status_code == 400:  # the framework could not read the request: invalid input
        detail = str(exc.detail)
        errors = [{"field": "", "message": detail}]
        return error_response(422, "VALIDATION_ERROR", detail, errors=errors)
    code = STATUS_CODES.get(exc.status_code, "ERROR")
    return error_response(exc.status_code, code, str(exc.detail), headers=exc.headers)


def allowed_methods(request: Request) -> list[str]:
    """Every method a route serves at this path, matched as the router matches it."""
    path = request.scope["path"].removeprefix(request.scope.get("root_path", ""))
    methods: set[str] = set()
    for context in iter_route_contexts(request.app.routes):
        if isinstance(context.route, APIRoute) and context.route.path_regex.match(path):
            methods.update(context.methods or ())
    return sorted(methods)


def refused_input(exc: DBAPIError) -> JSONResponse | None:
    """A table check that only the stored row could fail (`PATCH {"due_at": null}` on a
    recurring task): the client's input, so a 422 naming the field, never a 500."""
    if not isinstance(exc, IntegrityError):
        return None
    constraint = getattr(getattr(exc.orig, "diag", None), "constraint_name", None)
    if constraint not in CONSTRAINT_FIELDS:
        return None
    field, message = CONSTRAINT_FIELDS[constraint], CONSTRAINT_MESSAGES[constraint]
    errors = [{"field": field, "message": message}]
    return error_response(
        422, "VALIDATION_ERROR", f"{field}: {message}", field=field, errors=errors
    )


async def handle_database_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DBAPIError)
    refused = refused_input(exc)
    if refused is not None:
        return refused
    log.error("database error: %s", type(exc.orig).__name__)
    if exc.connection_invalidated or is_connection_error(exc):
        error: AppError = DatabaseUnavailable()
    else:
        error = AppError()
    return error_response(error.status_code, error.code, error.detail, headers=error.headers)


def is_connection_error(exc: DBAPIError) -> bool:
    return isinstance(exc.orig, psycopg.OperationalError)


async def handle_pool_timeout(_: Request, exc: Exception) -> JSONResponse:
    """No pooled connection came free in time (outside statements.run): not a bug, a 503."""
    log.error("database unavailable: no pooled connection came free in time")
    error = DatabaseUnavailable()
    return error_response(error.status_code, error.code, error.detail, headers=error.headers)


async def handle_misconfiguration(_: Request, exc: Exception) -> JSONResponse:
    """A deployment without DATABASE_URL: say so in the log, not to the client."""
    log.error("%s", exc)
    error = AppError()
    return error_response(error.status_code, error.code, error.detail)


def install(app: FastAPI) -> None:
    app.add_exception_handler(AppError, handle_app_error)
    app.add_exception_handler(RequestValidationError, handle_validation_error)
    app.add_exception_handler(HTTPException, handle_http_error)
    app.add_exception_handler(DBAPIError, handle_database_error)
    app.add_exception_handler(PoolTimeout, handle_pool_timeout)
    app.add_exception_handler(DatabaseNotConfigured, handle_misconfiguration)
