"""Request and response bodies: what the API accepts and returns, with every limit."""

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


def rfc3339_text(value: object) -> object:
    if not isinstance(value, str | datetime):
        raise ValueError("must be an RFC 3339 date-time string with a UTC offset")
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


Title = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(plain_text),
]
Description = Annotated[str, StringConstraints(max_length=1000), AfterValidator(plain_text)]
Tag = Annotated[str, AfterValidator(plain_text)]
Tags = Annotated[list[Tag], Field(max_length=100), AfterValidator(clean_tags)]
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
