"""What a warm instance builds once, on first use: the settings, the engine, the verifier."""

import threading
from collections.abc import Callable
from functools import update_wrapper
from typing import Generic, TypeVar

T = TypeVar("T")


class Once(Generic[T]):
    """`build()` run by the first caller alone; callers that come meanwhile wait for its value.

    `functools.lru_cache` runs the function in every thread that asks before the first
    call returns: concurrent first requests under uvicorn or Vercel would each build an
    engine, and the ones the cache drops would leave their pooled connections open for
    the garbage collector to find.
    """

    def __init__(self, build: Callable[[], T]) -> None:
        self.build = build
        self.value: T | None = None
        self.lock = threading.Lock()
        update_wrapper(self, build, updated=())  # its name and docstring; not its __dict__

    def __call__(self) -> T:
        value = self.value
        if value is None:
            with self.lock:
                if self.value is None:
                    self.value = self.build()
                value = self.value
        return value

    def forget(self) -> T | None:
        """Drop the value, so the next call builds anew; the value dropped, if there was one."""
        with self.lock:
            value, self.value = self.value, None
        return value
