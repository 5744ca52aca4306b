"""The error tree and the handlers that give every error one body shape.

    AppError                      status  code
    ├── Unauthenticated             401   UNAUTHENTICATED
    │   ├── TokenExpired            401   TOKEN_EXPIRED
    │   └── TokenInvalid            401   TOKEN_INVALID
    ├── Forbidden                   403   FORBIDDEN
    ├── NotFound                    404   NOT_FOUND
    ├── PayloadTooLarge             413   PAYLOAD_TOO_LARGE
    ├── ValidationFailed            422   VALIDATION_ERROR
    ├── DatabaseUnavailable         503   DATABASE_UNAVAILABLE
    └── AuthUnavailable             503   AUTH_UNAVAILABLE

Body: {"detail": str, "code": str, "field"?: str, "errors"?: [{"field", "message"}]}.
"""

import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException

log = logging.getLogger("backend")

RETRY_AFTER_SECONDS = "5"


class AppError(Exception):
    """Raise when a request ends in an error the client should see."""

    status_code = 500
    code = "INTERNAL_ERROR"
    detail = "Internal server error"
    headers: ClassVar[dict[str, str] | None] = None

    def __init__(self, detail: str | None = None, *, field: str | None = None) -> None:
        super().__init__(detail or self.detail)
        self.detail = detail or self.detail
        self.field = field


class Unauthenticated(AppError):
    """Raise when a request carries no credentials."""

    status_code = 401
    code = "UNAUTHENTICATED"
    detail = "Authentication required: send Authorization: Bearer <token>"
    headers: ClassVar[dict[str, str] | None] = {"WWW-Authenticate": "Bearer"}


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


class PayloadTooLarge(AppError):
    """Raise when a request body is over the limit."""

    status_code = 413
    code = "PAYLOAD_TOO_LARGE"
    detail = "Request body is too large"


class ValidationFailed(AppError):
    """Raise when one input is invalid in a way the schemas cannot express."""

    status_code = 422
    code = "VALIDATION_ERROR"


class DatabaseUnavailable(AppError):
    """Raise when the database cannot be reached."""

    status_code = 503
    code = "DATABASE_UNAVAILABLE"
    detail = "The database is unavailable; retry shortly"
    headers: ClassVar[dict[str, str] | None] = {"Retry-After": RETRY_AFTER_SECONDS}


class AuthUnavailable(AppError):
    """Raise when the key set needed to verify a token cannot be fetched."""

    status_code = 503
    code = "AUTH_UNAVAILABLE"
    detail = "The authentication key set is unavailable; retry shortly"
    headers: ClassVar[dict[str, str] | None] = {"Retry-After": RETRY_AFTER_SECONDS}


class DatabaseNotConfigured(RuntimeError):
    """Raise when a deployed function has no DATABASE_URL (a 500 whose log line says so)."""


# For HTTP errors raised by FastAPI or a route; 404 and 405 have their own answers below.
STATUS_CODES = {
    400: "BAD_REQUEST",
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
    code = STATUS_CODES.get(exc.status_code, "ERROR")
    return error_response(exc.status_code, code, str(exc.detail), headers=exc.headers)


def allowed_methods(request: Request) -> list[str]:
    """Every method served at this path, from the OpenAPI paths (computed once, cached)."""
    path = request.scope["path"]
    methods: set[str] = set()
    for template, operations in request.app.openapi()["paths"].items():
        if re.fullmatch(PARAMETER.sub("[^/]+", template), path):
            methods.update(method.upper() for method in operations)
    return sorted(methods)


PARAMETER = re.compile(r"\{[^}]+\}")


async def handle_database_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DBAPIError)
    log.error("database error: %s", type(exc.orig).__name__)
    if exc.connection_invalidated or is_connection_error(exc):
        error: AppError = DatabaseUnavailable()
    else:
        error = AppError()
    return error_response(error.status_code, error.code, error.detail, headers=error.headers)


def is_connection_error(exc: DBAPIError) -> bool:
    return isinstance(exc.orig, psycopg.OperationalError)


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
    app.add_exception_handler(DatabaseNotConfigured, handle_misconfiguration)
