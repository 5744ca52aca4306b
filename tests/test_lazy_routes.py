"""Routes are built on first use: a request builds the route it reaches and no other, the
document and the SnapStart hook build them all, and a built route is FastAPI's own."""

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from backend.lazy_routes import LazyRoute, build_all
from backend.main import create_app
from tests.conftest import Env

Headers = dict[str, str]


def lazy_routes(app: FastAPI) -> list[LazyRoute]:
    return [route for route in app.routes if isinstance(route, LazyRoute)]


def built(app: FastAPI) -> set[tuple[str, str]]:
    """(method, path) of every lazy route built so far."""
    return {
        (method, route.path)
        for route in lazy_routes(app)
        if route.deferred is None
        for method in route.methods or ()
    }


def test_every_api_route_starts_unbuilt(env: Env) -> None:
    app = create_app()
    api_routes = [route for route in app.routes if isinstance(route, APIRoute)]

    assert len(lazy_routes(app)) == len(api_routes) > 30
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
    assert len(built(eager)) == len(lazy_routes(eager))

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
