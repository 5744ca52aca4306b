"""The list reads its query as FastAPI reads the same query model: the same values, and the
same errors in the same places (`routes.tasks.list_params`)."""

from typing import Annotated, Any

import pytest
from fastapi import FastAPI, Query, Request
from fastapi.testclient import TestClient

from backend.routes.tasks import ListParams, list_params

QUERIES = [  # values of every kind, and refusals of one parameter and of several
    "",
    "status=pending&priority=high&sort=title&order=asc&limit=7",
    "tag=Work&tag=home&tag=work",
    "tag=",
    "q=",
    "q=milk&q=bread",
    "limit=10&limit=20",
    "due_before=2030-01-01T09:00:00Z&due_after=2029-12-31T23:00:00%2B05:30",
    "cursor=&unknown=1",
    "limit=0",
    "limit=x&status=neither",
    "priority=urgent&priority=low",
    "due_before=2030-01-01",
    "tag=" + "&tag=".join(str(n) for n in range(11)),
    "q=%00",
    "cursor=a+b",
]


@pytest.fixture(scope="module")
def both() -> TestClient:
    """One route FastAPI solves the model for, one that reads it as the list does."""
    app = FastAPI()

    @app.get("/fastapi")
    async def by_fastapi(params: Annotated[ListParams, Query()]) -> Any:
        return params.model_dump(mode="json")

    @app.get("/list")
    async def by_list(request: Request) -> Any:
        return list_params(request).model_dump(mode="json")

    return TestClient(app)


@pytest.mark.parametrize("query", QUERIES)
def test_a_query_reads_as_fastapi_reads_it(both: TestClient, query: str) -> None:
    expected = both.get(f"/fastapi?{query}")
    answered = both.get(f"/list?{query}")

    assert (answered.status_code, answered.json()) == (expected.status_code, expected.json())
