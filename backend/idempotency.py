"""Idempotency keys (IETF `Idempotency-Key` draft): the header's rules and a request's fingerprint.

The outcome itself is stored and replayed by the request's own statement (`envelope`).
"""

import hashlib
import json
import re

from starlette.requests import Request

from backend.errors import ValidationFailed

KEY = re.compile(r"[\x21-\x7e]{1,255}")
"""1 to 255 visible ASCII characters."""


def idempotency_key(request: Request) -> str | None:
    values = request.headers.getlist("idempotency-key")
    if not values:
        return None
    if len(values) > 1 or not KEY.fullmatch(values[0]):
        raise ValidationFailed(
            "Idempotency-Key must be one value of 1 to 255 visible ASCII characters",
            field="Idempotency-Key",
        )
    return values[0]


def fingerprint(method: str, path: str, body: bytes) -> str:
    """Method, path and the parsed JSON body: key order and spacing do not matter."""
    try:
        parsed = json.loads(body) if body.strip() else None
    except (ValueError, RecursionError):  # not JSON: the bytes themselves
        parsed = {"bytes": body.hex()}
    canonical = json.dumps([method, path, parsed], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def canonical_path(path: str, user_id: str) -> str:
    """`/api/{user_id}/tasks...` (the caller's own id) in its `/api/tasks...` form."""
    prefix = f"/api/{user_id}/tasks"
    if path == prefix or path.startswith(prefix + "/"):
        return "/api/tasks" + path.removeprefix(prefix)
    return path
