"""JSON from clients (bodies, cursors), parsed within bounds: never a RecursionError or a 5xx.

Python's `json` recurses once per level of nesting, converts integers of any length, and
accepts `NaN` and `Infinity`; a hostile client can use each. `loads` refuses them all with
`json.JSONDecodeError`, which FastAPI answers as a 422 like any other malformed body.
"""

import json
import math
import re
from typing import Any

from starlette.requests import Request

MAX_DEPTH = 32
MAX_INTEGER_DIGITS = 100

STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
NOT_BRACKET = re.compile(r"[^\[\]{}]+")


def loads(data: bytes | str) -> Any:
    """Parse UTF-8 JSON nested at most MAX_DEPTH deep, with finite, bounded numbers."""
    try:
        text = data.decode("utf-8-sig") if isinstance(data, bytes) else data
    except UnicodeDecodeError:
        raise json.JSONDecodeError("it is not UTF-8 text", "", 0) from None
    if too_deep(text):
        raise json.JSONDecodeError(f"it is nested deeper than {MAX_DEPTH} levels", text, 0)
    try:
        return json.loads(
            text, parse_int=bounded_int, parse_float=finite_float, parse_constant=no_constant
        )
    except json.JSONDecodeError:
        raise
    except ValueError as exc:
        raise json.JSONDecodeError(str(exc), text, 0) from None


def too_deep(text: str) -> bool:
    """Whether any bracket outside a string opens level MAX_DEPTH + 1 (checked before parsing)."""
    level = 0
    for bracket in NOT_BRACKET.sub("", STRING.sub("", text)):
        level += 1 if bracket in "[{" else -1
        if level > MAX_DEPTH:
            return True
    return False


def bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INTEGER_DIGITS:
        raise ValueError(f"an integer has more than {MAX_INTEGER_DIGITS} digits")
    return int(text)


def finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("a number is too large")
    return value


def no_constant(text: str) -> float:
    raise ValueError(f"{text} is not JSON")


class BoundedJSONRequest(Request):
    """A request whose `json()` (what FastAPI parses a body with) is `loads`."""

    async def json(self) -> Any:
        return loads(await self.body())
