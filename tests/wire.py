"""libpq's trace of what the app's connections send: the round trips, and each message."""

import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from sqlalchemy import Engine, event


class Wire:
    """libpq's own trace of every message the app's connections send and receive."""

    def __init__(self) -> None:
        self.file = tempfile.TemporaryFile()  # noqa: SIM115 (closed by `traced`)

    def start(self, dbapi_connection: Any, *_: Any) -> None:
        dbapi_connection.pgconn.trace(self.file.fileno())
        dbapi_connection.pgconn.set_trace_flags(
            psycopg.pq.Trace.SUPPRESS_TIMESTAMPS | psycopg.pq.Trace.REGRESS_MODE
        )

    def stop(self, dbapi_connection: Any, *_: Any) -> None:
        dbapi_connection.pgconn.untrace()

    def sent(self) -> list[str]:
        """Messages from the client since the last call."""
        self.file.seek(0)
        text = self.file.read().decode()
        self.file.seek(0)
        self.file.truncate()
        messages = re.split(r"\n(?=[FB]\t)", text.strip())  # SQL with newlines spans lines
        return [m.split("\t", 2)[2] for m in messages if m.startswith("F\t")]


def round_trips(messages: list[str]) -> int:
    """Each Sync (extended protocol) or Query (simple protocol) waits for the server."""
    return sum(1 for m in messages if m.startswith(("Sync", "Query")))


@contextmanager
def traced(engine: Engine) -> Iterator[Wire]:
    """The trace of every connection the engine checks out until the block ends."""
    tracer = Wire()
    event.listen(engine, "checkout", tracer.start)
    event.listen(engine, "checkin", tracer.stop)
    try:
        yield tracer
    finally:
        event.remove(engine, "checkout", tracer.start)
        event.remove(engine, "checkin", tracer.stop)
        tracer.file.close()
