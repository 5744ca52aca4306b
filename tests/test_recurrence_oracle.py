"""`task_next_occurrence` against python-dateutil's `rrule`, an independent RFC 5545 engine.

Both read a rule the same way: DTSTART is the current `due_at` as a wall-clock time in the
task's zone, the answer is the first occurrence strictly after `due_at`, a wall-clock time
in a gap takes the offset before it and one that happens twice is the first (`fold=0`).
COUNT is ours alone (the occurrences left, the current one included), so the oracle only
checks that COUNT=1 ends the rule and any other COUNT leaves the answer alone.
"""

import calendar
import random
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, available_timezones

import psycopg
import pytest
from dateutil import rrule

from backend.recurrence import FREQUENCIES, WEEKDAYS, Rule, zone_name

ZONES = (
    "UTC",
    "Australia/Sydney",
    "America/New_York",
    "America/Los_Angeles",
    "Europe/London",
    "Europe/Dublin",
    "America/Sao_Paulo",
    "America/Santiago",
    "Pacific/Auckland",
    "Pacific/Chatham",
    "Australia/Lord_Howe",
    "Asia/Tehran",
    "Asia/Kolkata",
)
RRULE_FREQUENCIES = {
    "DAILY": rrule.DAILY,
    "WEEKLY": rrule.WEEKLY,
    "MONTHLY": rrule.MONTHLY,
    "YEARLY": rrule.YEARLY,
}
RRULE_DAYS = dict(zip(WEEKDAYS, rrule.weekdays, strict=True))


@dataclass(frozen=True)
class Case:
    due_at: datetime
    rule: Rule
    zone: str


def expected(case: Case) -> datetime | None:
    """The oracle: dateutil's first occurrence after `due_at`, within COUNT, UNTIL and 9999."""
    if case.rule.count == 1:
        return None
    found = dateutil_next(case)
    if found is None or (case.rule.until is not None and found > case.rule.until):
        return None
    return found


def dateutil_next(case: Case) -> datetime | None:
    start = case.due_at.astimezone(ZoneInfo(case.zone))
    occurrences = rrule.rrule(
        RRULE_FREQUENCIES[case.rule.freq],
        dtstart=start,
        interval=case.rule.interval,
        byweekday=[RRULE_DAYS[day] for day in case.rule.byday] or None,
        wkst=rrule.MO,
    )
    try:
        for occurrence in occurrences:
            instant: datetime = occurrence.astimezone(UTC)
            if instant > case.due_at:
                return instant
    except OverflowError:  # past year 9999 in UTC
        return None
    return None


def computed(connection: psycopg.Connection, cases: list[Case]) -> list[datetime | None]:
    """`task_next_occurrence` for every case, in one statement."""
    rows = connection.execute(
        "SELECT task_next_occurrence(d, r, z) FROM unnest(%s::timestamptz[], %s::text[],"
        " %s::text[]) WITH ORDINALITY AS c(d, r, z, i) ORDER BY i",
        (
            [case.due_at for case in cases],
            [str(case.rule) for case in cases],
            [None if case.zone == "UTC" else case.zone for case in cases],
        ),
    ).fetchall()
    return [None if value is None else value.astimezone(UTC) for (value,) in rows]


@pytest.fixture(scope="module")
def connection(database_url: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(database_url) as connection:
        yield connection


def instant(local: datetime, zone: str, fold: int) -> datetime:
    return local.replace(tzinfo=ZoneInfo(zone), fold=fold).astimezone(UTC)


def random_rule(rng: random.Random) -> Rule:
    freq = rng.choice(FREQUENCIES)
    days = tuple(d for d in WEEKDAYS if rng.random() < 0.3) if freq == "WEEKLY" else ()
    interval = rng.choice((1, 1, 1, 2, 3, 5, 12, rng.randint(1, 365)))
    count = rng.choice((None, None, None, 1, 2, rng.randint(1, 1000)))
    return Rule(freq, interval, days if rng.random() < 0.7 else (), count)


def random_case(rng: random.Random) -> Case:
    year, month = rng.randint(1975, 2070), rng.randint(1, 12)
    local = datetime(
        year,
        month,
        rng.randint(1, calendar.monthrange(year, month)[1]),
        rng.randint(0, 23),
        rng.choice((0, 15, 30, 45)),
        rng.choice((0, 0, 59)),
    )
    zone = rng.choice(ZONES)
    return Case(instant(local, zone, rng.randint(0, 1)), random_rule(rng), zone)


def with_until(rng: random.Random, case: Case) -> Case:
    """The case with an UNTIL at, just before or just after the oracle's answer."""
    answer = dateutil_next(case) or case.due_at
    until = answer + rng.choice((timedelta(0), timedelta(seconds=-1), timedelta(seconds=1)))
    return replace(case, rule=replace(case.rule, count=None, until=until.replace(microsecond=0)))


def test_random_rules_agree_with_dateutil(connection: psycopg.Connection) -> None:
    rng = random.Random(5545)
    cases = [random_case(rng) for _ in range(3000)]
    cases += [with_until(rng, case) for case in cases[:600]]

    disagreements = [
        (case, got, want)
        for case, got in zip(cases, computed(connection, cases), strict=True)
        if got != (want := expected(case))
    ]

    assert disagreements == []


def transitions(zone: str, year: int) -> Iterator[datetime]:
    """Each instant in `year` at which the zone's UTC offset changes (to the hour)."""
    tz = ZoneInfo(zone)
    hour = datetime(year, 1, 1, tzinfo=UTC)
    while hour.year == year:
        after = hour + timedelta(hours=1)
        if hour.astimezone(tz).utcoffset() != after.astimezone(tz).utcoffset():
            yield after
        hour = after


def around_transition(zone: str, change: datetime) -> Iterator[Case]:
    """Daily and weekly rules whose next wall-clock time falls at every half hour of the day
    of a transition: in its gap or overlap, just before and just after it."""
    day = change.astimezone(ZoneInfo(zone)).replace(hour=0, minute=0, tzinfo=None)
    weekday = WEEKDAYS[day.weekday()]
    for minutes in range(0, 24 * 60, 30):
        for fold in (0, 1):
            wall = day + timedelta(minutes=minutes)
            yield Case(instant(wall - timedelta(days=1), zone, fold), Rule("DAILY"), zone)
            yield Case(instant(wall - timedelta(days=7), zone, fold), Rule("WEEKLY"), zone)
            yield Case(
                instant(wall - timedelta(days=2), zone, fold),
                Rule("WEEKLY", byday=(weekday,)),
                zone,
            )


def test_rules_around_every_daylight_saving_transition_agree_with_dateutil(
    connection: psycopg.Connection,
) -> None:
    cases = [
        case
        for zone in ZONES
        for change in transitions(zone, 2026)
        for case in around_transition(zone, change)
    ]

    disagreements = [
        (case, got, want)
        for case, got in zip(cases, computed(connection, cases), strict=True)
        if got != (want := expected(case))
    ]

    assert len(cases) > 2000
    assert disagreements == []


@pytest.mark.parametrize("session_zone", ["Pacific/Chatham", "America/St_Johns", "Asia/Kathmandu"])
def test_the_answer_does_not_depend_on_the_session_time_zone(
    connection: psycopg.Connection, session_zone: str
) -> None:
    rng = random.Random(1582)
    cases = [random_case(rng) for _ in range(500)]
    cases += [with_until(rng, case) for case in cases[:100]]
    in_utc = computed(connection, cases)

    connection.execute("SELECT set_config('TimeZone', %s, true)", (session_zone,))
    in_session_zone = computed(connection, cases)
    connection.rollback()

    assert in_session_zone == in_utc


def accepted_zones() -> list[str]:
    """Every zone name `recurrence.TimeZone` accepts on this machine."""
    names = []
    for name in sorted(available_timezones()):
        try:
            names.append(zone_name(name))
        except ValueError:
            continue
    return names


def test_every_accepted_zone_agrees_with_dateutil(connection: psycopg.Connection) -> None:
    rng = random.Random(2026)
    cases = [replace(random_case(rng), zone=zone) for zone in accepted_zones() for _ in range(4)]

    disagreements = [
        (case, got, want)
        for case, got in zip(cases, computed(connection, cases), strict=True)
        if got != (want := expected(case))
    ]

    assert len(cases) > 1000
    assert disagreements == []


def test_an_accepted_zone_postgresql_reads_as_an_abbreviation_has_one_fixed_offset(
    connection: psycopg.Connection,
) -> None:
    rows = connection.execute("SELECT upper(abbrev), utc_offset FROM pg_timezone_abbrevs")
    abbreviations: dict[str, timedelta] = dict(rows.fetchall())
    winter, summer = datetime(2026, 1, 15, tzinfo=UTC), datetime(2026, 7, 15, tzinfo=UTC)

    clashes = {
        name: (
            winter.astimezone(ZoneInfo(name)).utcoffset(),
            summer.astimezone(ZoneInfo(name)).utcoffset(),
        )
        for name in accepted_zones()
        if name.upper() in abbreviations
    }

    assert clashes
    assert {name: (abbreviations[name.upper()],) * 2 for name in clashes} == clashes
