"""Server-Timing: the time a request spent in its statement (`db`) and in the app (`app`)."""

from contextvars import ContextVar
from time import perf_counter

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class Spent:
    """Seconds spent in statements by one request; shared by reference with its worker threads.

    A sync route runs in a worker thread on a copy of the request's context: a value set
    there would not come back, but this object is the same one on both sides.
    """

    __slots__ = ("db", "statements")

    def __init__(self) -> None:
        self.db = 0.0
        self.statements = 0


SPENT: ContextVar[Spent | None] = ContextVar("server_timing", default=None)


class Measured:
    """`with Measured():` adds the block's duration to the current request's `db`."""

    __slots__ = ("started",)

    def __enter__(self) -> None:
        self.started = perf_counter()

    def __exit__(self, *_: object) -> None:
        spent = SPENT.get()
        if spent is not None:
            spent.db += perf_counter() - self.started
            spent.statements += 1


def header(spent: Spent, total: float) -> bytes:
    """`db;dur=1.2, app;dur=0.4` in milliseconds; no `db` when no statement ran."""
    app = max(0.0, total - spent.db) * 1000
    if not spent.statements:
        return f"app;dur={app:.1f}".encode()
    return f"db;dur={spent.db * 1000:.1f}, app;dur={app:.1f}".encode()


class ServerTiming:
    """Add `Server-Timing` to every HTTP response, measured up to the response's start."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = perf_counter()
        spent = Spent()
        token = SPENT.set(spent)

        async def send_with_timing(message: Message) -> None:
            if message["type"] == "http.response.start":
                timing = (b"server-timing", header(spent, perf_counter() - started))
                message["headers"] = [*message.get("headers", []), timing]
            await send(message)

        try:
            await self.app(scope, receive, send_with_timing)
        finally:
            SPENT.reset(token)
