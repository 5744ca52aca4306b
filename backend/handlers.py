"""The exception handlers that give every error, the framework's own included, one body shape."""

import logging
from collections.abc import Sequence
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute, iter_route_contexts
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException

from backend.errors import (
    AppError,
    DatabaseNotConfigured,
    DatabaseUnavailable,
    ValidationFailed,
    error_response,
)
from backend.recurrence import CONSTRAINT_FIELDS, CONSTRAINT_MESSAGES

log = logging.getLogger("backend")

# For HTTP errors raised by FastAPI or a route; 404 and 405 have their own answers below.
STATUS_CODES = {
    401: "UNAUTHENTICATED",
    403: "FORBIDDEN",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    422: "VALIDATION_ERROR",
}


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
