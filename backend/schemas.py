"""Request and response bodies: what the API accepts and returns, with every limit."""

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StrictBool,
    StringConstraints,
    WithJsonSchema,
)

Priority = Literal["low", "medium", "high"]

MAX_TAGS = 10


def is_text(value: str) -> bool:
    """Text PostgreSQL can store: no NUL, and valid UTF-8 (no lone surrogates)."""
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def plain_text(value: str) -> str:
    if not is_text(value):
        raise ValueError("must be valid Unicode text without the NUL character")
    return value


RFC_3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?"
    r"(?:[Zz]|[+-][0-9]{2}:[0-9]{2})"
)


def rfc3339_text(value: object) -> object:
    """Only RFC 3339's form reaches pydantic, whose parser would also take numbers and more."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not RFC_3339.fullmatch(value):
        raise ValueError(
            "must be an RFC 3339 date-time with seconds and a UTC offset (Z or +hh:mm), "
            "such as 2030-01-01T09:00:00Z"
        )
    return value


def to_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("must fall within years 1 to 9999 in UTC") from None


def utc_text(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def clean_tags(values: list[str]) -> list[str]:
    tags = list(dict.fromkeys(v.strip().lower() for v in values))
    for tag in tags:
        if not 1 <= len(tag) <= 30:
            raise ValueError("each tag must be 1 to 30 characters after trimming")
    if len(tags) > MAX_TAGS:
        raise ValueError(f"at most {MAX_TAGS} distinct tags")
    return tags


# The documented schemas state the limits as enforced; JSON Schema cannot say "after
# trimming", so they are as strict on the text as sent (`\S`: not blank).
Title = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(plain_text),
    WithJsonSchema(
        {
            "type": "string",
            "minLength": 1,
            "maxLength": 200,
            "pattern": r"\S",
            "description": "1 to 200 characters after trimming; stored trimmed",
        }
    ),
]
Description = Annotated[str, StringConstraints(max_length=1000), AfterValidator(plain_text)]
Tag = Annotated[
    str,
    AfterValidator(plain_text),
    WithJsonSchema(
        {
            "type": "string",
            "minLength": 1,
            "maxLength": 30,
            "pattern": r"\S",
            "description": "1 to 30 characters after trimming; lowercased",
        }
    ),
]
Tags = Annotated[
    list[Tag],
    Field(
        max_length=100,
        json_schema_extra={
            "maxItems": MAX_TAGS,
            "description": f"At most {MAX_TAGS} distinct tags once trimmed and lowercased",
        },
    ),
    AfterValidator(clean_tags),
]
DueAt = Annotated[AwareDatetime, BeforeValidator(rfc3339_text), AfterValidator(to_utc)]
Timestamp = Annotated[
    datetime,
    PlainSerializer(utc_text, return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]


class Body(BaseModel):
    """A request body: unknown and read-only fields are refused."""

    model_config = ConfigDict(extra="forbid")


class TaskCreate(Body):
    title: Title
    description: Description | None = None
    completed: StrictBool = False
    priority: Priority = "medium"
    tags: Tags = []
    due_at: DueAt | None = None


class TaskPatch(Body):
    """PUT and PATCH: only the fields given change; `null` clears a nullable one."""

    title: Title = None  # type: ignore[assignment]
    description: Description | None = None
    completed: StrictBool = None  # type: ignore[assignment]
    priority: Priority = None  # type: ignore[assignment]
    tags: Tags = None  # type: ignore[assignment]
    due_at: DueAt | None = None

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True)


class TaskComplete(Body):
    completed: StrictBool


class TaskOut(BaseModel):
    id: int
    user_id: str
    title: str
    description: str | None
    completed: bool
    completed_at: Timestamp | None
    priority: Priority
    tags: list[str]
    due_at: Timestamp | None
    created_at: Timestamp
    updated_at: Timestamp
    deleted_at: Timestamp | None
    version: int


class Changes(BaseModel):
    changes: list[TaskOut]
    purged: list[int]
    next_since: str
    has_more: bool


class Purged(BaseModel):
    purged: int


class Me(BaseModel):
    user_id: str
    email: str | None
    name: str | None


class Health(BaseModel):
    status: Literal["ok"]


class FieldError(BaseModel):
    field: str
    message: str


class ErrorBody(BaseModel):
    detail: str
    code: str
    field: str | None = None
    errors: list[FieldError] | None = None
