"""Recurring tasks through the API: every route that completes a task advances it."""

from typing import Any

import pytest
from fastapi.testclient import TestClient

Headers = dict[str, str]

SYDNEY_MONDAY = "2026-03-29T22:00:00Z"  # 09:00 on Monday 30 March, AEDT (UTC+11)
WEEKLY_SYDNEY = {
    "due_at": SYDNEY_MONDAY,
    "recurrence": "FREQ=WEEKLY;BYDAY=MO",
    "timezone": "Australia/Sydney",
}
COMPLETING = [
    ("PATCH", "/complete", None),
    ("PATCH", "/complete", {"completed": True}),
    ("PUT", "", {"completed": True}),
    ("PATCH", "", {"completed": True}),
]


def create(client: TestClient, headers: Headers, **fields: Any) -> dict[str, Any]:
    response = client.post("/api/tasks", json={"title": "Report", **fields}, headers=headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def toggle(client: TestClient, headers: Headers, task: dict[str, Any]) -> dict[str, Any]:
    response = client.patch(f"/api/tasks/{task['id']}/complete", headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def state(task: dict[str, Any]) -> tuple[bool, str | None, str | None, str | None]:
    return task["completed"], task["completed_at"], task["due_at"], task["recurrence"]


def invalid(field: str, message: str) -> dict[str, Any]:
    return {
        "detail": f"{field}: {message}",
        "code": "VALIDATION_ERROR",
        "field": field,
        "errors": [{"field": field, "message": message}],
    }


def test_a_task_is_created_with_its_rule_normalised_and_its_zone(
    client: TestClient, auth_headers: Headers
) -> None:
    task = create(
        client,
        auth_headers,
        due_at=SYDNEY_MONDAY,
        recurrence="byday=fr,mo;interval=02;freq=weekly",
        timezone="Australia/Sydney",
    )

    assert task["recurrence"] == "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,FR"
    assert task["timezone"] == "Australia/Sydney"
    assert client.get(f"/api/tasks/{task['id']}", headers=auth_headers).json() == task


@pytest.mark.parametrize(("method", "suffix", "body"), COMPLETING)
def test_completing_a_weekly_sydney_monday_task_moves_it_to_next_monday_across_dst(
    client: TestClient,
    auth_headers: Headers,
    method: str,
    suffix: str,
    body: dict[str, Any] | None,
) -> None:
    task = create(client, auth_headers, **WEEKLY_SYDNEY)

    response = client.request(
        method, f"/api/tasks/{task['id']}{suffix}", json=body, headers=auth_headers
    )

    advanced = response.json()
    assert response.status_code == 200
    assert response.headers["etag"] == '"2"'
    assert advanced | {"updated_at": None} == task | {
        "due_at": "2026-04-05T23:00:00Z",  # 09:00 on Monday 6 April, AEST (UTC+10)
        "version": 2,
        "updated_at": None,
    }


def test_the_october_change_moves_sunday_2300_utc_to_sunday_2200_utc(
    client: TestClient, auth_headers: Headers
) -> None:
    task = create(client, auth_headers, **{**WEEKLY_SYDNEY, "due_at": "2026-09-27T23:00:00Z"})

    advanced = toggle(client, auth_headers, task)

    assert state(advanced) == (False, None, "2026-10-04T22:00:00Z", "FREQ=WEEKLY;BYDAY=MO")


def test_count_counts_down_and_the_last_completion_completes_keeping_the_rule(
    client: TestClient, auth_headers: Headers
) -> None:
    task = create(client, auth_headers, **{**WEEKLY_SYDNEY, "recurrence": "FREQ=DAILY;COUNT=2"})

    first = toggle(client, auth_headers, task)
    last = toggle(client, auth_headers, task)

    assert state(first) == (False, None, "2026-03-30T22:00:00Z", "FREQ=DAILY;COUNT=1")
    assert state(last)[0] is True
    assert last["completed_at"] is not None
    assert state(last)[2:] == ("2026-03-30T22:00:00Z", "FREQ=DAILY;COUNT=1")
    reopened = toggle(client, auth_headers, task)
    assert state(reopened) == (False, None, "2026-03-30T22:00:00Z", "FREQ=DAILY;COUNT=1")


def test_until_is_inclusive_and_the_completion_after_it_completes(
    client: TestClient, auth_headers: Headers
) -> None:
    rule = "FREQ=DAILY;UNTIL=20260330T220000Z"
    task = create(client, auth_headers, due_at=SYDNEY_MONDAY, recurrence=rule)

    first = toggle(client, auth_headers, task)
    second = toggle(client, auth_headers, task)

    assert state(first) == (False, None, "2026-03-30T22:00:00Z", rule)
    assert (second["completed"], second["due_at"], second["recurrence"]) == (
        True,
        "2026-03-30T22:00:00Z",
        rule,
    )


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
def test_a_due_at_in_the_completing_body_applies_before_the_task_advances(
    client: TestClient, auth_headers: Headers, method: str
) -> None:
    task = create(client, auth_headers, due_at=SYDNEY_MONDAY, recurrence="FREQ=DAILY")

    response = client.request(
        method,
        f"/api/tasks/{task['id']}",
        json={"due_at": "2026-06-01T09:00:00Z", "recurrence": "FREQ=MONTHLY", "completed": True},
        headers=auth_headers,
    )

    assert state(response.json()) == (False, None, "2026-07-01T09:00:00Z", "FREQ=MONTHLY")


def test_a_body_that_clears_the_rule_while_completing_completes_the_task(
    client: TestClient, auth_headers: Headers
) -> None:
    task = create(client, auth_headers, due_at=SYDNEY_MONDAY, recurrence="FREQ=DAILY")

    response = client.patch(
        f"/api/tasks/{task['id']}",
        json={"recurrence": None, "completed": True},
        headers=auth_headers,
    )

    body = response.json()
    assert (body["completed"], body["due_at"], body["recurrence"]) == (True, SYDNEY_MONDAY, None)


def test_setting_completed_false_never_moves_due_at(
    client: TestClient, auth_headers: Headers
) -> None:
    task = create(client, auth_headers, **WEEKLY_SYDNEY)

    response = client.patch(
        f"/api/tasks/{task['id']}/complete", json={"completed": False}, headers=auth_headers
    )

    assert state(response.json()) == (False, None, SYDNEY_MONDAY, "FREQ=WEEKLY;BYDAY=MO")
    assert response.json()["version"] == 2


def test_creating_a_recurring_task_completed_creates_it_at_its_next_occurrence(
    client: TestClient, auth_headers: Headers
) -> None:
    rule = "FREQ=WEEKLY;BYDAY=MO;COUNT=3"

    task = create(client, auth_headers, **{**WEEKLY_SYDNEY, "recurrence": rule}, completed=True)

    assert state(task) == (False, None, "2026-04-05T23:00:00Z", "FREQ=WEEKLY;BYDAY=MO;COUNT=2")
    assert task["version"] == 1


def test_creating_a_recurring_task_completed_with_no_occurrence_left_completes_it(
    client: TestClient, auth_headers: Headers
) -> None:
    rule = "FREQ=DAILY;COUNT=1"

    task = create(client, auth_headers, due_at=SYDNEY_MONDAY, recurrence=rule, completed=True)

    assert (task["completed"], task["due_at"], task["recurrence"]) == (True, SYDNEY_MONDAY, rule)
    assert task["completed_at"] == task["created_at"]


def test_null_clears_the_rule_and_the_zone(client: TestClient, auth_headers: Headers) -> None:
    task = create(client, auth_headers, **WEEKLY_SYDNEY)

    response = client.put(
        f"/api/tasks/{task['id']}",
        json={"recurrence": None, "timezone": None},
        headers=auth_headers,
    )

    assert (response.json()["recurrence"], response.json()["timezone"]) == (None, None)
    assert toggle(client, auth_headers, task)["completed"] is True


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        (
            {"due_at": SYDNEY_MONDAY, "recurrence": "FREQ=HOURLY"},
            "recurrence",
            "FREQ must be one of DAILY, WEEKLY, MONTHLY, YEARLY",
        ),
        (
            {"due_at": SYDNEY_MONDAY, "recurrence": "FREQ=DAILY;COUNT=2;UNTIL=20301231T235959Z"},
            "recurrence",
            "COUNT and UNTIL cannot be used together",
        ),
        (
            {"due_at": SYDNEY_MONDAY, "timezone": "Mars/Olympus"},
            "timezone",
            "must be an IANA time zone name such as Australia/Sydney (names are case-sensitive)",
        ),
        ({"recurrence": "FREQ=DAILY"}, "recurrence", "a recurring task needs a due_at"),
        (
            {"recurrence": "FREQ=DAILY", "due_at": None},
            "recurrence",
            "a recurring task needs a due_at",
        ),
    ],
)
def test_a_create_with_an_invalid_rule_or_zone_is_422_naming_it(
    client: TestClient, auth_headers: Headers, fields: dict[str, Any], field: str, message: str
) -> None:
    response = client.post("/api/tasks", json={"title": "x", **fields}, headers=auth_headers)

    assert response.status_code == 422
    assert response.json() == invalid(field, message)
    assert client.get("/api/tasks", headers=auth_headers).json() == []


@pytest.mark.parametrize(
    ("fields", "body"),
    [
        (WEEKLY_SYDNEY, {"due_at": None}),
        (WEEKLY_SYDNEY, {"due_at": None, "completed": True}),
        ({}, {"recurrence": "FREQ=DAILY"}),
        ({}, {"recurrence": "FREQ=DAILY", "due_at": None}),
    ],
)
@pytest.mark.parametrize("method", ["PUT", "PATCH"])
def test_an_edit_that_leaves_a_rule_without_due_at_is_422_and_changes_nothing(
    client: TestClient,
    auth_headers: Headers,
    fields: dict[str, Any],
    body: dict[str, Any],
    method: str,
) -> None:
    task = create(client, auth_headers, **fields)

    response = client.request(method, f"/api/tasks/{task['id']}", json=body, headers=auth_headers)

    assert response.status_code == 422
    assert response.json() == invalid("recurrence", "a recurring task needs a due_at")
    assert client.get(f"/api/tasks/{task['id']}", headers=auth_headers).json() == task


def test_a_task_without_a_rule_completes_with_the_body_fields_applied(
    client: TestClient, auth_headers: Headers
) -> None:
    task = create(client, auth_headers, due_at=SYDNEY_MONDAY)

    response = client.patch(
        f"/api/tasks/{task['id']}", json={"due_at": None, "completed": True}, headers=auth_headers
    )

    body = response.json()
    assert (body["completed"], body["due_at"], body["recurrence"]) == (True, None, None)
    assert body["completed_at"] is not None


def test_a_due_at_given_while_reopening_applies_without_advancing(
    client: TestClient, auth_headers: Headers
) -> None:
    task = create(client, auth_headers, **WEEKLY_SYDNEY)

    response = client.patch(
        f"/api/tasks/{task['id']}",
        json={"due_at": "2026-05-03T23:00:00Z", "completed": False},
        headers=auth_headers,
    )

    assert state(response.json()) == (False, None, "2026-05-03T23:00:00Z", "FREQ=WEEKLY;BYDAY=MO")
