"""Liveness and database readiness, open to anyone."""

import threading
from weakref import WeakKeyDictionary

import anyio
from sqlalchemy import Engine, text

from backend.db import get_engine
from backend.execution import blocking
from backend.routes import error_responses, routes_at
from backend.schemas import Health
from backend.statements import run

router = routes_at("/api/health", tags=["health"])

POLL_SECONDS = 0.02
SELECT_ONE = text("SELECT 1")


class Readiness:
    """One database check at a time per engine; callers that come while it runs share its answer.

    Anyone may call the health check. However many do, they hold at most one pooled
    connection and one worker thread between them (the others wait on the event loop),
    so they cannot starve the request path of either.
    """

    def __init__(self) -> None:
        self.running = threading.Lock()
        self.finished = 0
        self.failure: Exception | None = None

    async def check(self, engine: Engine) -> None:
        started = self.finished
        while not self.running.acquire(blocking=False):
            await anyio.sleep(POLL_SECONDS)  # bounded: the running check has a deadline
            if self.finished != started:
                return self.outcome()
        try:
            if self.finished != started:  # one finished just before this caller got the lock
                return self.outcome()
            await self.run_check(engine)
        finally:
            self.running.release()

    async def run_check(self, engine: Engine) -> None:
        try:
            await blocking(run, engine, SELECT_ONE, write=False)
            self.failure = None
        except Exception as exc:
            self.failure = exc
            raise
        finally:
            self.finished += 1

    def outcome(self) -> None:
        if self.failure is not None:
            raise self.failure.with_traceback(None)


READINESS: WeakKeyDictionary[Engine, Readiness] = WeakKeyDictionary()
READINESS_LOCK = threading.Lock()


def readiness(engine: Engine) -> Readiness:
    with READINESS_LOCK:
        return READINESS.setdefault(engine, Readiness())


@router.get("", responses=error_responses())
async def health() -> Health:
    """The function is up; touches no database."""
    return Health(status="ok")


@router.get("/db", responses=error_responses(503))
async def health_db() -> Health:
    """The database answers one query."""
    db = get_engine()
    await readiness(db).check(db)
    return Health(status="ok")
