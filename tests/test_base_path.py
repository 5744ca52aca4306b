"""The base path (`API_BASE_PATH`, a REST API stage or a custom domain's base path): routes
answer with the prefix on the path or without it, the URLs the app writes carry it, and no
base path leaves the request as the server gave it."""

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from backend.main import create_app
from backend.middleware import BasePath
from tests.conftest import Env

Headers = dict[str, str]
Client = Callable[..., TestClient]


@pytest.fixture
def under(env: Env) -> Client:
    """A client of the app behind `BasePath(base)`, served at the server's `root_path`."""

    def make(base: str, root_path: str = "") -> TestClient:
        return TestClient(BasePath(create_app(), base), root_path=root_path)

    return make


@pytest.mark.parametrize("path", ["/{stage}/api/health", "/api/health"])
@pytest.mark.parametrize(
    ("base", "stage"),
    [("/prod", "prod"), ("prod", "prod"), ("//v1//", "v1"), ("/X", "X")],
    ids=["leading-slash", "bare", "slashes-around", "one-letter"],
)
def test_a_base_path_however_written_serves_the_routes_with_or_without_it(
    under: Client, base: str, stage: str, path: str
) -> None:
    response = under(base).get(path.format(stage=stage))

    assert (response.status_code, response.json()) == (200, {"status": "ok"})


@pytest.mark.parametrize("path", ["/prod/api/nothing", "/api/nothing"])
def test_a_404_under_a_base_path_names_the_full_path(under: Client, path: str) -> None:
    response = under("/prod").get(path)

    assert response.status_code == 404
    assert response.json()["detail"] == "No route for /prod/api/nothing"


@pytest.mark.parametrize("path", ["/prod/api/tasks", "/api/tasks"])
def test_the_location_of_a_task_created_under_a_base_path_carries_it(
    under: Client, auth_headers: Headers, path: str
) -> None:
    response = under("/prod").post(path, json={"title": "Staged"}, headers=auth_headers)

    assert response.status_code == 201
    assert response.headers["location"] == f"/prod/api/tasks/{response.json()['id']}"


@pytest.mark.parametrize("base", ["", "/"])
def test_no_base_path_leaves_the_servers_root_path_and_path_alone(under: Client, base: str) -> None:
    client = under(base, root_path="/outer")

    health = client.get("/outer/api/health")
    missing = client.get("/outer/api/nothing")

    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    assert missing.status_code == 404
    assert missing.json()["detail"] == "No route for /outer/api/nothing"


def test_a_server_that_runs_the_lifespan_starts_the_app_under_a_base_path(under: Client) -> None:
    with under("/prod") as client:  # startup, then shutdown on exit: no path to rewrite there
        response = client.get("/prod/api/health")

    assert response.status_code == 200
