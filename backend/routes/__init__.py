"""The HTTP routes, one module per resource, and what their routers share."""

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from starlette.convertors import Convertor, register_url_convertor

from backend.auth import AuthenticatedRoute, CurrentUser
from backend.errors import Forbidden, NotFound
from backend.schemas import ErrorBody

DESCRIPTIONS = {
    401: "No token, or a token that is expired or invalid (`WWW-Authenticate: Bearer`)",
    403: "`{user_id}` in the path is not the caller",
    404: "No such task for this caller",
    413: "Body over 64 KiB",
    422: "Invalid input: `field` names it, `errors` lists every fault",
    500: "A bug: `INTERNAL_ERROR`, no detail",
    503: "Database or key set unavailable (`Retry-After`)",
}

ON_COLLECTION = (401, 413, 422, 503)
ON_TASK = (401, 404, 413, 422, 503)
MAX_BIGINT = 2**63 - 1


def error_responses(*statuses: int, path_user: bool = False) -> dict[int | str, dict[str, object]]:
    """OpenAPI entries for the errors a route can answer, all in the one error shape."""
    forbidden = (403,) if path_user else ()
    return {
        status: {"model": ErrorBody, "description": DESCRIPTIONS[status]}
        for status in sorted((*statuses, *forbidden, 500))
    }


class TaskIdConvertor(Convertor[int]):
    """`{task_id:task_id}` matches only a positive integer, so `trash` or `bulk` never do."""

    regex = "[1-9][0-9]{0,18}"

    def convert(self, value: str) -> int:
        return int(value)

    def to_string(self, value: int) -> str:
        return str(value)


register_url_convertor("task_id", TaskIdConvertor())
TASK = "/{task_id:task_id}"
"""The path of one task under a collection prefix."""


def task_id(
    task_id: Annotated[int, Path(description="A positive 64-bit integer; anything else is a 404")],
) -> int:
    """Beyond 64 bits, an id that the route matched still names no task."""
    if task_id > MAX_BIGINT:
        raise NotFound("Task not found")
    return task_id


TaskId = Annotated[int, Depends(task_id)]


def path_user_is_caller(user_id: str, user: CurrentUser) -> None:
    """`/api/{user_id}/tasks...` serves only the caller's own id."""
    if user_id != user.id:
        raise Forbidden("The user id in the path is not the caller's")


def callers_router(prefix: str, *, path_user: bool) -> APIRouter:
    """A router at `prefix` whose routes verify the token first; with `path_user`, the
    prefix's `{user_id}` must be the caller.

    One router per prefix (not one router included twice) keeps each route's full path
    template, which the request log names.
    """
    checks = [Depends(path_user_is_caller)] if path_user else []
    return APIRouter(
        prefix=prefix, tags=["tasks"], route_class=AuthenticatedRoute, dependencies=checks
    )


def task_location(request: Request, task_id: int) -> str:
    """A task's canonical path, behind any base path the request came through."""
    return f"{request.scope.get('root_path', '')}/api/tasks/{task_id}"
