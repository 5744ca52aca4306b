"""The caller's live tasks: list, create, read, edit, complete, and delete into the trash."""

import inspect
from typing import Annotated, Any, get_origin

from fastapi import APIRouter, Header, Query, Request, Response, status
from fastapi.exceptions import RequestValidationError
from pydantic import AfterValidator, BaseModel, ValidationError

from backend import conditions, listing, queries
from backend.conditions import matches_none
from backend.db import get_engine
from backend.envelope import Outcome
from backend.errors import NotFound
from backend.execution import blocking
from backend.listing import ListQuery, Status
from backend.pagination import Cursor, Order, Sort
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
    task_location,
)
from backend.schemas import (
    TEXT,
    DueAt,
    Priority,
    Tag,
    TaskComplete,
    TaskCreate,
    TaskOut,
    TaskPatch,
    clean_tags,
    plain_text,
)

MAX_PAGE = 500

SearchText = Annotated[
    str, Query(max_length=200, json_schema_extra={"pattern": TEXT}), AfterValidator(plain_text)
]
TagFilter = Annotated[list[Tag], Query(max_length=10), AfterValidator(clean_tags)]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE, description="Tasks per page")]
PageCursor = Annotated[
    str | None,
    Query(
        description="The opaque `cursor` of a `Link` URL (empty: the first page); any other "
        "value is a 422",
        json_schema_extra={"pattern": "^[A-Za-z0-9_-]*$"},
    ),
]


class ListParams(BaseModel):
    """A list's query parameters, validated as one model (`list_params`), where one
    parameter at a time cost a list about 0.05 ms more; the document lists them one by one
    (`list_document`)."""

    status: Status = "all"
    priority: Priority | None = None
    tag: TagFilter = []
    q: SearchText | None = None
    due_before: DueAt | None = None
    due_after: DueAt | None = None
    sort: Sort = "created_at"
    order: Order = "desc"
    limit: Limit = 100
    cursor: PageCursor = None


REPEATED = frozenset(
    name for name, field in ListParams.model_fields.items() if get_origin(field.annotation) is list
)
"""The list's parameters that take each of their values (`tag`)."""


def list_params(request: Request) -> ListParams:
    """The list's query, read as FastAPI reads a query model (a list field takes each of its
    values, any other its last) and refused as FastAPI refuses it, without FastAPI's walk
    over each field's annotation on every request: about a quarter of a list's
    instructions (`bench/README.md`). `list_document` documents them."""
    query = request.query_params
    values = {
        name: query.getlist(name) if name in REPEATED else query[name]
        for name in ListParams.model_fields
        if name in query
    }
    try:
        return ListParams.model_validate(values)
    except ValidationError as error:
        errors = error.errors(include_url=False)
        raise RequestValidationError([{**e, "loc": ("query", *e["loc"])} for e in errors]) from None


def list_query(params: ListParams) -> ListQuery:
    """What the list's statement needs from its query parameters."""
    return ListQuery(
        status=params.status,
        priority=params.priority,
        tags=params.tag,
        q=params.q or None,
        due_before=params.due_before,
        due_after=params.due_after,
        sort=params.sort,
        order=params.order,
        limit=params.limit,
        cursor=Cursor.decode(params.cursor, params.sort, params.order) if params.cursor else None,
    )


def found(task: TaskOut | None, outcome: Outcome, response: Response) -> TaskOut:
    """The task with its ETag and the statement's headers, or a 404 that keeps them."""
    if task is None:
        raise NotFound("Task not found", headers=outcome.headers)
    answer(outcome, response)
    response.headers["ETag"] = f'"{task.version}"'
    return task


async def list_tasks(request: Request, response: Response) -> Response:
    """List the caller's tasks, filtered and sorted; `Link` (`rel="next"`) names the next page."""
    query = list_query(list_params(request))  # not a dependency: one more level to solve
    call = read_call(request)
    page, next_cursor, outcome = await blocking(listing.list_tasks, get_engine(), call, query)
    answer(outcome, response)
    return listed(page, request, response, next_cursor)


async def documented_list_tasks(
    params: Annotated[ListParams, Query()], request: Request, response: Response
) -> Response:
    """`list_tasks` as the document shows it: FastAPI lists the query model's fields."""
    return await list_tasks(request, response)


async def create_task(
    body: TaskCreate, call: WriteCallDep, request: Request, response: Response
) -> TaskOut:
    """Create a task; `Location` names it and `ETag` is its version."""
    task, outcome = await blocking(queries.create_task, get_engine(), call, body.model_dump())
    response.headers["Location"] = task_location(request, task.id)
    return found(task, outcome, response)


async def read_task(
    id: TaskId,
    request: Request,
    response: Response,
    if_none_match: Annotated[
        str | None, Header(description="ETags the caller holds: a match is a 304")
    ] = None,
) -> Response:
    """Read one task; `If-None-Match` with its current ETag answers 304 without a body."""
    call = read_call(request)
    task = found(*await blocking(queries.get_task, get_engine(), call, id), response)
    if matches_none(if_none_match, task.version):
        return Response(status_code=304, headers=dict(response.headers))
    # Written by pydantic's core in one pass; `response_model` would validate the model
    # again, dump it to Python and `json.dumps` that.
    return Response(task.model_dump_json(), media_type="application/json", headers=response.headers)


async def edit_task(
    id: TaskId,
    body: TaskPatch,
    call: WriteCallDep,
    response: Response,
    if_match: IfMatchHeader = None,
) -> TaskOut:
    """Change only the fields given (PUT and PATCH alike); `null` clears a nullable field."""
    condition = conditions.if_match(if_match)
    result = await blocking(queries.update_task, get_engine(), call, id, body.changes(), condition)
    return found(*result, response)


async def complete_task(
    id: TaskId,
    call: WriteCallDep,
    response: Response,
    body: TaskComplete | None = None,
    if_match: IfMatchHeader = None,
) -> TaskOut:
    """Toggle `completed`, or set it from `{"completed": true|false}`."""
    condition = conditions.if_match(if_match)
    if body is None:
        result = await blocking(queries.toggle_task, get_engine(), call, id, condition)
    else:
        fields = {"completed": body.completed}
        result = await blocking(queries.update_task, get_engine(), call, id, fields, condition)
    return found(*result, response)


async def delete_task(
    id: TaskId, call: WriteCallDep, response: Response, if_match: IfMatchHeader = None
) -> TaskOut:
    """Move a task to the trash; the answer is the trashed task (`POST .../restore` undoes it)."""
    condition = conditions.if_match(if_match)
    return found(*await blocking(queries.trash_task, get_engine(), call, id, condition), response)


def router(prefix: str, *, path_user: bool = False) -> APIRouter:
    """The live-task routes at `prefix`."""
    writes = error_responses(*ON_WRITE, path_user=path_user)
    read_one = error_responses(*ON_READ, *ON_TASK, path_user=path_user)
    write_one = error_responses(*ON_WRITE, *ON_TASK, *ON_CONDITIONAL, path_user=path_user)
    routes = callers_router(prefix, path_user=path_user)
    routes.get("", include_in_schema=False)(list_tasks)  # documented by `list_document`
    routes.post("", status_code=status.HTTP_201_CREATED, responses=writes)(create_task)
    not_modified: dict[int | str, dict[str, Any]] = {
        304: {"description": "`If-None-Match` names the current ETag: no body"}
    }
    routes.get(TASK, response_model=TaskOut, responses={**not_modified, **read_one})(read_task)
    routes.put(TASK, responses=write_one, name="replace_task")(edit_task)
    routes.patch(TASK, responses=write_one, name="patch_task")(edit_task)
    routes.patch(f"{TASK}/complete", responses=write_one)(complete_task)
    routes.delete(TASK, responses=write_one)(delete_task)
    return routes


def list_document(prefix: str, *, path_user: bool = False) -> APIRouter:
    """The list route at `prefix` as the document shows it, each query parameter on its
    own. `router`'s list route serves the requests: these go after every other route
    (`main.create_app`), where no request that a route serves reaches them."""
    reads = error_responses(*ON_READ, path_user=path_user)
    routes = callers_router(prefix, path_user=path_user)
    description = inspect.cleandoc(list_tasks.__doc__ or "")
    routes.get(
        "",
        response_model=list[TaskOut],
        responses=reads,
        name=list_tasks.__name__,
        description=description,
    )(documented_list_tasks)
    return routes
