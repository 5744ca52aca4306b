"""Recurring tasks: the rule grammar, time zone names, and the completing UPDATE's values."""

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, StringConstraints, WithJsonSchema
from sqlalchemy import ColumnElement, ScalarSelect, Tuple, and_, case, func, select, tuple_

from backend.models import tasks

FREQUENCIES = ("DAILY", "WEEKLY", "MONTHLY", "YEARLY")
WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
PARTS = ("FREQ", "INTERVAL", "BYDAY", "COUNT", "UNTIL")
MAX_INTERVAL = 365
MAX_COUNT = 1000
MAX_RULE_LENGTH = 200
UNTIL_FORMAT = "%Y%m%dT%H%M%SZ"

NUMBER = re.compile(r"[0-9]{1,4}")
UNTIL = re.compile(r"[0-9]{8}T[0-9]{6}Z")
ORDINAL = re.compile(r"[+-]?[0-9]+[A-Z]{2}")
ZONE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*")
NOT_ZONES = {"localtime", "posixrules", "Factory"}
"""Files in a zone directory that name no place; PostgreSQL need not know them."""
ABBREVIATIONS = {"CET", "EET", "MET", "WET"}
"""Zones with daylight saving that PostgreSQL's `AT TIME ZONE` reads as fixed-offset
abbreviations (its `Default` set) instead: the rule would run on the wrong clock."""

CONSTRAINT_FIELDS = {
    "recurrence_due_at": "recurrence",
    "recurrence_shape": "recurrence",
    "timezone_length": "timezone",
}
"""The body field to name in a 422 when a write fails one of these table checks.

`recurrence_due_at` is the one a valid body can reach (`PATCH {"due_at": null}` on a
recurring task: only the statement sees the stored rule); the others guard the SQL."""

NEEDS_DUE_AT = "a recurring task needs a due_at"
CONSTRAINT_MESSAGES = {
    "recurrence_due_at": NEEDS_DUE_AT,
    "recurrence_shape": "must be a rule of the supported RRULE subset",
    "timezone_length": "must be 1 to 64 characters",
}
"""The 422's message for each check: the body check and the table's say the same."""


@dataclass(frozen=True)
class Rule:
    """A parsed rule; `str()` gives its normalised text."""

    freq: str
    interval: int = 1
    byday: tuple[str, ...] = ()
    count: int | None = None
    until: datetime | None = None

    def __str__(self) -> str:
        parts = [f"FREQ={self.freq}"]
        if self.interval != 1:
            parts.append(f"INTERVAL={self.interval}")
        if self.byday:
            parts.append(f"BYDAY={','.join(self.byday)}")
        if self.count is not None:
            parts.append(f"COUNT={self.count}")
        if self.until is not None:
            parts.append(f"UNTIL={self.until.strftime(UNTIL_FORMAT)}")
        return ";".join(parts)


def split_parts(text: str) -> dict[str, str]:
    """`NAME=value` parts, uppercased, each name known and given once."""
    if not text.strip():
        raise ValueError("must not be empty")
    if len(text) > MAX_RULE_LENGTH:
        raise ValueError(f"must be at most {MAX_RULE_LENGTH} characters")
    if not text.isascii():  # else a dotless i (U+0131) would uppercase to I
        raise ValueError("must be ASCII text")
    parts: dict[str, str] = {}
    for part in text.upper().split(";"):
        name, equals, value = part.partition("=")
        if not equals or not name or not value:
            raise ValueError(f"each part must be NAME=value, got {part!r}")
        if name not in PARTS:
            raise ValueError(f"unknown part {name!r}; the parts are {', '.join(PARTS)}")
        if name in parts:
            raise ValueError(f"{name} is given more than once")
        parts[name] = value
    return parts


def bounded(name: str, value: str, highest: int) -> int:
    if NUMBER.fullmatch(value) is None or not 1 <= int(value) <= highest:
        raise ValueError(f"{name} must be a whole number from 1 to {highest}")
    return int(value)


def weekdays(value: str) -> tuple[str, ...]:
    """Distinct weekdays in week order (Monday first)."""
    days = value.split(",")
    for day in days:
        if ORDINAL.fullmatch(day):
            raise ValueError(f"BYDAY takes plain weekdays, not ordinals such as {day!r}")
        if day not in WEEKDAYS:
            raise ValueError(f"BYDAY days must be among {','.join(WEEKDAYS)}, got {day!r}")
    return tuple(day for day in WEEKDAYS if day in days)


def until_time(value: str) -> datetime:
    if UNTIL.fullmatch(value) is None:
        raise ValueError("UNTIL must be a UTC date-time in basic form, such as 20301231T235959Z")
    try:
        return datetime.strptime(value, UNTIL_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        raise ValueError(f"UNTIL is not a real date-time: {value!r}") from None


def parse_rule(text: str) -> Rule:
    """Parse an RRULE of the supported subset; a ValueError says what is wrong."""
    parts = split_parts(text)
    freq = parts.get("FREQ")
    if freq not in FREQUENCIES:
        raise ValueError(f"FREQ must be one of {', '.join(FREQUENCIES)}")
    if "BYDAY" in parts and freq != "WEEKLY":
        raise ValueError("BYDAY is allowed only with FREQ=WEEKLY")
    if "COUNT" in parts and "UNTIL" in parts:
        raise ValueError("COUNT and UNTIL cannot be used together")
    return Rule(
        freq=freq,
        interval=bounded("INTERVAL", parts["INTERVAL"], MAX_INTERVAL) if "INTERVAL" in parts else 1,
        byday=weekdays(parts["BYDAY"]) if "BYDAY" in parts else (),
        count=bounded("COUNT", parts["COUNT"], MAX_COUNT) if "COUNT" in parts else None,
        until=until_time(parts["UNTIL"]) if "UNTIL" in parts else None,
    )


def normalise_rule(text: str) -> str:
    return str(parse_rule(text))


def zone_name(value: str) -> str:
    """An IANA time zone name the zone database knows, spelled exactly."""
    message = "must be an IANA time zone name such as Australia/Sydney (names are case-sensitive)"
    if ZONE_NAME.fullmatch(value) is None or value in NOT_ZONES:
        raise ValueError(message)
    if value.startswith(("posix/", "right/")):
        raise ValueError(message)
    if value in ABBREVIATIONS:
        raise ValueError(f"{value} is read as a fixed offset: use a city's zone, e.g. Europe/Paris")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(message) from None
    return value


Recurrence = Annotated[
    str,
    AfterValidator(normalise_rule),
    WithJsonSchema(
        {
            "type": "string",
            "maxLength": MAX_RULE_LENGTH,
            "description": "An RFC 5545 RRULE subset: FREQ, INTERVAL, BYDAY, COUNT or UNTIL",
            "examples": ["FREQ=WEEKLY;BYDAY=MO"],
        }
    ),
]
"""A rule in a request body, returned normalised."""

TimeZone = Annotated[
    str,
    StringConstraints(max_length=64),
    AfterValidator(zone_name),
    WithJsonSchema(
        {
            "type": "string",
            "minLength": 1,
            "maxLength": 64,
            "pattern": f"^{ZONE_NAME.pattern}$",
            "examples": ["Australia/Sydney"],
        }
    ),
]
"""An IANA time zone name in a request body."""


def completion_values(
    completed: ColumnElement[bool],
    *,
    due_at: Any = tasks.c.due_at,
    recurrence: Any = tasks.c.recurrence,
    timezone: Any = tasks.c.timezone,
) -> dict[Tuple, ScalarSelect[Any]]:
    """UPDATE values that set `completed` and advance a recurring task instead of completing it.

    `completed` is the value the request asks for (`~tasks.c.completed` for a toggle,
    `true()`/`false()` for a body's `completed`); `due_at`, `recurrence` and `timezone` are
    the values the task has after the request's other fields apply: the columns when the
    body leaves them alone, else the body's values (plain or `bindparam`). The result sets
    `(due_at, recurrence, completed, completed_at)` from one sub-select, so the next
    occurrence is computed once per row; the caller must not set those columns itself.
    """
    pending = case((completed, recurrence))  # a rule only when completing: else no next
    next_at = func.task_next_occurrence(due_at, pending, timezone).column_valued("next_at")
    advances = next_at.is_not(None)
    completes = and_(completed, next_at.is_(None))
    row = select(
        func.coalesce(next_at, due_at),
        case((advances, func.task_rule_advanced(recurrence)), else_=recurrence),
        completes,
        case((completes, func.coalesce(tasks.c.completed_at, func.now()))),
    )
    columns = tuple_(tasks.c.due_at, tasks.c.recurrence, tasks.c.completed, tasks.c.completed_at)
    return {columns: row.scalar_subquery()}


def created_completed(
    due_at: ColumnElement[Any], recurrence: ColumnElement[Any], timezone: ColumnElement[Any]
) -> dict[str, ColumnElement[Any]]:
    """INSERT values of a task created with `completed: true`: a recurring one advances.

    As if created pending and then completed: with an occurrence after `due_at` it starts
    pending there (COUNT less one); without one it is created completed, keeping its rule.
    """
    next_at = func.task_next_occurrence(due_at, recurrence, timezone).column_valued("next_at")
    completes = next_at.is_(None)
    return {
        "due_at": func.coalesce(next_at, due_at),
        "recurrence": case((completes, recurrence), else_=func.task_rule_advanced(recurrence)),
        "completed": completes,
        "completed_at": case((completes, func.now())),
    }
