"""Where a route's blocking work runs: inline on AWS Lambda, on a worker thread elsewhere.

Lambda hands an instance one event at a time, so while a statement runs its event loop
has nothing else to serve: a worker thread would only cost its start, on every
invocation (Mangum runs each one as a new root task, and anyio's idle workers end with
it). Under uvicorn and Vercel's runtime one process serves concurrent requests, and a
statement or a key set fetch must not hold the loop: it runs on anyio's worker threads.

The Lambda entry marks its invocations with `inline()`; the mark is a context variable,
which the invocation's task copies when Mangum creates it, so nothing else ever sees it.
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import ParamSpec, TypeVar

from starlette.concurrency import run_in_threadpool

P = ParamSpec("P")
T = TypeVar("T")

INLINE: ContextVar[bool] = ContextVar("inline_blocking_work", default=False)


@contextmanager
def inline() -> Iterator[None]:
    """Inside, blocking work runs on the caller's thread: one request per process at a time."""
    token = INLINE.set(True)
    try:
        yield
    finally:
        INLINE.reset(token)


async def blocking(function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """`function(*args, **kwargs)`, which blocks (a statement, a fetch), off the event loop
    wherever the loop serves other requests meanwhile."""
    if INLINE.get():
        return function(*args, **kwargs)
    return await run_in_threadpool(function, *args, **kwargs)
