"""Lambda SnapStart: what to warm before the snapshot, and what no restored instance may share.

A snapshot is taken once, after init, and restored for many instances. Before it, the
hook warms what every request needs and holds nothing unique (no connection is opened).
After each restore, the hook drops whatever a snapshot could have copied into several
instances at once: pooled connections, settings and key sets read with a lifetime (a
secret rotates; a key set's age is wall-clock), and the random generator's state.

`snapshot_restore_py` comes with Lambda's Python runtime; elsewhere (tests, uvicorn,
Vercel) it is absent and registering does nothing.
"""

import asyncio
import importlib
import logging
import random
from collections.abc import Callable
from typing import Any

log = logging.getLogger("backend")

# What a request or the purge imports past `backend.lambda_handler`, lazily or on first use.
WARM_MODULES = (
    "backend.trash",
    "backend.recurrence",
    "backend.routes.tasks",
    "backend.routes.trash",
    "backend.routes.cron",
    "sqlalchemy.dialects.postgresql.psycopg",
    "sqlalchemy.sql.default_comparator",
    "psycopg.types.json",
    "jwt.algorithms",
    "cryptography.hazmat.primitives.asymmetric.ed25519",
    "cryptography.hazmat.primitives.asymmetric.ec",
    "cryptography.hazmat.primitives.asymmetric.rsa",
    "anyio._backends._asyncio",  # the worker threads of sync routes
    "anyio.streams.memory",
    "anyio.streams.stapled",
    "anyio.streams.tls",
    "encodings.utf_8_sig",
)

Hook = Callable[[], None]


def before_snapshot() -> None:
    """Import what requests import; build the middleware stack and routes' state; open nothing."""
    for name in WARM_MODULES:
        importlib.import_module(name)
    from backend.main import app

    if app.middleware_stack is None:  # Starlette builds it on the first request otherwise
        app.middleware_stack = app.build_middleware_stack()
    route_nowhere(app.router)


# Under each prefix, a path no route matches: the router tries every route it holds.
NOWHERE = ("/api/health/~", "/api/me/~", "/api/tasks/~/~/~", "/api/~/tasks/~/~/~", "/api/cron/~")


def route_nowhere(router: Any) -> None:
    """Walk the router with paths that match nothing: FastAPI builds each included route's state
    on its first walk. The router alone: no middleware, no log line, no settings, no I/O."""

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(_: Any) -> None:
        return None

    async def walk() -> None:
        for path in NOWHERE:
            scope: dict[str, Any] = {"type": "http", "method": "GET", "path": path}
            scope.update(root_path="", raw_path=path.encode(), query_string=b"", headers=[])
            await router(scope, receive, send)  # a 404; without "app" in scope, not raised

    loop = asyncio.new_event_loop()  # its own: Mangum's loop stays the process's current one
    try:
        loop.run_until_complete(walk())
    finally:
        loop.close()


def after_restore() -> None:
    """Forget every connection and every cached secret; give this instance its own randomness."""
    from backend import auth, config, db

    db.drop_engine()  # a restored socket leads nowhere: closing it sends nothing
    config.get_settings.forget()
    auth.get_verifier.forget()
    random.seed()


def register() -> bool:
    """Register both hooks with the runtime; False where there is no SnapStart runtime."""
    try:
        from snapshot_restore_py import (  # type: ignore[import-not-found]
            register_after_restore,
            register_before_snapshot,
        )
    except ImportError:
        return False
    register_before_snapshot(before_snapshot)
    register_after_restore(after_restore)
    return True
