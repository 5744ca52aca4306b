"""Lambda SnapStart: what to warm before the snapshot, and what no restored instance may share.

A snapshot is taken once, after init, and restored for many instances. Before it, the
hook warms what every request needs and holds nothing unique (no connection is opened).
After each restore, the hook drops whatever a snapshot could have copied into several
instances at once: pooled connections, settings and key sets read with a lifetime (a
secret rotates; a key set's age is wall-clock), and the random generator's state.

`snapshot_restore_py` comes with Lambda's Python runtime; elsewhere (tests, uvicorn,
Vercel) it is absent and registering does nothing.
"""

import importlib
import logging
import random
from collections.abc import Callable

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
    """Import what requests import; build every route's state (built on first use
    otherwise, `lazy_routes`) and the middleware stack; open nothing."""
    for name in WARM_MODULES:
        importlib.import_module(name)
    from backend.lazy_routes import build_all
    from backend.main import app

    build_all(app.routes)
    if app.middleware_stack is None:  # Starlette builds it on the first request otherwise
        app.middleware_stack = app.build_middleware_stack()


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
