"""ASGI middleware: trailing slashes, the body limit, and the last-resort 500."""

import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backend.errors import AppError, PayloadTooLarge, error_response

log = logging.getLogger("backend")

MAX_BODY_BYTES = 64 * 1024


class StripTrailingSlash:
    """Serve `/api/tasks/` as `/api/tasks`, with no redirect."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and len(path) > 1 and path.endswith("/"):
            scope = {**scope, "path": path.rstrip("/") or "/"}
        await self.app(scope, receive, send)


class BodyLimit:
    """Refuse a body over the limit before anything else, declared or streamed."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.declared_length(scope) > self.max_bytes:
            await self.refuse(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                raise PayloadTooLarge(f"Request body is over {self.max_bytes // 1024} KiB")
            return message

        await self.app(scope, limited_receive, send)

    @staticmethod
    def declared_length(scope: Scope) -> int:
        for name, value in scope["headers"]:
            if name == b"content-length":
                return int(value) if value.isdigit() else 0
        return 0

    async def refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        error = PayloadTooLarge(f"Request body is over {self.max_bytes // 1024} KiB")
        await error_response(error.status_code, error.code, error.detail)(scope, receive, send)


class CatchAll:
    """Answer any unhandled exception with a bare 500 and log its type only: no trace, no SQL."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            log.error("unhandled %s", type(exc).__name__)
            if started or scope["type"] != "http":
                raise
            error = AppError()
            await error_response(error.status_code, error.code, error.detail)(scope, receive, send)
