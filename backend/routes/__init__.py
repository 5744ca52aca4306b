"""The HTTP routes, one module per resource, and what their routers share."""

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Request, Response
from fastapi.openapi.constants import REF_TEMPLATE
from fastapi.routing import APIRoute
from pydantic import AfterValidator, TypeAdapter
from starlette.convertors import Convertor, register_url_convertor

from backend.auth import AuthenticatedRoute, caller
from backend.config import get_settings
from backend.envelope import Call, Outcome
from backend.errors import ErrorBody, Forbidden, NotFound
from backend.idempotency import KEY, canonical_path, fingerprint
from backend.idempotency import idempotency_key as checked_key
from backend.lazy_routes import LazyRoute
from backend.pagination import Cursor, next_link

DESCRIPTIONS = {
    401: "No token, or a token that is expired or invalid (`WWW-Authenticate: Bearer`)",
    403: "`{user_id}` in the path is not the caller",
    404: "No such task for this caller",
    409: "A request with this `Idempotency-Key` is still running (`Retry-After`)",
    412: "`If-Match` names none of the task's current ETag (`ETag` has it); nothing changed",
    410: "`since` is older than TRASH_RETENTION_DAYS (`SYNC_EXPIRED`): sync again without it",
    413: "Body over 64 KiB",
    415: "A `Content-Encoding` other than identity (bodies are never decompressed)",
    422: "Invalid input: `field` names it, `errors` lists every fault; or an `Idempotency-Key` "
    "used for another request",
    429: "Over the caller's rate limit (`Retry-After`); nothing done",
    500: "A bug: `INTERNAL_ERROR`, no detail",
    503: "Database or key set unavailable, or a write's outcome unknown (`Retry-After`)",
}

ON_READ = (401, 422, 429, 503)
"""What every task route can answer: a bad token, invalid input, the rate limit, an outage."""
ON_WRITE = (*ON_READ, 409)
"""A write also: the first request with its `Idempotency-Key` is still running."""
ON_TASK = (404,)
ON_CONDITIONAL = (412,)
"""A write that honours `If-Match`."""
MAX_BIGINT = 2**63 - 1


def error_responses(*statuses: int, path_user: bool = False) -> dict[int | str, dict[str, object]]:
    """OpenAPI entries for the errors a route can answer, all in the one error shape.

    Every route can answer 413 and 415 (the body checks run before routing) and 500.
    """
    forbidden = (403,) if path_user else ()
    return {
        status: {"description": DESCRIPTIONS[status], "content": ERROR_CONTENT}
        for status in sorted({*statuses, *forbidden, 413, 415, 500})
    }


ERROR_CONTENT = {"application/json": {"schema": {"$ref": REF_TEMPLATE.format(model="ErrorBody")}}}
"""An error's body in the document, by reference. A `model` per status would make FastAPI
build a validator for each of some 300 (route, status) pairs at import, on every cold start,
only for the document; `error_schemas` adds the one schema they all refer to."""


def error_schemas() -> dict[str, Any]:
    """The error body's schema and those it refers to, as the document's components."""
    schema = TypeAdapter(ErrorBody).json_schema(mode="serialization", ref_template=REF_TEMPLATE)
    return {**schema.pop("$defs", {}), "ErrorBody": schema}


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


def within_bigint(task_id: int) -> int:
    """Beyond 64 bits, an id that the route matched still names no task: a 404, not a 422
    (an exception other than `ValueError` passes through pydantic as it is)."""
    if task_id > MAX_BIGINT:
        raise NotFound("Task not found")
    return task_id


TaskId = Annotated[
    int,
    Path(alias="task_id", description="A positive 64-bit integer; anything else is a 404"),
    AfterValidator(within_bigint),
]
"""A task's id, as a path parameter of the route itself: a dependency of its own would be
one more level for FastAPI to solve on every request (bench/README.md, instructions)."""


class PathUserRoute(AuthenticatedRoute):
    """A route under `/api/{user_id}/tasks`, which serves only the caller's own id.

    Checked once the token is, before FastAPI reads the body: another user's path is a 403
    whatever the request carries. A dependency would check it after the body's JSON, as
    one more level FastAPI solves on every request (about 100 thousand instructions,
    `bench/README.md`). The document names the path parameter as that dependency did."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **options: Any) -> None:
        extra = options.get("openapi_extra") or {}
        options["openapi_extra"] = {"parameters": [USER_ID_PARAMETER], **extra}
        super().__init__(path, endpoint, **options)

    def authorize(self, request: Request) -> None:
        if request.path_params["user_id"] != caller(request).id:
            raise Forbidden("The user id in the path is not the caller's")


USER_ID_PARAMETER = {
    "name": "user_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "title": "User Id"},
}


def callers_router(prefix: str, *, path_user: bool) -> APIRouter:
    """A router at `prefix` whose routes verify the token first; with `path_user`, the
    prefix's `{user_id}` must be the caller.

    One router per prefix (not one router included twice) keeps each route's full path
    template, which the request log names.
    """
    route_class = PathUserRoute if path_user else AuthenticatedRoute
    return routes_at(prefix, tags=["tasks"], route_class=route_class)


def operation_id(route: APIRoute) -> str:
    """`list_tasks`, and `list_tasks_by_path_user` for the `/api/{user_id}/...` twin."""
    return f"{route.name}_by_path_user" if "{user_id}" in route.path_format else route.name


def routes_at(prefix: str, **options: Any) -> APIRouter:
    """A router whose routes are complete, to be put on the app as they are
    (`main.add_routes`): their full path, checks, tags and operation ids. They are built
    on first use (`LazyRoute`, unless `route_class` says otherwise)."""
    options.setdefault("route_class", LazyRoute)
    return APIRouter(prefix=prefix, generate_unique_id_function=operation_id, **options)


def task_location(request: Request, task_id: int) -> str:
    """A task's canonical path, behind any base path the request came through."""
    return f"{request.scope.get('root_path', '')}/api/tasks/{task_id}"


def read_call(request: Request) -> Call:
    """A read as its statement needs it: the caller and the rate limit.

    A plain call in each read, not a dependency: FastAPI would solve one more level on
    every request (bench/README.md, instructions). A write's `WriteCallDep` stays one,
    for the `Idempotency-Key` header it documents."""
    return Call(caller(request).id, get_settings().rate_limit_per_minute)


async def write_call(
    request: Request,
    idempotency_key: Annotated[
        str | None,
        Header(
            description="1 to 255 visible ASCII characters (a UUID is best): a retry with the "
            "same key and request replays the first outcome instead of writing again",
            json_schema_extra={"pattern": KEY.pattern.join("^$")},
        ),
    ] = None,
) -> Call:
    """A write as its statement needs it: also the idempotency key and the fingerprint."""
    user = caller(request)
    key = checked_key(request)
    signature = ""
    if key is not None:
        path = request.scope["path"].removeprefix(request.scope.get("root_path", ""))
        body = await request.body()
        signature = fingerprint(request.method, canonical_path(path, user.id), body)
    status = getattr(request.scope.get("route"), "status_code", None) or 200
    return Call(user.id, get_settings().rate_limit_per_minute, key, signature, status)


WriteCallDep = Annotated[Call, Depends(write_call)]
IfMatchHeader = Annotated[
    str | None,
    Header(description='`*` or strong ETags (`"3"`): write only if the task is at one of them'),
]
"""`If-Match`, a header parameter of each conditional write, which reads it with
`conditions.if_match`: a dependency would be one more level for FastAPI to solve."""


def listed(page: str, request: Request, response: Response, next: Cursor | None) -> Response:
    """A page of tasks (its JSON array, as the statement wrote it), with the statement's
    headers and the next page's `Link`."""
    response.headers.update(next_link(request, next))
    return Response(page, media_type="application/json", headers=response.headers)


def answer(outcome: Outcome, response: Response) -> None:
    """The statement's headers (rate limit, replay) and a replay's stored status."""
    response.headers.update(outcome.headers)
    if outcome.replayed_status is not None:
        response.status_code = outcome.replayed_status
