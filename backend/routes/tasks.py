"""The caller's tasks: create, list, read, replace, change, complete, delete."""

import re
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response, status
from pydantic import AfterValidator

from backend import queries
from backend.auth import AuthenticatedRoute, CurrentUser
from backend.db import DatabaseDep
from backend.errors import Forbidden, NotFound
from backend.pagination import Cursor, Order, Sort
from backend.queries import ListQuery, Status
from backend.routes import error_responses
from backend.schemas import (
    DueAt,
    Priority,
    Tag,
    TaskComplete,
    TaskCreate,
    TaskOut,
    TaskPage,
    TaskPatch,
    TaskReplace,
    clean_tags,
    plain_text,
)

TASK_ID = re.compile(r"[1-9][0-9]{0,18}")
MAX_BIGINT = 2**63 - 1

ON_COLLECTION = (401, 413, 422, 503)
ON_TASK = (401, 404, 413, 422, 503)


def task_id(
    task_id: Annotated[str, Path(description="A positive 64-bit integer; anything else is a 404")],
) -> int:
    """A positive 64-bit integer; anything else names no task."""
    if not TASK_ID.fullmatch(task_id) or int(task_id) > MAX_BIGINT:
        raise NotFound("Task not found")
    return int(task_id)


TaskId = Annotated[int, Depends(task_id)]

SearchText = Annotated[str, Query(max_length=200), AfterValidator(plain_text)]
TagFilter = Annotated[list[Tag], Query(max_length=10), AfterValidator(clean_tags)]


def list_query(
    status: Status = "all",
    priority: Priority | None = None,
    tag: TagFilter = [],  # noqa: B006 (FastAPI copies defaults)
    q: SearchText | None = None,
    due_before: DueAt | None = None,
    due_after: DueAt | None = None,
    sort: Sort = "created_at",
    order: Order = "desc",
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: str | None = None,
) -> ListQuery:
    return ListQuery(
        status=status,
        priority=priority,
        tags=tag,
        q=q or None,
        due_before=due_before,
        due_after=due_after,
        sort=sort,
        order=order,
        limit=limit,
        cursor=Cursor.decode(cursor, sort, order) if cursor else None,
    )


def found(task: TaskOut | None, response: Response) -> TaskOut:
    if task is None:
        raise NotFound("Task not found")
    response.headers["ETag"] = f'"{task.version}"'
    return task


def list_tasks(
    user: CurrentUser, db: DatabaseDep, query: Annotated[ListQuery, Depends(list_query)]
) -> TaskPage:
    """List the caller's tasks, filtered and sorted; follow `next_cursor` for the next page."""
    items, next_cursor = queries.list_tasks(db, user.id, query)
    return TaskPage(items=items, next_cursor=next_cursor.encode() if next_cursor else None)


def create_task(
    body: TaskCreate, user: CurrentUser, db: DatabaseDep, response: Response
) -> TaskOut:
    """Create a task; `Location` names it and `ETag` is its version."""
    task = queries.create_task(db, user.id, body.model_dump())
    response.headers["Location"] = f"/api/tasks/{task.id}"
    return found(task, response)


def read_task(id: TaskId, user: CurrentUser, db: DatabaseDep, response: Response) -> TaskOut:
    """Read one task."""
    return found(queries.get_task(db, user.id, id), response)


def replace_task(
    id: TaskId, body: TaskReplace, user: CurrentUser, db: DatabaseDep, response: Response
) -> TaskOut:
    """Replace every mutable field; an omitted one takes its default."""
    return found(queries.update_task(db, user.id, id, body.model_dump()), response)


def patch_task(
    id: TaskId, body: TaskPatch, user: CurrentUser, db: DatabaseDep, response: Response
) -> TaskOut:
    """Change only the fields given; `null` clears `description` or `due_at`."""
    return found(queries.update_task(db, user.id, id, body.changes()), response)


def complete_task(
    id: TaskId,
    user: CurrentUser,
    db: DatabaseDep,
    response: Response,
    body: TaskComplete | None = None,
) -> TaskOut:
    """Toggle `completed`, or set it from `{"completed": true|false}`."""
    if body is None:
        task = queries.toggle_task(db, user.id, id)
    else:
        task = queries.update_task(db, user.id, id, {"completed": body.completed})
    return found(task, response)


def delete_task(id: TaskId, user: CurrentUser, db: DatabaseDep) -> Response:
    """Delete a task."""
    if not queries.delete_task(db, user.id, id):
        raise NotFound("Task not found")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def path_user_is_caller(user_id: str, user: CurrentUser) -> None:
    """`/api/{user_id}/tasks...` serves only the caller's own id."""
    if user_id != user.id:
        raise Forbidden("The user id in the path is not the caller's")


def tasks_router(prefix: str, *, path_user: bool = False) -> APIRouter:
    """The task routes at `prefix`; with `path_user`, the prefix's `{user_id}` must be the caller.

    One router per prefix (not one router included twice) keeps each route's full path
    template, which the request log names.
    """
    checks = [Depends(path_user_is_caller)] if path_user else []
    forbidden = (403,) if path_user else ()
    collection = error_responses(*ON_COLLECTION, *forbidden)
    one = error_responses(*ON_TASK, *forbidden)
    router = APIRouter(
        prefix=prefix, tags=["tasks"], route_class=AuthenticatedRoute, dependencies=checks
    )
    router.get("", responses=collection)(list_tasks)
    router.post("", status_code=status.HTTP_201_CREATED, responses=collection)(create_task)
    router.get("/{task_id}", responses=one)(read_task)
    router.put("/{task_id}", responses=one)(replace_task)
    router.patch("/{task_id}", responses=one)(patch_task)
    router.patch("/{task_id}/complete", responses=one)(complete_task)
    router.delete("/{task_id}", status_code=status.HTTP_204_NO_CONTENT, responses=one)(delete_task)
    return router
