"""Task rows as the API shows them, serialized without building a model per row.

A list answers what `list[TaskOut]` would, straight from the statement's rows: a typed
dict made from `TaskOut`'s own fields (the stored priority number shown by its name) lets
pydantic's core write the JSON in one pass. Validating each row into a model first cost
about 5 µs a task.
"""

from collections.abc import Iterable, Mapping
from typing import Annotated, Any

from pydantic import PlainSerializer, TypeAdapter
from typing_extensions import TypedDict

from backend.models import PRIORITIES
from backend.schemas import TaskOut


def priority_name(number: int) -> str:
    return PRIORITIES[number - 1]


StoredPriority = Annotated[int, PlainSerializer(priority_name, return_type=str)]
TaskRow: Any = TypedDict(  # type: ignore[misc]  # fields from the model, not a copy
    "TaskRow",
    {
        name: StoredPriority if name == "priority" else field.rebuild_annotation()
        for name, field in TaskOut.model_fields.items()
    },
)
TASK_ROWS: TypeAdapter[list[Any]] = TypeAdapter(list[TaskRow])


def tasks_json(rows: Iterable[Mapping[str, Any]]) -> bytes:
    """The JSON array of these task rows (extra columns, such as a sort key, left out)."""
    return TASK_ROWS.dump_json([dict(row) for row in rows])
