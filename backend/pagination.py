"""Keyset paging: opaque cursors (never an OFFSET) and the `Link` to the next page."""

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from starlette.requests import Request

from backend import parsing
from backend.errors import ValidationFailed
from backend.schemas import is_text

Sort = Literal["created_at", "updated_at", "due_at", "priority", "title"]
Order = Literal["asc", "desc"]
SortValue = str | int | datetime | None

TIME_SORTS = ("created_at", "updated_at", "due_at", "deleted_at")
"""`deleted_at` is the trash's one order."""


@dataclass(frozen=True)
class Cursor:
    """The sort it belongs to, and the sort value and id of the last row served."""

    sort: str
    order: str
    value: SortValue
    id: int

    def encode(self) -> str:
        value = self.value.isoformat() if isinstance(self.value, datetime) else self.value
        raw = json.dumps([self.sort, self.order, value, self.id], separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str, sort: str, order: str) -> "Cursor":
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            cursor_sort, cursor_order, value, last_id = parsing.loads(raw)
            cursor = cls(cursor_sort, cursor_order, parse_value(cursor_sort, value), last_id)
        except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
            raise ValidationFailed("cursor is malformed", field="cursor") from None
        if (cursor.sort, cursor.order) != (sort, order):
            raise ValidationFailed(
                "cursor belongs to another sort or order; start again without it", field="cursor"
            )
        if type(last_id) is not int or not 1 <= last_id < 2**63:
            raise ValidationFailed("cursor is malformed", field="cursor")
        return cursor


def parse_value(sort: str, value: object) -> SortValue:
    if value is None and sort == "due_at":
        return None
    if sort in TIME_SORTS and isinstance(value, str):
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            raise ValueError("naive time")
        return parsed
    if sort == "priority" and type(value) is int and 1 <= value <= 3:
        return value
    if sort == "title" and isinstance(value, str) and is_text(value):
        return value
    raise ValueError(f"bad {sort} value")


def next_link(request: Request, cursor: Cursor | None) -> dict[str, Any]:
    """`Link: <URL>; rel="next"` (RFC 8288): the URL the client called, with the next cursor.

    Absolute, so that a browser on another origin follows it as is; the path keeps the
    form the client used and any base path in front of `/api`.
    """
    if cursor is None:
        return {}
    return {"Link": f'<{request.url.include_query_params(cursor=cursor.encode())}>; rel="next"'}
