"""The Lambda entry driven by AWS SAM CLI sample events (`tests/events`, see its README).

Each builder sets only the method, path, headers, query and body, where that source puts them.
"""

import base64
import copy
import functools
import importlib
import json
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus, urlencode

import pytest

from tests.conftest import Env

Event = dict[str, Any]
Headers = dict[str, str]
Handler = Callable[[Event, Any], Event]
Invoke = Callable[[Event], Event]

EVENTS = Path(__file__).parent / "events"
CONTEXT = types.SimpleNamespace(
    function_name="task-api",
    invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:task-api",
    memory_limit_in_mb="512",
    aws_request_id="8476a536-e9f4-11e8-9739-2dfe598c3fcd",
    get_remaining_time_in_millis=lambda: 30_000,
)


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: Headers
    query: list[tuple[str, str]]
    body: str | None
    base64: bool


def grouped(query: list[tuple[str, str]]) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for name, value in query:
        values.setdefault(name, []).append(value)
    return values


def lower(headers: Headers) -> Headers:
    return {name.lower(): value for name, value in headers.items()}


def with_body(event: Event, request: Request) -> Event:
    body = request.body
    if body is not None and request.base64:
        body = base64.b64encode(body.encode()).decode()
    event.update(body=body, isBase64Encoded=request.base64)
    return event


def rest_v1(event: Event, request: Request) -> Event:
    values = grouped(request.query)
    event["headers"].update(request.headers)
    event["multiValueHeaders"].update({name: [value] for name, value in request.headers.items()})
    event.update(
        httpMethod=request.method,
        path=request.path,
        queryStringParameters={name: given[-1] for name, given in values.items()} or None,
        multiValueQueryStringParameters=values or None,
    )
    return with_body(event, request)


def http_v2(event: Event, request: Request) -> Event:
    """HTTP API and function URL: payload format 2.0, header names lower-cased by AWS."""
    values = grouped(request.query)
    event["headers"].update(lower(request.headers))
    event["requestContext"]["http"].update(method=request.method, path=request.path)
    event.update(
        rawPath=request.path,
        rawQueryString=urlencode(request.query),
        queryStringParameters={name: ",".join(given) for name, given in values.items()},
    )
    if not values:
        del event["queryStringParameters"]
    return with_body(event, request)


def alb(event: Event, request: Request) -> Event:
    """Multi-value headers off: of a repeated query key ALB passes the last value, URL-encoded."""
    event["headers"].update(lower(request.headers))
    event.update(
        httpMethod=request.method,
        path=request.path,
        queryStringParameters={quote_plus(k): quote_plus(v) for k, v in request.query},
    )
    return with_body(event, request)


def alb_multi_value(event: Event, request: Request) -> Event:
    """Multi-value headers on: ALB sends the multi-value forms instead of the single ones."""
    headers = {**event.pop("headers"), **lower(request.headers)}
    del event["queryStringParameters"]
    event.update(
        httpMethod=request.method,
        path=request.path,
        multiValueHeaders={name: [value] for name, value in headers.items()},
        multiValueQueryStringParameters={
            quote_plus(name): [quote_plus(value) for value in given]
            for name, given in grouped(request.query).items()
        },
    )
    return with_body(event, request)


BUILDERS = {
    "rest_v1": ("apigw_rest_v1.json", rest_v1),
    "http_v2": ("http_api_v2.json", http_v2),
    "function_url": ("function_url.json", http_v2),
    "alb": ("alb.json", alb),
    "alb_multi_value": ("alb.json", alb_multi_value),
}
KINDS = list(BUILDERS)
REPEATED_QUERY_KINDS = [kind for kind in KINDS if kind != "alb"]


@functools.cache
def sample(name: str) -> Event:
    loaded: Event = json.loads((EVENTS / name).read_text())
    return loaded


def event(
    kind: str,
    method: str,
    path: str,
    *,
    headers: Headers | None = None,
    query: list[tuple[str, str]] | None = None,
    body: Any = None,
    base64: bool = False,
) -> Event:
    name, build = BUILDERS[kind]
    text = None if body is None else json.dumps(body)
    request = Request(method, path, headers or {}, query or [], text, base64)
    return build(copy.deepcopy(sample(name)), request)


def headers_of(response: Event) -> dict[str, list[str]]:
    """The headers a client gets: API Gateway and ALB merge `multiValueHeaders` over `headers`."""
    merged: dict[str, list[str]] = {}
    for name, value in (response.get("headers") or {}).items():
        merged.setdefault(name.lower(), []).append(value)
    for name, values in (response.get("multiValueHeaders") or {}).items():
        merged[name.lower()] = list(values)
    return merged


def json_of(response: Event) -> Any:
    body: str = response["body"]
    return json.loads(base64.b64decode(body) if response["isBase64Encoded"] else body)


@pytest.fixture
def invoke(env: Env) -> Invoke:
    from backend.lambda_handler import handler

    def call(event: Event) -> Event:
        response: Event = handler(event, CONTEXT)
        return response

    return call


@pytest.fixture
def auth(auth_headers: Headers) -> Headers:
    return {**auth_headers, "Content-Type": "application/json"}


def create(invoke: Invoke, kind: str, auth: Headers, **fields: Any) -> dict[str, Any]:
    response = invoke(event(kind, "POST", "/api/tasks", headers=auth, body=fields))
    assert response["statusCode"] == 201, response["body"]
    task: dict[str, Any] = json_of(response)
    return task


@pytest.mark.parametrize("kind", KINDS)
def test_create_is_201_with_location_and_etag(invoke: Invoke, auth: Headers, kind: str) -> None:
    request = event(kind, "POST", "/api/tasks", headers=auth, body={"title": " Buy milk "})

    response = invoke(request)

    task = json_of(response)
    assert response["statusCode"] == 201
    assert response["isBase64Encoded"] is False
    assert (task["title"], task["version"]) == ("Buy milk", 1)
    assert headers_of(response)["location"] == [f"/api/tasks/{task['id']}"]
    assert headers_of(response)["etag"] == ['"1"']


@pytest.mark.parametrize("kind", ["rest_v1", "alb_multi_value"])
def test_multi_value_response_headers_agree_with_the_single_ones(
    invoke: Invoke, auth: Headers, kind: str
) -> None:
    request = event(kind, "POST", "/api/tasks", headers=auth, body={"title": "Buy milk"})

    response = invoke(request)

    single, multi = response.get("headers", {}), response["multiValueHeaders"]
    assert ("headers" in response) is (kind == "rest_v1")
    assert all(isinstance(values, list) for values in multi.values())
    assert not single.keys() & multi.keys()
    assert headers_of(response)["etag"] == ['"1"']


@pytest.mark.parametrize("kind", KINDS)
def test_read_returns_the_task_with_its_etag(invoke: Invoke, auth: Headers, kind: str) -> None:
    task = create(invoke, kind, auth, title="Buy milk")

    response = invoke(event(kind, "GET", f"/api/tasks/{task['id']}", headers=auth))

    assert response["statusCode"] == 200
    assert json_of(response) == task
    assert headers_of(response)["etag"] == ['"1"']


@pytest.mark.parametrize("kind", REPEATED_QUERY_KINDS)
def test_list_with_repeated_tags_returns_tasks_having_every_tag(
    invoke: Invoke, auth: Headers, kind: str
) -> None:
    both = create(invoke, kind, auth, title="Both", tags=["home", "q&a"])
    create(invoke, kind, auth, title="Home only", tags=["home"])
    create(invoke, kind, auth, title="Q&A only", tags=["q&a"])
    query = [("tag", "home"), ("tag", "q&a")]

    response = invoke(event(kind, "GET", "/api/tasks", headers=auth, query=query))

    assert response["statusCode"] == 200
    assert json_of(response) == [both]


@pytest.mark.parametrize("kind", KINDS)
def test_patch_changes_the_task_and_its_version(invoke: Invoke, auth: Headers, kind: str) -> None:
    task = create(invoke, kind, auth, title="Buy milk")
    path = f"/api/tasks/{task['id']}"

    response = invoke(event(kind, "PATCH", path, headers=auth, body={"title": "Buy oat milk"}))

    patched = json_of(response)
    assert response["statusCode"] == 200
    assert (patched["title"], patched["version"]) == ("Buy oat milk", 2)
    assert headers_of(response)["etag"] == ['"2"']


@pytest.mark.parametrize("kind", KINDS)
def test_delete_answers_the_trashed_task_as_json(invoke: Invoke, auth: Headers, kind: str) -> None:
    task = create(invoke, kind, auth, title="Buy milk")
    path = f"/api/tasks/{task['id']}"

    response = invoke(event(kind, "DELETE", path, headers=auth))
    read_after = invoke(event(kind, "GET", path, headers=auth))

    assert response["statusCode"] == 200
    assert json_of(response)["deleted_at"] is not None
    assert read_after["statusCode"] == 404


@pytest.mark.parametrize("kind", KINDS)
def test_request_without_token_is_401_with_a_bearer_challenge(invoke: Invoke, kind: str) -> None:
    request = event(kind, "GET", "/api/tasks")

    response = invoke(request)

    assert response["statusCode"] == 401
    assert headers_of(response)["www-authenticate"] == ["Bearer"]
    assert json_of(response) == {
        "detail": "Authentication required: send Authorization: Bearer <token>",
        "code": "UNAUTHENTICATED",
    }


@pytest.mark.parametrize("kind", KINDS)
def test_base64_encoded_body_creates_the_task(invoke: Invoke, auth: Headers, kind: str) -> None:
    body = {"title": "Café ☕", "tags": ["Home"]}
    request = event(kind, "POST", "/api/tasks", headers=auth, body=body, base64=True)

    response = invoke(request)
    unflagged = invoke({**request, "isBase64Encoded": False})

    task = json_of(response)
    assert response["statusCode"] == 201
    assert (task["title"], task["tags"]) == ("Café ☕", ["home"])
    # The same body without the flag is base64 text, not JSON: the flag is what decoded it.
    assert (unflagged["statusCode"], json_of(unflagged)["code"]) == (422, "VALIDATION_ERROR")


@pytest.fixture
def handler_with_base_path(env: Env) -> Iterator[Callable[[str | None], Handler]]:
    """Build the module's handler under an `API_BASE_PATH`, as a cold start would; restore it."""
    import backend.lambda_handler

    def reload(base_path: str | None) -> Handler:
        with pytest.MonkeyPatch.context() as patch:
            if base_path is None:
                patch.delenv("API_BASE_PATH", raising=False)
            else:
                patch.setenv("API_BASE_PATH", base_path)
            handler: Handler = importlib.reload(backend.lambda_handler).handler
        return handler

    yield reload
    importlib.reload(backend.lambda_handler)


@pytest.mark.parametrize("path", ["/prod/api/health", "/api/health"])
def test_base_path_is_stripped_when_configured(
    handler_with_base_path: Callable[[str | None], Handler], path: str
) -> None:
    handler = handler_with_base_path("/prod")

    response = handler(event("rest_v1", "GET", path), CONTEXT)

    assert response["statusCode"] == 200
    assert json_of(response) == {"status": "ok"}


def test_base_path_is_404_without_the_setting(
    handler_with_base_path: Callable[[str | None], Handler],
) -> None:
    handler = handler_with_base_path(None)

    response = handler(event("rest_v1", "GET", "/prod/api/health"), CONTEXT)

    assert response["statusCode"] == 404
    assert json_of(response) == {"detail": "No route for /prod/api/health", "code": "NOT_FOUND"}


@pytest.mark.parametrize("path", ["/prod/api/tasks", "/api/tasks"])
def test_location_and_link_carry_the_base_path(
    handler_with_base_path: Callable[[str | None], Handler], auth: Headers, path: str
) -> None:
    handler = handler_with_base_path("/prod")
    for title in ("one", "two"):
        handler(event("rest_v1", "POST", path, headers=auth, body={"title": title}), CONTEXT)

    created = handler(event("rest_v1", "POST", path, headers=auth, body={"title": "3"}), CONTEXT)
    listed = handler(event("rest_v1", "GET", path, headers=auth, query=[("limit", "1")]), CONTEXT)

    task_id = json_of(created)["id"]
    assert headers_of(created)["location"] == [f"/prod/api/tasks/{task_id}"]
    host = sample("apigw_rest_v1.json")["multiValueHeaders"]["Host"][-1]  # what Mangum reads
    link = f"<https://{host}/prod/api/tasks?limit=1&cursor="
    assert headers_of(listed)["link"][0].startswith(link)


def validation_error(detail: str) -> dict[str, Any]:
    return {
        "detail": detail,
        "code": "VALIDATION_ERROR",
        "errors": [{"field": "", "message": detail}],
    }


def answered_as_its_source_answers(response: Event, invoke: Invoke, kind: str) -> bool:
    """Whether an answer has the fields and header names a request from the same source gets
    (Mangum's format for it), not a generic one."""
    answered = invoke(event(kind, "GET", "/api/no-such-route"))
    return set(response) == set(answered) and set(headers_of(response)) == set(
        headers_of(answered)
    ) - {"x-request-id", "server-timing", "vary"}


@pytest.mark.parametrize("body", ["abc", "!!!!", "eyJ0aXRsZSI6IngifQ=x"])
@pytest.mark.parametrize("kind", KINDS)
def test_a_body_that_is_not_base64_is_422_in_the_error_shape(
    invoke: Invoke, auth: Headers, kind: str, body: str
) -> None:
    request = event(kind, "POST", "/api/tasks", headers=auth, body={"title": "x"}, base64=True)
    request["body"] = body

    response = invoke(request)

    assert response["statusCode"] == 422
    assert headers_of(response)["content-type"] == ["application/json"]
    assert json_of(response) == validation_error("Request body is not valid base64")
    assert answered_as_its_source_answers(response, invoke, kind)


@pytest.mark.parametrize("kind", KINDS)
def test_null_header_maps_are_no_headers(invoke: Invoke, kind: str) -> None:
    request = event(kind, "GET", "/api/tasks")
    for name in ("headers", "multiValueHeaders"):
        if name in request:
            request[name] = None

    response = invoke(request)

    assert response["statusCode"] == 401
    assert json_of(response) == {
        "detail": "Authentication required: send Authorization: Bearer <token>",
        "code": "UNAUTHENTICATED",
    }


@pytest.mark.parametrize("kind", ["rest_v1", "http_v2", "alb"])
def test_null_query_maps_are_no_query(invoke: Invoke, auth: Headers, kind: str) -> None:
    request = event(kind, "GET", "/api/tasks", headers=auth)
    for name in ("queryStringParameters", "multiValueQueryStringParameters", "rawQueryString"):
        if name in request:
            request[name] = None

    response = invoke(request)

    assert response["statusCode"] == 200


@pytest.mark.parametrize(
    ("kind", "part", "detail"),
    [
        ("rest_v1", "query", "Query string is not valid UTF-8 text"),
        ("http_v2", "raw query", "Query string is not valid UTF-8 text"),
        ("rest_v1", "header", "Request headers are not valid text"),
        ("http_v2", "header", "Request headers are not valid text"),
        ("rest_v1", "path", "Request path is not valid UTF-8 text"),
        ("http_v2", "path", "Request path is not valid UTF-8 text"),
        ("http_v2", "body", "Request body is not valid UTF-8 text"),
    ],
)
def test_a_lone_surrogate_in_the_event_is_422_in_the_error_shape(
    invoke: Invoke, auth: Headers, kind: str, part: str, detail: str
) -> None:
    request = event(kind, "GET", "/api/tasks", headers=auth)
    if part == "query":
        request["queryStringParameters"] = {"q": "\ud800"}
        request["multiValueQueryStringParameters"] = {"q": ["\ud800"]}
    elif part == "raw query":
        request["rawQueryString"] = "q=\ud800"
    elif part == "header" and kind == "rest_v1":
        request["multiValueHeaders"]["X-Note"] = ["\udfff"]
    elif part == "header":
        request["headers"]["x-note"] = "\udfff"
    elif part == "path" and kind == "rest_v1":
        request["path"] = "/api/tasks/\ud800"
    elif part == "path":
        request["requestContext"]["http"]["path"] = "/api/tasks/\ud800"
    else:
        request.update(body='{"title": "\ud83d"}', isBase64Encoded=False)

    response = invoke(request)

    assert response["statusCode"] == 422
    assert json_of(response) == validation_error(detail)
    assert answered_as_its_source_answers(response, invoke, kind)


@pytest.mark.parametrize("value", [None, 5, ["a", ["b"]], {"nested": "map"}])
def test_a_header_value_that_is_not_a_string_is_422(
    invoke: Invoke, auth: Headers, value: Any
) -> None:
    request = event("http_v2", "GET", "/api/tasks", headers=auth)
    request["headers"]["x-note"] = value

    response = invoke(request)

    assert response["statusCode"] == 422
    assert json_of(response) == validation_error("Request headers are not valid text")


def without_method(kind: str) -> Event:
    request = event(kind, "GET", "/api/health")
    del request["requestContext" if kind == "http_v2" else "httpMethod"]
    return request


@pytest.mark.parametrize(
    "request_event",
    [
        pytest.param(without_method("rest_v1"), id="REST v1 without httpMethod"),
        pytest.param(without_method("http_v2"), id="HTTP API without requestContext"),
        pytest.param({"source": "aws.events"}, id="not an HTTP event"),
        pytest.param("GET /api/health", id="not an object"),
    ],
)
def test_an_event_mangum_cannot_translate_is_a_bare_500(invoke: Invoke, request_event: Any) -> None:
    response = invoke(request_event)

    assert response["statusCode"] == 500
    assert json_of(response) == {"detail": "Internal server error", "code": "INTERNAL_ERROR"}
