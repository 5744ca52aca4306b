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
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)

from backend.recurrence import NEEDS_DUE_AT, Recurrence, TimeZone

Priority = Literal["low", "medium", "high"]

MAX_TAGS = 10
MAX_SAFE_ID = 2**53 - 1
"""The largest id a JavaScript number holds exactly; ids are never near it."""
MAX_BULK = 100


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
# trimming", so they are as strict on the text as sent (not blank). No text holds NUL,
# which PostgreSQL cannot store.
TEXT = r"^[^\x00]*$"
NOT_BLANK = r"^[^\x00]*[^\s\x00\x1c-\x1f\x85][^\x00]*$"
"""Some character Python does not trim: it counts U+001C-U+001F and U+0085 as space too."""
Title = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(plain_text),
    WithJsonSchema(
        {
            "type": "string",
            "minLength": 1,
            "maxLength": 200,
            "pattern": NOT_BLANK,
            "description": "1 to 200 characters after trimming; stored trimmed",
        }
    ),
]
Description = Annotated[
    str,
    StringConstraints(max_length=1000),
    AfterValidator(plain_text),
    WithJsonSchema({"type": "string", "maxLength": 1000, "pattern": TEXT}),
]
Tag = Annotated[
    str,
    AfterValidator(plain_text),
    WithJsonSchema(
        {
            "type": "string",
            "minLength": 1,
            "maxLength": 30,
            "pattern": NOT_BLANK,
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
    recurrence: Recurrence | None = None
    timezone: TimeZone | None = None

    @field_validator("recurrence")
    @classmethod
    def rule_needs_due_at(cls, rule: str | None, info: ValidationInfo) -> str | None:
        """A rule without a due_at (an invalid due_at is reported on its own)."""
        if rule is not None and "due_at" in info.data and info.data["due_at"] is None:
            raise ValueError(NEEDS_DUE_AT)
        return rule


class TaskPatch(Body):
    """PUT and PATCH: only the fields given change; `null` clears a nullable one."""

    title: Title = None  # type: ignore[assignment]
    description: Description | None = None
    completed: StrictBool = None  # type: ignore[assignment]
    priority: Priority = None  # type: ignore[assignment]
    tags: Tags = None  # type: ignore[assignment]
    due_at: DueAt | None = None
    recurrence: Recurrence | None = None
    timezone: TimeZone | None = None

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
    recurrence: str | None
    timezone: str | None
    created_at: Timestamp
    updated_at: Timestamp
    deleted_at: Timestamp | None
    version: int


def distinct_ids(ids: list[int]) -> list[int]:
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    if repeated:
        raise ValueError(f"ids must be distinct; given more than once: {repeated}")
    return ids


def json_integer(value: object) -> object:
    """An integer as JSON Schema counts one (`290.0` included); never a string or a boolean."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("Input should be a valid integer")
    return value


BulkAction = Literal["complete", "reopen", "delete", "restore"]
TaskIds = Annotated[
    list[Annotated[int, Field(ge=1, le=MAX_SAFE_ID), BeforeValidator(json_integer)]],
    Field(min_length=1, max_length=MAX_BULK, json_schema_extra={"uniqueItems": True}),
    AfterValidator(distinct_ids),
]


class BulkRequest(Body):
    action: BulkAction = Field(
        description="complete (pending live tasks; a recurring one advances), reopen (completed "
        "live ones), delete (live ones, into the trash), restore (ones in the trash)"
    )
    ids: TaskIds = Field(description=f"1 to {MAX_BULK} distinct task ids")


class BulkResult(BaseModel):
    items: list[TaskOut] = Field(
        description="The tasks the action applied to, as they are now, by id"
    )
    not_found: list[int] = Field(
        description="The ids it did not apply to (not the caller's, or not in a state the action "
        "applies to), ascending"
    )


class Stats(BaseModel):
    """Counts of the caller's tasks: live ones in the first four, the trash in `trashed`."""

    total: int
    pending: int
    completed: int
    overdue: int = Field(description="Pending with a due_at in the past")
    trashed: int = Field(description="In the trash (within TRASH_RETENTION_DAYS)")


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
