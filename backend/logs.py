"""One JSON log line per request, and the request id that ties a request's lines together."""

import json
import logging
import re
import sys
import time
import uuid
from contextvars import ContextVar
from typing import Any

from pydantic_core import PydanticSerializationError, to_json
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID = ContextVar("request_id", default="-")
SAFE_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")

log = logging.getLogger("backend.access")


class JsonLines(logging.Formatter):
    """Each record as one JSON object; only the fields a call names, never an exception's text."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {"level": record.levelname.lower(), "request_id": REQUEST_ID.get()}
        line.update(getattr(record, "fields", None) or {"message": record.getMessage()})
        try:  # pydantic's core writes it several times faster than `json`
            return to_json(line, fallback=str).decode()
        except PydanticSerializationError:  # a lone surrogate, which `json` escapes
            return json.dumps(line, separators=(",", ":"), default=str)


def configure() -> None:
    """Send the app's records to stdout (what Lambda and Vercel collect) as JSON lines."""
    app_log = logging.getLogger("backend")
    # A line names no thread, process, task or source line, so no record looks them up
    # (the logging HOWTO's "Optimization"): a fifth of what a line cost.
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    if sys.version_info >= (3, 12):
        logging.logAsyncioTasks = False
    logging._srcfile = None
    if not app_log.handlers:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(JsonLines())
        app_log.addHandler(handler)
        app_log.setLevel(logging.INFO)
        app_log.propagate = False


def request_id(scope: Scope) -> str:
    """Lambda's request id, Vercel's, the caller's X-Request-ID if sane, or a new one."""
    context = scope.get("aws.context")
    if context is not None and getattr(context, "aws_request_id", None):
        return str(context.aws_request_id)
    headers: dict[bytes, bytes] = dict(scope.get("headers", []))
    for name in (b"x-vercel-id", b"x-request-id"):
        value = headers.get(name, b"").decode("latin-1")
        if SAFE_ID.fullmatch(value):
            return value
    return uuid.uuid4().hex


class RequestLog:
    """Log method, route template, status, duration and user of every request; echo its id."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        rid = request_id(scope)
        token = REQUEST_ID.set(rid)
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            log.info("request", extra={"fields": access_fields(scope, status, started)})
            REQUEST_ID.reset(token)


def access_fields(scope: Scope, status: int, started: float) -> dict[str, Any]:
    """What a request log line says: no raw path or query (either may carry a token)."""
    route = scope.get("route")
    user = getattr(scope.get("state", {}).get("user"), "id", None)
    return {
        "method": scope["method"],
        "route": getattr(route, "path_format", None),
        "status": status,
        "duration_ms": round((time.perf_counter() - started) * 1000, 2),
        "user_id": user,
    }
