"""The caller's trash: list it, restore from it, delete from it for good, empty it."""

from fastapi import APIRouter, Request, Response, status

from backend import trash
from backend.auth import CurrentUser
from backend.db import DatabaseDep
from backend.errors import NotFound
from backend.pagination import Cursor, next_link
from backend.routes import (
    ON_COLLECTION,
    ON_TASK,
    TASK,
    TaskId,
    callers_router,
    error_responses,
)
from backend.routes.tasks import Limit, found
from backend.schemas import Purged, TaskOut


def list_trash(
    user: CurrentUser,
    db: DatabaseDep,
    request: Request,
    response: Response,
    limit: Limit = 100,
    cursor: str | None = None,
) -> list[TaskOut]:
    """List the trash, most recently deleted first; `Link` names the next page."""
    after = Cursor.decode(cursor, *trash.SORT) if cursor else None
    items, next_cursor = trash.list_trash(db, user.id, limit, after)
    response.headers.update(next_link(request, next_cursor))
    return items


def restore_task(id: TaskId, user: CurrentUser, db: DatabaseDep, response: Response) -> TaskOut:
    """Bring a task back from the trash (404 unless it is there)."""
    return found(trash.restore_task(db, user.id, id), response)


def delete_for_good(id: TaskId, user: CurrentUser, db: DatabaseDep) -> Response:
    """Delete a trashed task for good (404 unless it is in the trash)."""
    if not trash.delete_for_good(db, user.id, id):
        raise NotFound("Task not found in the trash")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def empty_trash(user: CurrentUser, db: DatabaseDep) -> Purged:
    """Delete every task in the caller's trash for good; `purged` counts them."""
    return Purged(purged=trash.empty_trash(db, user.id))


def router(prefix: str, *, path_user: bool = False) -> APIRouter:
    """The trash routes under the task collection at `prefix`."""
    collection = error_responses(*ON_COLLECTION, path_user=path_user)
    one = error_responses(*ON_TASK, path_user=path_user)
    routes = callers_router(prefix, path_user=path_user)
    routes.get("/trash", responses=collection)(list_trash)
    routes.post("/trash/empty", responses=collection)(empty_trash)
    routes.delete(f"/trash{TASK}", status_code=status.HTTP_204_NO_CONTENT, responses=one)(
        delete_for_good
    )
    routes.post(f"{TASK}/restore", responses=one)(restore_task)
    return routes
