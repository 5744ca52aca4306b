"""GET /api/tasks: a JSON array, filters, sorts, keyset pages linked by `Link`, and errors."""

import base64
import json
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit

import pytest
from fastapi.testclient import TestClient

Headers = dict[str, str]
Task = dict[str, Any]
Page = dict[str, Any]

D1 = "2030-01-01T09:00:00+02:00"
D2 = "2030-01-02T00:00:00Z"
D3 = "2030-01-03T00:00:00Z"

SORTED_TITLES = [
    ("created_at", "asc", ["banana", "Apple", "apple", "Cherry", "cherry", "date", "Banana"]),
    ("created_at", "desc", ["Banana", "date", "cherry", "Cherry", "apple", "Apple", "banana"]),
    ("updated_at", "asc", ["banana", "Apple", "Cherry", "cherry", "date", "Banana", "apple"]),
    ("updated_at", "desc", ["apple", "Banana", "date", "cherry", "Cherry", "Apple", "banana"]),
    ("due_at", "asc", ["apple", "Cherry", "banana", "date", "Banana", "Apple", "cherry"]),
    ("due_at", "desc", ["Banana", "date", "banana", "Cherry", "apple", "cherry", "Apple"]),
    ("priority", "asc", ["Apple", "cherry", "apple", "date", "banana", "Cherry", "Banana"]),
    ("priority", "desc", ["Banana", "Cherry", "banana", "date", "apple", "cherry", "Apple"]),
    ("title", "asc", ["Apple", "apple", "banana", "Banana", "Cherry", "cherry", "date"]),
    ("title", "desc", ["date", "cherry", "Cherry", "Banana", "banana", "apple", "Apple"]),
]


def create(client: TestClient, headers: Headers, title: str, **fields: Any) -> Task:
    response = client.post("/api/tasks", json={"title": title, **fields}, headers=headers)
    assert response.status_code == 201, response.text
    task: Task = response.json()
    return task


def list_page(client: TestClient, headers: Headers, **params: Any) -> list[Task]:
    return list_response(client, headers, **params)[0]


def list_response(
    client: TestClient, headers: Headers, url: str = "/api/tasks", **params: Any
) -> tuple[list[Task], str | None]:
    """The tasks of one page, and the URL its `Link: <...>; rel="next"` names (or None)."""
    response = client.get(url, params=params or None, headers=headers)  # {} drops url's query
    assert response.status_code == 200, response.text
    tasks: list[Task] = response.json()
    assert isinstance(tasks, list)
    next_link = response.links.get("next")
    return tasks, next_link["url"] if next_link else None


def next_cursor(client: TestClient, headers: Headers, **params: Any) -> str:
    """The opaque cursor the first page's `Link` carries."""
    url = list_response(client, headers, **params)[1]
    assert url is not None
    return parse_qs(urlsplit(url).query)["cursor"][0]


def titles(client: TestClient, headers: Headers, **params: Any) -> list[str]:
    return [task["title"] for task in list_page(client, headers, limit=100, **params)]


def walk(client: TestClient, headers: Headers, limit: int, **params: Any) -> list[Task]:
    """Every page in turn, following each `Link` URL as is until a page has none."""
    items, url = list_response(client, headers, limit=limit, **params)
    for _ in range(100):
        if url is None:
            return items
        assert len(items) % limit == 0
        page, url = list_response(client, headers, url)
        items += page
    raise AssertionError("pagination did not end")


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def cursor_of(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def validation_error(field: str, message: str) -> dict[str, Any]:
    errors = [{"field": field, "message": message}]
    return {"detail": message, "code": "VALIDATION_ERROR", "field": field, "errors": errors}


@pytest.fixture
def seeded(client: TestClient, auth_headers: Headers) -> None:
    """Seven tasks with ties in due date, priority and case-folded title, two without due date."""
    create(client, auth_headers, "banana", priority="high", due_at=D2)
    create(client, auth_headers, "Apple", priority="low")
    apple = create(client, auth_headers, "apple", priority="medium", due_at=D1)
    create(client, auth_headers, "Cherry", priority="high", due_at=D1)
    create(client, auth_headers, "cherry", priority="low")
    create(client, auth_headers, "date", priority="medium", due_at=D2)
    create(client, auth_headers, "Banana", priority="high", due_at=D3)
    patched = client.patch(
        f"/api/tasks/{apple['id']}", json={"completed": True}, headers=auth_headers
    )
    assert patched.status_code == 200, patched.text


def test_list_body_is_a_json_array_without_link_on_the_last_page(
    client: TestClient, auth_headers: Headers
) -> None:
    task = create(client, auth_headers, "Only one", tags=["home"], due_at=D1)

    response = client.get("/api/tasks", headers=auth_headers)

    assert response.status_code == 200
    assert response.json() == [task]
    assert "link" not in response.headers


def test_default_order_is_newest_first(client: TestClient, auth_headers: Headers) -> None:
    ids = [create(client, auth_headers, f"Task {n}")["id"] for n in range(3)]

    page = list_page(client, auth_headers)

    assert [task["id"] for task in page] == ids[::-1]


def test_default_limit_is_a_hundred(client: TestClient, auth_headers: Headers) -> None:
    ids = [create(client, auth_headers, f"Task {n}")["id"] for n in range(101)]

    first, url = list_response(client, auth_headers)
    assert url is not None
    rest, last = list_response(client, auth_headers, url)

    assert [task["id"] for task in first] == ids[:0:-1]
    assert [task["id"] for task in rest] == ids[:1]
    assert last is None


def test_link_keeps_the_path_form_and_query_and_replaces_only_the_cursor(
    client: TestClient, auth_headers: Headers, user_id: str
) -> None:
    for n in range(3):
        create(client, auth_headers, f"Task {n}", tags=["a", "b"])
    path = f"/api/{user_id}/tasks"
    query = [("tag", "a"), ("tag", "b"), ("sort", "title"), ("limit", "1")]

    _, second = list_response(client, auth_headers, f"{path}/?{urlencode(query)}")
    assert second is not None
    _, third = list_response(client, auth_headers, second)
    assert third is not None

    parts = urlsplit(third)
    assert (parts.scheme, parts.netloc, parts.path) == ("http", "testserver", path)
    assert parse_qsl(parts.query)[:4] == query
    assert [name for name, _ in parse_qsl(parts.query)].count("cursor") == 1
    assert third != second


def test_inserts_and_deletes_between_pages_neither_repeat_nor_skip_a_task(
    client: TestClient, auth_headers: Headers
) -> None:
    ids = [create(client, auth_headers, f"Task {n}")["id"] for n in range(6)]

    first, url = list_response(client, auth_headers, limit=2, sort="created_at", order="asc")
    client.delete(f"/api/tasks/{first[0]['id']}", headers=auth_headers)
    client.delete(f"/api/tasks/{ids[4]}", headers=auth_headers)
    added = create(client, auth_headers, "Added")["id"]
    assert url is not None
    rest: list[Task] = []
    while url is not None:
        page, url = list_response(client, auth_headers, url)
        rest += page

    assert [task["id"] for task in first + rest] == [*ids[:4], ids[5], added]


@pytest.mark.parametrize(
    ("status", "expected"),
    [("all", ["Done", "Open"]), ("pending", ["Open"]), ("completed", ["Done"])],
)
def test_status_filters_by_completion(
    client: TestClient, auth_headers: Headers, status: str, expected: list[str]
) -> None:
    create(client, auth_headers, "Open")
    create(client, auth_headers, "Done", completed=True)

    assert titles(client, auth_headers, status=status) == expected


@pytest.mark.parametrize("priority", ["low", "medium", "high"])
def test_priority_filter_keeps_only_that_priority(
    client: TestClient, auth_headers: Headers, priority: str
) -> None:
    for level in ("low", "medium", "high"):
        create(client, auth_headers, level, priority=level)

    assert titles(client, auth_headers, priority=priority) == [priority]


def test_repeated_tag_keeps_tasks_having_all_of_them(
    client: TestClient, auth_headers: Headers
) -> None:
    create(client, auth_headers, "Work only", tags=["work"])
    create(client, auth_headers, "Both", tags=["work", "urgent"])
    create(client, auth_headers, "All three", tags=["urgent", "home", "work"])

    assert titles(client, auth_headers, tag=["work", "urgent"]) == ["All three", "Both"]
    assert titles(client, auth_headers, tag="home") == ["All three"]


def test_tag_values_are_trimmed_and_lowercased_like_stored_tags(
    client: TestClient, auth_headers: Headers
) -> None:
    create(client, auth_headers, "Tagged", tags=["  Work ", "URGENT"])
    create(client, auth_headers, "Untagged")

    assert titles(client, auth_headers, tag=[" WORK  ", "Urgent"]) == ["Tagged"]


def test_q_matches_title_or_description_case_insensitively(
    client: TestClient, auth_headers: Headers
) -> None:
    create(client, auth_headers, "Buy MILK")
    create(client, auth_headers, "Groceries", description="oat milk and bread")
    create(client, auth_headers, "Call mom", description="about the mill")

    assert titles(client, auth_headers, q="mIlK") == ["Groceries", "Buy MILK"]


@pytest.mark.parametrize(
    ("q", "matching", "other"),
    [("%", "100% done", "abc"), ("_", "a_b", "axb"), ("\\", "a\\b", "ab")],
)
def test_q_wildcard_characters_match_only_themselves(
    client: TestClient, auth_headers: Headers, q: str, matching: str, other: str
) -> None:
    create(client, auth_headers, matching)
    create(client, auth_headers, other)

    assert titles(client, auth_headers, q=q) == [matching]


def test_due_bounds_are_exclusive_and_leave_out_undated_tasks(
    client: TestClient, auth_headers: Headers
) -> None:
    for hour in (10, 11, 12):
        create(client, auth_headers, f"{hour}h", due_at=f"2030-01-01T{hour}:00:00Z")
    create(client, auth_headers, "Undated")
    ten, noon = "2030-01-01T12:00:00+02:00", "2030-01-01T07:00:00-05:00"  # 10:00Z, 12:00Z

    assert titles(client, auth_headers, due_before=noon) == ["11h", "10h"]
    assert titles(client, auth_headers, due_after=ten) == ["12h", "11h"]
    assert titles(client, auth_headers, due_after=ten, due_before=noon) == ["11h"]


@pytest.mark.usefixtures("seeded")
@pytest.mark.parametrize(("sort", "order", "expected"), SORTED_TITLES)
def test_each_sort_orders_tasks_with_ties_by_id_and_undated_last(
    client: TestClient, auth_headers: Headers, sort: str, order: str, expected: list[str]
) -> None:
    assert titles(client, auth_headers, sort=sort, order=order) == expected


@pytest.mark.usefixtures("seeded")
@pytest.mark.parametrize("limit", [1, 2])
@pytest.mark.parametrize(("sort", "order", "expected"), SORTED_TITLES)
def test_walking_every_page_yields_each_task_once(
    client: TestClient,
    auth_headers: Headers,
    sort: str,
    order: str,
    expected: list[str],
    limit: int,
) -> None:
    full = list_page(client, auth_headers, sort=sort, order=order, limit=100)

    walked = walk(client, auth_headers, limit, sort=sort, order=order)

    assert [task["id"] for task in walked] == [task["id"] for task in full]
    assert [task["title"] for task in walked] == expected


@pytest.mark.parametrize(
    ("sort", "cursor"),
    [
        pytest.param("created_at", "not a cursor!!", id="random text"),
        pytest.param("title", base64.urlsafe_b64encode(b"\xff\xfe[").decode(), id="not utf-8"),
        pytest.param("created_at", cursor_of({"sort": "created_at"}), id="json object"),
        pytest.param("created_at", cursor_of(["created_at", "desc", "soon", 1]), id="bad time"),
        pytest.param("due_at", cursor_of(["due_at", "desc", "2030-01-01T00:00", 1]), id="naive"),
        pytest.param("priority", cursor_of(["priority", "desc", 4, 1]), id="priority 4"),
        pytest.param("title", cursor_of(["title", "desc", "a", "1"]), id="text id"),
        pytest.param("title", cursor_of(["title", "desc", "a", 0]), id="id 0"),
        pytest.param("title", cursor_of(["title", "desc", "\ud800", 1]), id="lone surrogate"),
        pytest.param("created_at", b64(b"[" * 1500), id="1500 brackets"),
        pytest.param("created_at", b64(b"[" * 40 + b"]" * 40), id="40 levels"),
        pytest.param("title", b64(b'["title", "desc", "a", ' + b"9" * 5000 + b"]"), id="huge id"),
        pytest.param("title", b64(b'["title", "desc", "a", NaN]'), id="NaN id"),
    ],
)
def test_malformed_cursor_is_422_naming_cursor(
    client: TestClient, auth_headers: Headers, sort: str, cursor: str
) -> None:
    params = {"sort": sort, "cursor": cursor}

    response = client.get("/api/tasks", params=params, headers=auth_headers)

    assert response.status_code == 422
    assert response.json() == validation_error("cursor", "cursor is malformed")


def test_an_empty_cursor_is_the_first_page(client: TestClient, auth_headers: Headers) -> None:
    for title in ("one", "two", "three"):
        create(client, auth_headers, title)

    page = list_page(client, auth_headers, limit=2, cursor="")

    assert [task["title"] for task in page] == ["three", "two"]


@pytest.mark.parametrize(
    "params", [{"sort": "title", "order": "desc"}, {"sort": "due_at", "order": "asc"}]
)
def test_cursor_from_another_sort_or_order_is_422_naming_cursor(
    client: TestClient, auth_headers: Headers, params: dict[str, str]
) -> None:
    for n in range(3):
        create(client, auth_headers, f"Task {n}")
    cursor = next_cursor(client, auth_headers, sort="title", order="asc", limit=1)

    response = client.get("/api/tasks", params={**params, "cursor": cursor}, headers=auth_headers)

    assert response.status_code == 422
    message = "cursor belongs to another sort or order; start again without it"
    assert response.json() == validation_error("cursor", message)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("limit", "0"),
        ("limit", "501"),
        ("limit", "abc"),
        ("status", "bogus"),
        ("sort", "bogus"),
        ("order", "sideways"),
        ("priority", "urgent"),
        ("tag", "   "),
        ("tag", "x" * 31),
        ("q", "a\x00b"),
        ("q", "x" * 201),
        ("due_before", "2030-01-01T10:00:00"),
        ("due_after", "2030-01-01T10:00:00"),
    ],
)
def test_invalid_query_value_is_422_naming_its_parameter(
    client: TestClient, auth_headers: Headers, name: str, value: str
) -> None:
    response = client.get("/api/tasks", params={name: value}, headers=auth_headers)

    assert response.status_code == 422
    body = response.json()
    assert (body["code"], body["field"]) == ("VALIDATION_ERROR", name)
    assert [error["field"] for error in body["errors"]] == [name]


def test_unknown_query_parameters_are_ignored(client: TestClient, auth_headers: Headers) -> None:
    task = create(client, auth_headers, "Kept")

    page = list_page(client, auth_headers, colour="blue", page="3", offset="1")

    assert page == [task]


def test_another_users_tasks_never_appear(
    client: TestClient, auth_headers: Headers, other_headers: Headers
) -> None:
    mine = create(client, auth_headers, "Mine", tags=["shared"])
    create(client, other_headers, "Theirs", tags=["shared"])
    create(client, other_headers, "Mine too", tags=["shared"])

    assert list_page(client, auth_headers) == [mine]
    assert titles(client, auth_headers, tag="shared", q="mine") == ["Mine"]
    assert [task["title"] for task in walk(client, auth_headers, 1)] == ["Mine"]


@pytest.mark.parametrize("name", ["due_before", "due_after"])
@pytest.mark.parametrize(
    "value", ["0.5", "1700000000", "2030-01-01T00:00Z", "2030-01-01T00:00:00+0100"]
)
def test_a_date_query_that_is_not_strict_rfc_3339_is_422(
    client: TestClient, auth_headers: Headers, name: str, value: str
) -> None:
    response = client.get("/api/tasks", params={name: value}, headers=auth_headers)

    message = (
        "must be an RFC 3339 date-time with seconds and a UTC offset (Z or +hh:mm), "
        "such as 2030-01-01T09:00:00Z"
    )
    assert response.status_code == 422
    assert response.json() == {
        "detail": f"{name}: {message}",
        "code": "VALIDATION_ERROR",
        "field": name,
        "errors": [{"field": name, "message": message}],
    }
