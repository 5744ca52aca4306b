"""Builds the FastAPI app: routers, error handlers, middleware. No I/O at import."""

from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.encoders import jsonable_encoder
from fastapi.openapi.models import OpenAPI

from backend import handlers, telemetry
from backend.auth import BEARER, BEARER_SCHEME
from backend.logs import RequestLog, configure
from backend.middleware import CORS, BodyLimit, CatchAll, StripTrailingSlash
from backend.routes import (
    bulk,
    cron,
    error_schemas,
    health,
    me,
    stats,
    sync,
    tasks,
    trash,
)
from backend.timing import ServerTiming

API_DESCRIPTION = """\
A multi-user task API for web frontends whose users sign in with Better Auth.
Send `Authorization: Bearer <JWT>` on every route but health. Every error has
the body `{"detail", "code", "field"?}`; a 422 also lists `errors`.
"""


PREFIXES = (("/api/tasks", False), ("/api/{user_id}/tasks", True))
"""Where the task routes are: the caller's, and the same under the caller's own id."""


class TaskAPI(FastAPI):
    """FastAPI, whose document also holds the error body every route's errors refer to and
    the bearer scheme every authenticated operation names (`auth.AuthenticatedRoute`)."""

    def openapi(self) -> dict[str, Any]:
        if self.openapi_schema is None:
            document = super().openapi()
            schemas = {**document["components"]["schemas"], **error_schemas()}
            document["components"]["schemas"] = dict(sorted(schemas.items()))
            document["components"]["securitySchemes"] = {BEARER: BEARER_SCHEME}
            # As FastAPI finishes its own document: through its model, with no null fields.
            self.openapi_schema = jsonable_encoder(
                OpenAPI(**document), by_alias=True, exclude_none=True
            )
        return self.openapi_schema


def add_routes(app: FastAPI, router: APIRouter) -> None:
    """Put `router`'s routes on the app as they are (`routes.routes_at`).

    `include_router` would keep them behind a lazy wrapper: FastAPI builds every route's
    state a second time at the first request that walks it, and walks the wrapper on every
    request. The routes take nothing from the app but their place (no dependency
    overrides: nothing here uses them).
    """
    app.router.routes.extend(router.routes)


def create_app() -> FastAPI:
    app = TaskAPI(
        title="Task API",
        version="2.0.0",
        description=API_DESCRIPTION,
        redirect_slashes=False,
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/openapi.json",
        telemetry=telemetry.config(),
    )
    # The task routes go first, before FastAPI's own document routes: Starlette tries each
    # route in turn, 9-11 thousand instructions a route passed (bench/README.md), so
    # any route before them would cost every task request.
    app.router.routes[:0] = [
        route
        for prefix, path_user in PREFIXES
        for module in (tasks, trash, stats, bulk, sync)
        for route in module.router(prefix, path_user=path_user).routes
    ]
    add_routes(app, me.router)
    add_routes(app, health.router)
    add_routes(app, cron.router)
    for prefix, path_user in PREFIXES:  # last: only the document reads them
        add_routes(app, tasks.list_document(prefix, path_user=path_user))
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
