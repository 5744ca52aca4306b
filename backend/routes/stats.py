"""The caller's task counts for a dashboard."""

from fastapi import APIRouter, Request, Response

from backend import stats
from backend.db import get_engine
from backend.execution import blocking
from backend.routes import ON_READ, answer, callers_router, error_responses, read_call
from backend.schemas import Stats


async def task_stats(request: Request, response: Response) -> Stats:
    """Count the caller's tasks: total, pending, completed and overdue live ones, and trashed."""
    counts, outcome = await blocking(stats.task_stats, get_engine(), read_call(request))
    answer(outcome, response)
    return counts


def router(prefix: str, *, path_user: bool = False) -> APIRouter:
    """The stats route under the task collection at `prefix`."""
    routes = callers_router(prefix, path_user=path_user)
    routes.get("/stats", responses=error_responses(*ON_READ, path_user=path_user))(task_stats)
    return routes
