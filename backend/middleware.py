"""ASGI middleware: base paths, trailing slashes, CORS, the body limit, the last-resort 500."""

import logging

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backend.config import get_settings
from backend.errors import AppError, PayloadTooLarge, UnsupportedMediaType, error_response

log = logging.getLogger("backend")

MAX_BODY_BYTES = 64 * 1024


class BasePath:
    """Serve the app under a base path (a REST API stage, a custom domain's base path).

    Routes see `/api/...` whether or not the platform left the prefix on the path;
    the prefix becomes the ASGI `root_path`, so the URLs the app writes (`Link`,
    `Location`) carry it.
    """

    def __init__(self, app: ASGIApp, base_path: str) -> None:
        self.app = app
        self.base = "/" + base_path.strip("/") if base_path.strip("/") else ""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.base and scope["type"] == "http":
            path: str = scope["path"]
            if path != self.base and not path.startswith(self.base + "/"):
                path = self.base + path
            scope = {**scope, "root_path": self.base, "path": path}
        await self.app(scope, receive, send)


class StripTrailingSlash:
    """Serve `/api/tasks/` as `/api/tasks`, with no redirect."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and len(path) > 1 and path.endswith("/"):
            scope["path"] = path.rstrip("/") or "/"
        await self.app(scope, receive, send)


class BodyLimit:
    """Refuse a body the API will not read, before anything else (the token included).

    A content-coded body is a 415, never decompressed: 64 KiB of gzip can inflate to
    gigabytes, and the limit counts what arrives. A body over the limit, declared or
    streamed, is a 413.
    """

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refused: AppError | None = None
        if not identity_coded(scope):
            refused = UnsupportedMediaType()
        elif self.declared_length(scope) > self.max_bytes:
            refused = self.too_large()
        if refused is not None:
            response = error_response(
                refused.status_code, refused.code, refused.detail, headers=refused.headers
            )
            await response(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                raise self.too_large()
            return message

        await self.app(scope, limited_receive, send)

    @staticmethod
    def declared_length(scope: Scope) -> int:
        for name, value in scope["headers"]:
            if name == b"content-length":
                return int(value) if value.isdigit() else 0
        return 0

    def too_large(self) -> PayloadTooLarge:
        return PayloadTooLarge(f"Request body is over {self.max_bytes // 1024} KiB")


def identity_coded(scope: Scope) -> bool:
    """Whether every `Content-Encoding` header lists only `identity` (or nothing)."""
    for name, value in scope["headers"]:
        if name == b"content-encoding":
            codings = (coding.strip().lower() for coding in value.split(b","))
            if any(coding not in (b"", b"identity") for coding in codings):
                return False
    return True


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
            log.error("unhandled %s", type(exc).__name__)  # the type only: messages can hold SQL
            if started or scope["type"] != "http":
                raise
            error = AppError()
            await error_response(error.status_code, error.code, error.detail)(scope, receive, send)


class CORS:
    """CORS for the origins in CORS_ORIGINS, read on the first request (settings may need AWS).

    Bearer tokens, not cookies, carry identity: credentials mode stays off.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.cors: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.cors is None:
            try:
                origins = get_settings().allowed_origins
            except Exception as exc:
                # Unreadable settings fail every route that needs them, inside CatchAll and
                # in the error shape; this request goes on without CORS, and the next retries.
                log.error("settings unavailable for CORS: %s", type(exc).__name__)
                await self.app(scope, receive, send)
                return
            self.cors = CORSWithErrorShape(
                self.app,
                allow_origins=origins,
                allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                allow_headers=CORS_REQUEST_HEADERS,
                expose_headers=CORS_RESPONSE_HEADERS,
                max_age=600,
            )
        await self.cors(scope, receive, send)


class CORSWithErrorShape(CORSMiddleware):
    """Starlette's CORS, but a refused preflight is a 403 in the one error shape."""

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code == 200:
            return response
        refused = bytes(response.body).decode().removeprefix("Disallowed CORS ")
        headers = {k: v for k, v in response.headers.items() if k.startswith("access-control")}
        return error_response(
            403, "FORBIDDEN", f"CORS preflight refused: {refused} not allowed", headers=headers
        )


CORS_REQUEST_HEADERS = [
    "Authorization",
    "Content-Type",
    "If-Match",
    "If-None-Match",
    "Idempotency-Key",
    "X-Request-ID",
]
CORS_RESPONSE_HEADERS = [
    "ETag",
    "Location",
    "Link",
    "Retry-After",
    "RateLimit",
    "RateLimit-Policy",
    "Idempotent-Replayed",
    "Server-Timing",
    "X-Request-ID",
]
