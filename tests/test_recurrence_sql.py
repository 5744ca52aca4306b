"""The SQL functions of migration 0004, by example: each rule form and edge."""

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Connection, create_engine, text

from backend.config import sqlalchemy_url


@pytest.fixture(scope="module")
def connection(database_url: str) -> Iterator[Connection]:
    engine = create_engine(sqlalchemy_url(database_url))
    with engine.connect() as connection:
        yield connection
    engine.dispose()


def utc(value: str) -> datetime:
    return datetime.fromisoformat(value).astimezone(UTC)


def next_occurrence(connection: Connection, due_at: str, rule: str, tz: str | None) -> str | None:
    found = connection.execute(
        text("SELECT task_next_occurrence(:due_at, :rule, :tz)"),
        {"due_at": utc(due_at), "rule": rule, "tz": tz},
    ).scalar_one()
    return None if found is None else found.astimezone(UTC).isoformat().replace("+00:00", "Z")


@pytest.mark.parametrize(
    ("due_at", "rule", "expected"),
    [
        ("2026-12-01T09:00:00Z", "FREQ=DAILY", "2026-12-02T09:00:00Z"),
        ("2026-12-31T09:00:00Z", "FREQ=DAILY;INTERVAL=3", "2027-01-03T09:00:00Z"),
        ("2026-12-01T09:00:00Z", "FREQ=WEEKLY", "2026-12-08T09:00:00Z"),
        ("2026-12-01T09:00:00Z", "FREQ=WEEKLY;INTERVAL=3", "2026-12-22T09:00:00Z"),
        ("2026-11-30T09:00:00Z", "FREQ=WEEKLY;BYDAY=MO,WE,FR", "2026-12-02T09:00:00Z"),
        ("2026-12-04T09:00:00Z", "FREQ=WEEKLY;BYDAY=MO,WE,FR", "2026-12-07T09:00:00Z"),
        ("2026-12-02T09:00:00Z", "FREQ=WEEKLY;BYDAY=MO", "2026-12-07T09:00:00Z"),
        ("2026-11-30T09:00:00Z", "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,FR", "2026-12-04T09:00:00Z"),
        ("2026-12-04T09:00:00Z", "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,FR", "2026-12-14T09:00:00Z"),
        ("2026-12-02T09:00:00Z", "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,FR", "2026-12-04T09:00:00Z"),
        ("2026-12-06T09:00:00Z", "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,FR", "2026-12-14T09:00:00Z"),
        ("2026-12-01T09:00:00Z", "FREQ=WEEKLY;BYDAY=TU", "2026-12-08T09:00:00Z"),
        ("2026-01-15T09:00:00Z", "FREQ=MONTHLY", "2026-02-15T09:00:00Z"),
        ("2026-01-31T09:00:00Z", "FREQ=MONTHLY", "2026-03-31T09:00:00Z"),
        ("2026-03-31T09:00:00Z", "FREQ=MONTHLY", "2026-05-31T09:00:00Z"),
        ("2026-08-31T09:00:00Z", "FREQ=MONTHLY", "2026-10-31T09:00:00Z"),
        ("2026-01-30T09:00:00Z", "FREQ=MONTHLY", "2026-03-30T09:00:00Z"),
        ("2028-01-29T09:00:00Z", "FREQ=MONTHLY", "2028-02-29T09:00:00Z"),
        ("2026-01-29T09:00:00Z", "FREQ=MONTHLY", "2026-03-29T09:00:00Z"),
        ("2026-01-31T09:00:00Z", "FREQ=MONTHLY;INTERVAL=2", "2026-03-31T09:00:00Z"),
        ("2026-08-31T09:00:00Z", "FREQ=MONTHLY;INTERVAL=3", "2027-05-31T09:00:00Z"),
        ("2026-11-15T09:00:00Z", "FREQ=MONTHLY;INTERVAL=2", "2027-01-15T09:00:00Z"),
        ("2026-06-01T09:00:00Z", "FREQ=YEARLY", "2027-06-01T09:00:00Z"),
        ("2024-02-29T09:00:00Z", "FREQ=YEARLY", "2028-02-29T09:00:00Z"),
        ("2096-02-29T09:00:00Z", "FREQ=YEARLY", "2104-02-29T09:00:00Z"),
        ("2024-02-29T09:00:00Z", "FREQ=YEARLY;INTERVAL=3", "2036-02-29T09:00:00Z"),
        ("2026-06-01T09:00:00Z", "FREQ=YEARLY;INTERVAL=10", "2036-06-01T09:00:00Z"),
        ("2026-12-01T09:00:00.123456Z", "FREQ=DAILY", "2026-12-02T09:00:00.123456Z"),
    ],
)
def test_each_rule_form_moves_to_its_next_occurrence_in_utc(
    connection: Connection, due_at: str, rule: str, expected: str
) -> None:
    assert next_occurrence(connection, due_at, rule, None) == expected
    assert next_occurrence(connection, due_at, rule, "UTC") == expected


@pytest.mark.parametrize(
    ("due_at", "rule", "expected"),
    [
        ("2026-12-01T09:00:00Z", "FREQ=DAILY;COUNT=3", "2026-12-02T09:00:00Z"),
        ("2026-12-01T09:00:00Z", "FREQ=DAILY;COUNT=2", "2026-12-02T09:00:00Z"),
        ("2026-12-01T09:00:00Z", "FREQ=DAILY;COUNT=1", None),
        ("2026-12-01T09:00:00Z", "FREQ=DAILY;UNTIL=20261202T090000Z", "2026-12-02T09:00:00Z"),
        ("2026-12-01T09:00:00Z", "FREQ=DAILY;UNTIL=20261202T085959Z", None),
        ("2026-12-01T09:00:00Z", "FREQ=DAILY;UNTIL=20261201T090000Z", None),
        ("2026-12-01T09:00:00Z", "FREQ=DAILY;UNTIL=20200101T000000Z", None),
        ("2026-01-31T09:00:00Z", "FREQ=MONTHLY;UNTIL=20260301T000000Z", None),
        ("9999-12-31T09:00:00Z", "FREQ=DAILY", None),
        ("9999-06-30T09:00:00Z", "FREQ=MONTHLY;INTERVAL=12", None),
        ("9996-02-29T09:00:00Z", "FREQ=YEARLY", None),
        ("9999-12-30T09:00:00Z", "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR,SA,SU", "9999-12-31T09:00:00Z"),
    ],
)
def test_count_until_and_year_9999_end_the_occurrences(
    connection: Connection, due_at: str, rule: str, expected: str | None
) -> None:
    assert next_occurrence(connection, due_at, rule, None) == expected


@pytest.mark.parametrize(
    ("due_at", "rule", "tz", "expected"),
    [
        # Monday 09:00 in Sydney is Sunday 23:00 UTC (AEST) or 22:00 UTC (AEDT).
        (
            "2026-03-29T22:00:00Z",
            "FREQ=WEEKLY;BYDAY=MO",
            "Australia/Sydney",
            "2026-04-05T23:00:00Z",
        ),
        (
            "2026-04-05T23:00:00Z",
            "FREQ=WEEKLY;BYDAY=MO",
            "Australia/Sydney",
            "2026-04-12T23:00:00Z",
        ),
        (
            "2026-09-27T23:00:00Z",
            "FREQ=WEEKLY;BYDAY=MO",
            "Australia/Sydney",
            "2026-10-04T22:00:00Z",
        ),
        ("2026-09-27T23:00:00Z", "FREQ=WEEKLY", "Australia/Sydney", "2026-10-04T22:00:00Z"),
        ("2026-09-27T23:00:00Z", "FREQ=WEEKLY;BYDAY=MO", None, "2026-09-28T23:00:00Z"),
        ("2026-04-05T23:00:00Z", "FREQ=WEEKLY;BYDAY=MO", None, "2026-04-06T23:00:00Z"),
        ("2026-01-30T22:00:00Z", "FREQ=MONTHLY", "Australia/Sydney", "2026-03-30T22:00:00Z"),
        ("2026-03-30T22:00:00Z", "FREQ=MONTHLY", "Australia/Sydney", "2026-05-30T23:00:00Z"),
        # 09:00 in New York: EST is UTC-5, EDT UTC-4.
        ("2026-03-07T14:00:00Z", "FREQ=DAILY", "America/New_York", "2026-03-08T13:00:00Z"),
        ("2026-10-31T13:00:00Z", "FREQ=DAILY", "America/New_York", "2026-11-01T14:00:00Z"),
        (
            "2026-03-02T14:00:00Z",
            "FREQ=WEEKLY;BYDAY=MO,FR",
            "America/New_York",
            "2026-03-06T14:00:00Z",
        ),
        (
            "2026-03-06T14:00:00Z",
            "FREQ=WEEKLY;BYDAY=MO,FR",
            "America/New_York",
            "2026-03-09T13:00:00Z",
        ),
        # 02:30 does not exist on 8 March in New York: the offset before the gap applies.
        ("2026-03-07T07:30:00Z", "FREQ=DAILY", "America/New_York", "2026-03-08T07:30:00Z"),
        # 01:30 happens twice on 1 November: the first (EDT) is the occurrence.
        ("2026-10-31T05:30:00Z", "FREQ=DAILY", "America/New_York", "2026-11-01T05:30:00Z"),
        ("2026-11-01T05:30:00Z", "FREQ=DAILY", "America/New_York", "2026-11-02T06:30:00Z"),
        ("2026-11-01T06:30:00Z", "FREQ=DAILY", "America/New_York", "2026-11-02T06:30:00Z"),
        ("2025-12-31T23:00:00Z", "FREQ=YEARLY", "Europe/London", "2026-12-31T23:00:00Z"),
        ("2026-06-30T23:00:00Z", "FREQ=YEARLY", "Europe/London", "2027-06-30T23:00:00Z"),
    ],
)
def test_a_rule_keeps_its_local_wall_clock_time_across_daylight_saving(
    connection: Connection, due_at: str, rule: str, tz: str | None, expected: str
) -> None:
    assert next_occurrence(connection, due_at, rule, tz) == expected


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ("FREQ=DAILY;COUNT=3", "FREQ=DAILY;COUNT=2"),
        (
            "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,FR;COUNT=1000",
            "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,FR;COUNT=999",
        ),
        ("FREQ=DAILY;COUNT=10", "FREQ=DAILY;COUNT=9"),
        ("FREQ=DAILY", "FREQ=DAILY"),
        ("FREQ=DAILY;UNTIL=20301231T235959Z", "FREQ=DAILY;UNTIL=20301231T235959Z"),
    ],
)
def test_advancing_a_rule_uses_up_one_of_its_count(
    connection: Connection, rule: str, expected: str
) -> None:
    advanced = connection.execute(text("SELECT task_rule_advanced(:rule)"), {"rule": rule})

    assert advanced.scalar_one() == expected


@pytest.mark.parametrize("due_at", ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999Z"])
@pytest.mark.parametrize("tz", ["America/New_York", "Pacific/Kiritimati", "Pacific/Apia", None])
def test_every_rule_answers_at_the_ends_of_the_calendar_without_an_error(
    connection: Connection, due_at: str, tz: str | None
) -> None:
    rules = ["FREQ=DAILY", "FREQ=WEEKLY;BYDAY=SU", "FREQ=MONTHLY;INTERVAL=365", "FREQ=YEARLY"]

    found = [next_occurrence(connection, due_at, rule, tz) for rule in rules]

    assert all(value is None or utc(value) > utc(due_at) for value in found)
