"""The AWS Lambda entries named in serverless.yml: the app under Mangum, and the daily purge.

`API_BASE_PATH` serves the app under a REST API stage or custom-domain base path
(for example `/prod`): routes keep their `/api/...` paths, and the URLs the app
writes carry the prefix.

Mangum raises on events it cannot translate into a request: a body that is not base64,
a `null` header map, text that is not valid Unicode. `handler` treats a null map as
empty, answers an undecodable request with a 422 and anything else Mangum raises with a
500, in the one error shape, so an invocation always returns an HTTP response.
"""

import base64
import binascii
import logging
import os
from functools import cached_property
from itertools import chain
from typing import Any

from mangum import Mangum
from mangum.handlers import HTTPGateway
from mangum.types import Response, Scope

from backend import execution
from backend.config import require_database
from backend.errors import AppError, ValidationFailed, error_response
from backend.main import app
from backend.middleware import BasePath
from backend.snapstart import register as register_snapstart_hooks

log = logging.getLogger("backend")

Event = dict[str, Any]

MAPS = ("headers", "multiValueHeaders", "queryStringParameters", "multiValueQueryStringParameters")


class UndecodableEvent(ValueError):
    """Raise when an event's request cannot be decoded into bytes."""


def readable(event: Event) -> Event:
    """The event with null maps emptied, once every part Mangum decodes is known to decode."""
    clean = dict(event)
    for name in MAPS:
        if name in clean and clean[name] is None:
            clean[name] = {}
    if clean.get("rawQueryString", "") is None:
        clean["rawQueryString"] = ""
    for name in ("headers", "multiValueHeaders", "cookies"):
        text(clean.get(name), "Request headers are not valid text")
    for name in ("queryStringParameters", "multiValueQueryStringParameters", "rawQueryString"):
        text(clean.get(name), "Query string is not valid UTF-8 text")
    context = clean.get("requestContext")
    http = context.get("http") if isinstance(context, dict) else None
    for path in (clean.get("path"), http.get("path") if isinstance(http, dict) else None):
        text(path, "Request path is not valid UTF-8 text")
    body = clean.get("body")
    if body is not None and not isinstance(body, str):
        raise UndecodableEvent("Request body is not text or base64")
    if body and clean.get("isBase64Encoded"):
        try:
            base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise UndecodableEvent("Request body is not valid base64") from None
    elif body:
        text(body, "Request body is not valid UTF-8 text")
    return clean


def text(value: object, fault: str) -> None:
    """Refuse a part that is not text as AWS sends it: a string, a list of strings, or a map
    of strings to strings or lists of strings, all UTF-8 encodable (no lone surrogates)."""
    if value is None:
        return
    try:  # one join and one encode: `join` refuses what is not a string
        "".join(strings(value)).encode("utf-8")  # type: ignore[arg-type]
    except (TypeError, UnicodeEncodeError):
        raise UndecodableEvent(fault) from None


def strings(value: object) -> list[object]:
    """The part's strings, and anything in their place that is not one."""
    if isinstance(value, dict):
        try:  # a map of strings to strings, as most events' are
            return [*value, "".join(value.values())]
        except TypeError:  # to lists of strings too, or to something else
            values = (item if isinstance(item, list) else [item] for item in value.values())
            return [*value, *chain.from_iterable(values)]
    return list(value) if isinstance(value, list) else [value]


def answer(event: Event, context: Any, error: AppError) -> Event:
    """`error` in the one shape, in the response format of the event's source."""
    errors = (
        [{"field": "", "message": error.detail}] if isinstance(error, ValidationFailed) else None
    )
    response = error_response(error.status_code, error.code, error.detail, errors=errors)
    message = Response(
        status=response.status_code,
        headers=[list(header) for header in response.raw_headers],
        body=bytes(response.body),
    )
    bare = {**event, "headers": {}, "cookies": None, "body": None, "isBase64Encoded": False}
    bare["rawQueryString"] = ""
    bare.update({name: {} for name in MAPS[1:] if name in event})
    try:
        formatted: Event = adapter.infer(bare, context)(message)
    except Exception:  # not an event Mangum knows: API Gateway's format is the common one
        return {
            "statusCode": response.status_code,
            "headers": {"content-type": "application/json"},
            "body": bytes(response.body).decode(),
            "isBase64Encoded": False,
        }
    return formatted


class HTTPAPI(HTTPGateway):
    """Mangum's handler of HTTP API and function URL events, building a request's scope once.

    Mangum's own builds it a second time, to read the event's version as it answers.
    """

    @cached_property
    def scope(self) -> Scope:
        return super().scope


def handler(event: Event, context: Any) -> Event:
    if not isinstance(event, dict):  # not from an HTTP source at all
        return answer({}, context, AppError())
    try:
        request = readable(event)
    except UndecodableEvent as exc:
        log.warning("undecodable Lambda event: %s", exc)
        return answer(event, context, ValidationFailed(str(exc)))
    try:
        with execution.inline():  # one event at a time: nothing for a worker thread to spare
            response: Event = adapter(request, context)
    except Exception as exc:
        log.error("unhandled %s in the Lambda adapter", type(exc).__name__)
        return answer(request, context, AppError())
    return response


def purge(event: Event, context: Any) -> dict[str, int]:
    """The scheduled job (an EventBridge rule): delete tasks trashed past TRASH_RETENTION_DAYS."""
    from backend import trash
    from backend.db import get_engine

    return {"purged": trash.purge_expired(get_engine())}


require_database()
adapter = Mangum(
    BasePath(app, os.environ.get("API_BASE_PATH", "")), lifespan="off", custom_handlers=[HTTPAPI]
)
register_snapstart_hooks()
