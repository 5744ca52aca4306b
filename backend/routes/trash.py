"""The caller's trash: list it, restore from it, delete from it for good, empty it."""

from fastapi import APIRouter, Request, Response, status

from backend import conditions, trash
from backend.db import get_engine
from backend.errors import NotFound
from backend.execution import blocking
from backend.pagination import Cursor
from backend.routes import (
    ON_CONDITIONAL,
    ON_READ,
    ON_TASK,
    ON_WRITE,
    TASK,
    IfMatchHeader,
    TaskId,
    WriteCallDep,
    answer,
    callers_router,
    error_responses,
    listed,
    read_call,
)
from backend.routes.tasks import Limit, PageCursor, found
from backend.schemas import Purged, TaskOut


async def list_trash(
    request: Request,
    response: Response,
    limit: Limit = 100,
    cursor: PageCursor = None,
) -> Response:
    """List the trash, most recently deleted first; `Link` names the next page."""
    page = trash.TrashPage(limit, Cursor.decode(cursor, *trash.SORT) if cursor else None)
    call = read_call(request)
    tasks, next_cursor, outcome = await blocking(trash.list_trash, get_engine(), call, page)
    answer(outcome, response)
    return listed(tasks, request, response, next_cursor)


async def restore_task(
    id: TaskId, call: WriteCallDep, response: Response, if_match: IfMatchHeader = None
) -> TaskOut:
    """Bring a task back from the trash (404 unless it is there)."""
    condition = conditions.if_match(if_match)
    return found(*await blocking(trash.restore_task, get_engine(), call, id, condition), response)


async def delete_for_good(id: TaskId, call: WriteCallDep) -> Response:
    """Delete a trashed task for good (404 unless it is in the trash)."""
    outcome = await blocking(trash.delete_for_good, get_engine(), call, id)
    if not outcome.rows:
        raise NotFound("Task not found in the trash", headers=outcome.headers)
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    answer(outcome, response)
    return response


async def empty_trash(call: WriteCallDep, response: Response) -> Purged:
    """Delete every task in the caller's trash for good; `purged` counts them."""
    outcome = await blocking(trash.empty_trash, get_engine(), call)
    answer(outcome, response)
    return Purged.model_validate(outcome.rows)


def router(prefix: str, *, path_user: bool = False) -> APIRouter:
    """The trash routes under the task collection at `prefix`."""
    reads = error_responses(*ON_READ, path_user=path_user)
    writes = error_responses(*ON_WRITE, path_user=path_user)
    write_one = error_responses(*ON_WRITE, *ON_TASK, path_user=path_user)
    restore = error_responses(*ON_WRITE, *ON_TASK, *ON_CONDITIONAL, path_user=path_user)
    routes = callers_router(prefix, path_user=path_user)
    routes.get("/trash", response_model=list[TaskOut], responses=reads)(list_trash)
    routes.post("/trash/empty", responses=writes)(empty_trash)
    routes.delete(f"/trash{TASK}", status_code=status.HTTP_204_NO_CONTENT, responses=write_one)(
        delete_for_good
    )
    routes.post(f"{TASK}/restore", responses=restore)(restore_task)
    return routes
