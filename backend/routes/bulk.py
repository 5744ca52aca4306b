"""One action on many of the caller's tasks."""

from fastapi import APIRouter, Response

from backend import bulk
from backend.db import get_engine
from backend.execution import blocking
from backend.routes import ON_WRITE, WriteCallDep, answer, callers_router, error_responses
from backend.schemas import BulkRequest, BulkResult


async def bulk_action(body: BulkRequest, call: WriteCallDep, response: Response) -> Response:
    """Apply one action to up to 100 tasks; `not_found` lists the ids it did not apply to."""
    text, outcome = await blocking(bulk.apply, get_engine(), call, body.action, body.ids)
    answer(outcome, response)
    # The statement wrote the body (`bulk.answer`): `response_model` would parse it again.
    status = response.status_code or 200
    return Response(text, status, response.headers, media_type="application/json")


def router(prefix: str, *, path_user: bool = False) -> APIRouter:
    """The bulk route under the task collection at `prefix`."""
    routes = callers_router(prefix, path_user=path_user)
    responses = error_responses(*ON_WRITE, path_user=path_user)
    routes.post("/bulk", response_model=BulkResult, responses=responses)(bulk_action)
    return routes
