"""The rule grammar and zone names of `backend.recurrence`, as request bodies will see them."""

import re

import pytest
from pydantic import BaseModel, ValidationError

from backend.recurrence import Recurrence, TimeZone, normalise_rule, zone_name


@pytest.mark.parametrize(
    ("given", "normalised"),
    [
        ("FREQ=DAILY", "FREQ=DAILY"),
        ("freq=weekly;byday=mo", "FREQ=WEEKLY;BYDAY=MO"),
        ("BYDAY=FR,MO;INTERVAL=2;FREQ=WEEKLY", "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,FR"),
        ("FREQ=WEEKLY;BYDAY=SU,MO,MO", "FREQ=WEEKLY;BYDAY=MO,SU"),
        ("FREQ=DAILY;INTERVAL=1", "FREQ=DAILY"),
        ("FREQ=MONTHLY;INTERVAL=007", "FREQ=MONTHLY;INTERVAL=7"),
        ("COUNT=3;Freq=Yearly", "FREQ=YEARLY;COUNT=3"),
        ("until=20301231t235959z;freq=daily", "FREQ=DAILY;UNTIL=20301231T235959Z"),
        ("FREQ=DAILY;INTERVAL=365;COUNT=1000", "FREQ=DAILY;INTERVAL=365;COUNT=1000"),
    ],
)
def test_a_rule_is_normalised_to_uppercase_in_the_canonical_order(
    given: str, normalised: str
) -> None:
    assert normalise_rule(given) == normalised


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("", "must not be empty"),
        ("   ", "must not be empty"),
        ("every monday", "each part must be NAME=value, got 'EVERY MONDAY'"),
        ("FREQ=DAILY;", "each part must be NAME=value, got ''"),
        ("FREQ=", "each part must be NAME=value, got 'FREQ='"),
        (
            "RRULE:FREQ=DAILY",
            "unknown part 'RRULE:FREQ'; the parts are FREQ, INTERVAL, BYDAY, COUNT, UNTIL",
        ),
        (
            "FREQ=DAILY;WKST=SU",
            "unknown part 'WKST'; the parts are FREQ, INTERVAL, BYDAY, COUNT, UNTIL",
        ),
        ("FREQ=HOURLY", "FREQ must be one of DAILY, WEEKLY, MONTHLY, YEARLY"),
        ("INTERVAL=2", "FREQ must be one of DAILY, WEEKLY, MONTHLY, YEARLY"),
        ("FREQ=DAILY;FREQ=WEEKLY", "FREQ is given more than once"),
        ("FREQ=DAILY;COUNT=2;COUNT=3", "COUNT is given more than once"),
        ("FREQ=MONTHLY;BYDAY=MO", "BYDAY is allowed only with FREQ=WEEKLY"),
        ("FREQ=DAILY;BYDAY=MO", "BYDAY is allowed only with FREQ=WEEKLY"),
        ("FREQ=WEEKLY;BYDAY=1MO", "BYDAY takes plain weekdays, not ordinals such as '1MO'"),
        ("FREQ=WEEKLY;BYDAY=-1FR", "BYDAY takes plain weekdays, not ordinals such as '-1FR'"),
        ("FREQ=WEEKLY;BYDAY=MO,XX", "BYDAY days must be among MO,TU,WE,TH,FR,SA,SU, got 'XX'"),
        ("FREQ=WEEKLY;BYDAY=MO,", "BYDAY days must be among MO,TU,WE,TH,FR,SA,SU, got ''"),
        ("FREQ=DAILY;COUNT=2;UNTIL=20301231T235959Z", "COUNT and UNTIL cannot be used together"),
        ("FREQ=DAILY;COUNT=0", "COUNT must be a whole number from 1 to 1000"),
        ("FREQ=DAILY;COUNT=1001", "COUNT must be a whole number from 1 to 1000"),
        ("FREQ=DAILY;COUNT=-1", "COUNT must be a whole number from 1 to 1000"),
        ("FREQ=DAILY;COUNT=1.5", "COUNT must be a whole number from 1 to 1000"),
        ("FREQ=DAILY;INTERVAL=0", "INTERVAL must be a whole number from 1 to 365"),
        ("FREQ=DAILY;INTERVAL=366", "INTERVAL must be a whole number from 1 to 365"),
        ("FREQ=DAILY;INTERVAL=\u0662", "must be ASCII text"),
        ("FREQ=DAILY;INTERVAL=99999999999", "INTERVAL must be a whole number from 1 to 365"),
        *(
            (
                f"FREQ=DAILY;UNTIL={until}",
                "UNTIL must be a UTC date-time in basic form, such as 20301231T235959Z",
            )
            for until in ("20301231", "20301231T235959", "2030-12-31T23:59:59Z", "20301231T2359Z")
        ),
        ("FREQ=DAILY;UNTIL=20301331T235959Z", "UNTIL is not a real date-time: '20301331T235959Z'"),
        ("FREQ=DAILY;UNTIL=20300230T000000Z", "UNTIL is not a real date-time: '20300230T000000Z'"),
        ("FREQ=DAILY;" + "X" * 200, "must be at most 200 characters"),
        ("FREQ=DA\u0131LY", "must be ASCII text"),
    ],
)
def test_an_invalid_rule_is_refused_with_a_message_naming_the_fault(
    given: str, message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)) as raised:
        normalise_rule(given)

    assert str(raised.value) == message


ZONE_MESSAGE = "must be an IANA time zone name such as Australia/Sydney (names are case-sensitive)"


class Body(BaseModel):
    recurrence: Recurrence
    timezone: TimeZone


def test_a_request_body_returns_the_rule_normalised_and_the_zone_as_given() -> None:
    body = Body.model_validate({"recurrence": "byday=mo;freq=weekly", "timezone": "UTC"})

    assert body.model_dump() == {"recurrence": "FREQ=WEEKLY;BYDAY=MO", "timezone": "UTC"}


def test_a_request_body_with_an_invalid_rule_names_the_fault() -> None:
    with pytest.raises(ValidationError) as raised:
        Body.model_validate({"recurrence": "FREQ=HOURLY", "timezone": "UTC"})

    [error] = raised.value.errors()
    assert error["loc"] == ("recurrence",)
    assert error["msg"] == "Value error, FREQ must be one of DAILY, WEEKLY, MONTHLY, YEARLY"


@pytest.mark.parametrize(
    "name",
    ["Australia/Sydney", "America/New_York", "America/Argentina/Buenos_Aires", "UTC", "Etc/GMT+5"],
)
def test_an_iana_zone_name_is_accepted_as_given(name: str) -> None:
    assert zone_name(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "",
        "australia/sydney",
        "Mars/Olympus_Mons",
        "Australia/Sydney ",
        "../../etc/passwd",
        "/etc/localtime",
        "localtime",
        "posixrules",
        "Factory",
        "posix/Australia/Sydney",
        "zone1970.tab",
        "+10:00",
        "UTC+10",
    ],
)
def test_a_name_that_is_not_an_iana_zone_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match=re.escape(ZONE_MESSAGE)) as raised:
        zone_name(name)

    assert str(raised.value) == ZONE_MESSAGE


@pytest.mark.parametrize("name", ["CET", "EET", "MET", "WET"])
def test_a_zone_the_database_reads_as_a_fixed_offset_is_refused(name: str) -> None:
    message = f"{name} is read as a fixed offset: use a city's zone, e.g. Europe/Paris"

    with pytest.raises(ValueError, match=re.escape(message)):
        zone_name(name)


def test_a_zone_name_longer_than_the_column_allows_is_refused() -> None:
    with pytest.raises(ValidationError):
        Body.model_validate({"recurrence": "FREQ=DAILY", "timezone": "A" * 65})
