"""Routes are built on first use: a request builds the route it reaches and no other, the
document and the SnapStart hook build them all, and a built route is FastAPI's own."""

import threading

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from backend.lazy_routes import LazyRoute, build_all
from backend.main import create_app
from tests.conftest import Env

Headers = dict[str, str]
THREADS = 8


def lazy_routes(app: FastAPI) -> list[LazyRoute]:
    return [route for route in app.routes if isinstance(route, LazyRoute)]


def own_routes(app: FastAPI) -> list[LazyRoute]:
    """The app's lazy routes but those every app shares (health, me, the purge: their
    routers are made once, at import, so an earlier test may have built them)."""
    shared = {id(route) for route in create_app().routes}
    return [route for route in lazy_routes(app) if id(route) not in shared]


def built(app: FastAPI) -> set[tuple[str, str]]:
    """(method, path) of every route of the app's own built so far."""
    return {
        (method, route.path)
        for route in own_routes(app)
        if route.deferred is None
        for method in route.methods or ()
    }


def test_every_api_route_starts_unbuilt(env: Env) -> None:
    app = create_app()
    api_routes = [route for route in app.routes if isinstance(route, APIRoute)]

    assert len(lazy_routes(app)) == len(api_routes)
    prefixes = {route.path.partition("/tasks")[0] for route in own_routes(app)}
    assert prefixes == {"/api", "/api/{user_id}"}  # the task routes, under both path forms
    assert built(app) == set()


def test_a_request_builds_the_route_it_reaches_and_no_other(
    env: Env, auth_headers: Headers
) -> None:
    app = create_app()
    client = TestClient(app)

    assert client.get("/api/tasks", headers=auth_headers).status_code == 200
    assert built(app) == {("GET", "/api/tasks")}

    created = client.post("/api/tasks", headers=auth_headers, json={"title": "A"})

    assert created.status_code == 201
    assert built(app) == {("GET", "/api/tasks"), ("POST", "/api/tasks")}


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/api/nothing", 404), ("PUT", "/api/tasks", 405), ("GET", "/api/tasks/0", 404)],
)
def test_a_request_no_route_serves_builds_nothing(
    env: Env, auth_headers: Headers, method: str, path: str, status: int
) -> None:
    app = create_app()

    response = TestClient(app).request(method, path, headers=auth_headers)

    assert response.status_code == status
    assert built(app) == set()


def test_the_document_builds_every_route_as_fastapi_would(env: Env) -> None:
    lazy, eager = create_app(), create_app()
    build_all(eager.routes)
    assert all(route.deferred is None for route in lazy_routes(eager))
    assert all(route.deferred is not None for route in own_routes(lazy))

    assert lazy.openapi() == eager.openapi()
    assert all(route.deferred is None for route in lazy_routes(lazy))


def test_any_state_a_route_has_not_built_builds_it_once(env: Env) -> None:
    route = next(route for route in lazy_routes(create_app()) if route.path == "/api/tasks")

    dependant = route.dependant  # not set until built

    assert route.deferred is None
    assert route.dependant is dependant
    assert route.response_class is not None
    with pytest.raises(AttributeError):
        route.no_such_state  # type: ignore[attr-defined]  # noqa: B018


def test_a_route_matches_what_fastapis_own_would_before_it_is_built() -> None:
    async def endpoint() -> None: ...

    for methods in (None, ["patch", "DELETE"]):
        lazy, eager = (
            LazyRoute("/a/{n:int}", endpoint, methods=methods),
            APIRoute("/a/{n:int}", endpoint, methods=methods),
        )

        assert lazy.deferred is not None
        assert (lazy.methods, lazy.path_format, lazy.param_convertors.keys()) == (
            eager.methods,
            eager.path_format,
            eager.param_convertors.keys(),
        )


@pytest.mark.parametrize(
    ("path", "root_path", "method"),
    [
        ("/a/5", "", "PATCH"),
        ("/a/5", "", "GET"),
        ("/a/x", "", "PATCH"),
        ("/a/5/b", "", "PATCH"),
        ("/stage/a/5", "/stage", "DELETE"),
        ("/stage/a/5", "/other", "DELETE"),
        ("/", "", "PATCH"),
    ],
)
def test_a_route_answers_a_request_as_fastapis_own_would(
    path: str, root_path: str, method: str
) -> None:
    async def endpoint() -> None: ...

    lazy = LazyRoute("/a/{n:int}", endpoint, methods=["patch", "DELETE"])
    eager = APIRoute("/a/{n:int}", endpoint, methods=["patch", "DELETE"])
    scope = {"type": "http", "path": path, "root_path": root_path, "method": method}

    (match, answered), (expected_match, expected) = lazy.matches(scope), eager.matches(scope)

    assert match == expected_match
    assert {**answered, "route": None} == {**expected, "route": None}
    assert answered.get("route", lazy) is lazy


def test_threads_that_reach_an_unbuilt_route_at_once_share_one_build(env: Env) -> None:
    """Routes of module-level routers are shared by every app in a process."""
    for route in own_routes(create_app()):
        seen = dependants_seen_by_threads(route)

        assert len(seen) == THREADS
        assert all(dependant is seen[0] for dependant in seen)


def dependants_seen_by_threads(route: LazyRoute) -> list[object]:
    """`route.dependant` as each of THREADS threads, released at once, found it."""
    start = threading.Barrier(THREADS)
    seen: list[object] = []

    def read() -> None:
        start.wait()
        seen.append(route.dependant)

    threads = [threading.Thread(target=read) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return seen
