"""One action on many of the caller's tasks."""

from fastapi import APIRouter, Response

from backend import bulk
from backend.db import get_engine
from backend.execution import blocking
from backend.routes import ON_WRITE, WriteCallDep, answer, callers_router, error_responses
from backend.schemas import BulkRequest, BulkResult


async def bulk_action(body: BulkRequest, call: WriteCallDep, response: Response) -> BulkResult:
    """Apply one action to up to 100 tasks; `not_found` lists the ids it did not apply to."""
    result, outcome = await blocking(bulk.apply, get_engine(), call, body.action, body.ids)
    answer(outcome, response)
    return result


def router(prefix: str, *, path_user: bool = False) -> APIRouter:
    """The bulk route under the task collection at `prefix`."""
    routes = callers_router(prefix, path_user=path_user)
    routes.post("/bulk", responses=error_responses(*ON_WRITE, path_user=path_user))(bulk_action)
    return routes
