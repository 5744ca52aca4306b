"""The caller's changes since a sync token: for frontends that keep a local copy."""

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from backend import sync
from backend.db import get_engine
from backend.execution import blocking
from backend.routes import ON_READ, answer, callers_router, error_responses, read_call
from backend.routes.tasks import Limit
from backend.schemas import Changes

Since = Annotated[
    str | None,
    Query(description="`next_since` of the previous call; none: every live and trashed task"),
]


async def list_changes(
    request: Request, response: Response, since: Since = None, limit: Limit = 100
) -> Response:
    """Tasks written and ids purged since `since`, at least once each; `next_since` goes on."""
    call = read_call(request)
    changes, outcome = await blocking(sync.changes, get_engine(), call, since or None, limit)
    answer(outcome, response)
    return Response(changes, media_type="application/json", headers=response.headers)


def router(prefix: str, *, path_user: bool = False) -> APIRouter:
    """The sync route under the task collection at `prefix`."""
    routes = callers_router(prefix, path_user=path_user)
    responses = error_responses(*ON_READ, 410, path_user=path_user)
    routes.get("/changes", response_model=Changes, responses=responses)(list_changes)
    return routes
