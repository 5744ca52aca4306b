"""Task rows as the API shows them, written as JSON by PostgreSQL.

A list's statement selects each task as the text of its JSON object (`shown`), and joins
them into the page's array (`listing.paged`), so a page goes from the server into the
response as one string (a sync page's tasks too, `sync.changes_text`, and a bulk
action's, `bulk.answer`): psycopg parsed sixteen values a task (four of them timestamps),
and pydantic wrote them back. The text is byte for byte what `TaskOut` writes: its fields
in order, the priority by name, each timestamp in UTC as `schemas.utc_text` writes it
(`Z`, and microseconds only when there are some). `tests/test_rows.py` holds the two to it.
"""

from typing import Any

from sqlalchemy import (
    ColumnElement,
    DateTime,
    FromClause,
    Text,
    case,
    cast,
    func,
    literal_column,
    select,
)

from backend.models import PRIORITIES
from backend.schemas import TaskOut

RFC_3339_UTC: ColumnElement[str] = literal_column("""'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'""")


def utc_text(column: ColumnElement[Any]) -> ColumnElement[str]:
    """`schemas.utc_text` in SQL: the instant in UTC, without `.000000` when whole."""
    formatted = func.to_char(func.timezone(literal_column("'UTC'"), column), RFC_3339_UTC)
    return func.replace(formatted, literal_column("'.000000Z'"), literal_column("'Z'"))


def shown_value(column: ColumnElement[Any]) -> ColumnElement[Any]:
    if column.key == "priority":
        names = enumerate(PRIORITIES, 1)
        return case(
            *((column == literal_column(str(n)), literal_column(f"'{name}'")) for n, name in names)
        )
    if isinstance(column.type, DateTime):
        return utc_text(column)
    return column


def shown(source: FromClause) -> ColumnElement[str]:
    """The task row of `source` (the `tasks` table or its columns) as `TaskOut`'s JSON text.

    A record's JSON names its fields after the record's columns, so the values are
    selected under the model's field names, and `row_to_json` writes it compactly.
    """
    fields = (shown_value(source.c[name]).label(name) for name in TaskOut.model_fields)
    record = select(*fields).correlate(source).subquery("shown")
    as_json = select(func.row_to_json(record.table_valued())).scalar_subquery()
    return cast(as_json, Text).label("shown")
