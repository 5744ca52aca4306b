"""Builds the FastAPI app: routers, error handlers, middleware. No I/O at import."""

from typing import Any

from fastapi import FastAPI
from fastapi.encoders import jsonable_encoder
from fastapi.openapi.models import OpenAPI
from fastapi.routing import APIRoute

from backend import handlers
from backend.logs import RequestLog, configure
from backend.middleware import CORS, BodyLimit, CatchAll, StripTrailingSlash
from backend.routes import bulk, cron, error_schemas, health, me, stats, sync, tasks, trash
from backend.timing import ServerTiming

API_DESCRIPTION = """\
A multi-user task API for web frontends whose users sign in with Better Auth.
Send `Authorization: Bearer <JWT>` on every route but health. Every error has
the body `{"detail", "code", "field"?}`; a 422 also lists `errors`.
"""


def operation_id(route: APIRoute) -> str:
    """`list_tasks`, and `list_tasks_by_path_user` for the `/api/{user_id}/...` twin."""
    return f"{route.name}_by_path_user" if "{user_id}" in route.path_format else route.name


class TaskAPI(FastAPI):
    """FastAPI, whose document also holds the error body every route's errors refer to."""

    def openapi(self) -> dict[str, Any]:
        if self.openapi_schema is None:
            document = super().openapi()
            schemas = {**document["components"]["schemas"], **error_schemas()}
            document["components"]["schemas"] = dict(sorted(schemas.items()))
            # As FastAPI finishes its own document: through its model, with no null fields.
            self.openapi_schema = jsonable_encoder(
                OpenAPI(**document), by_alias=True, exclude_none=True
            )
        return self.openapi_schema


def create_app() -> FastAPI:
    app = TaskAPI(
        title="Task API",
        version="2.0.0",
        description=API_DESCRIPTION,
        redirect_slashes=False,
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/openapi.json",
        generate_unique_id_function=operation_id,
    )
    app.include_router(health.router)
    app.include_router(me.router)
    for prefix, path_user in (("/api/tasks", False), ("/api/{user_id}/tasks", True)):
        app.include_router(tasks.router(prefix, path_user=path_user))
        app.include_router(trash.router(prefix, path_user=path_user))
        app.include_router(stats.router(prefix, path_user=path_user))
        app.include_router(bulk.router(prefix, path_user=path_user))
        app.include_router(sync.router(prefix, path_user=path_user))
    app.include_router(cron.router)
    handlers.install(app)
    configure()
    app.add_middleware(CatchAll)  # innermost: below it, every error is a response
    app.add_middleware(BodyLimit)
    app.add_middleware(CORS)
    app.add_middleware(ServerTiming)  # outside CORS and the 500s: every response carries it
    app.add_middleware(RequestLog)
    app.add_middleware(StripTrailingSlash)  # outermost: every layer sees the canonical path
    return app


app = create_app()
