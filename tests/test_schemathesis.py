"""Schemathesis against the app's own OpenAPI document: every operation, every check.

Each operation's cases come from its examples, the coverage phase (boundaries and
negative values of every parameter and body field) and the fuzzing phase (positive and
negative data), derandomized, so a run is the same run every time. Each operation gets a
user of its own (its own rate-limit window) with a few tasks, one of them in the trash,
and about half the generated ids name one of those, so not every id is a 404.

A second test walks the links schemathesis infers between operations (a created task
read, edited, trashed, restored, deleted for good), so the checks that need a history
(`use_after_free`, `ensure_resource_availability`) have one.

Skip both locally with `pytest -m "not slow"`.
"""

import time
from collections.abc import Iterator
from typing import Any

import jsonschema_rs
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from hypothesis.stateful import run_state_machine_as_test
from schemathesis.checks import (
    CHECKS,
    CheckContext,
    CheckFunction,
    load_all_checks,
    max_response_time,
)
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

from backend.main import create_app

EXAMPLES_PER_OPERATION = 50
MIN_CASES = 1000

Case = schemathesis.Case[Any]

APP = create_app()
CONFIG = schemathesis.Config.from_dict(
    {
        "seed": 8,
        "generation": {
            "max-examples": EXAMPLES_PER_OPERATION,
            "deterministic": True,
            "database": "none",
            # The fixture's token is the credential (`ignored_auth` tries without it):
            # a generated Authorization header would only be replaced.
            "with-security-parameters": False,
        },
        "checks": {"max_response_time": 10},
    }
)
DOCUMENT = APP.openapi()
schema = schemathesis.openapi.from_dict(APP.openapi(), config=CONFIG)
schema.app = APP


def refused_by_design(response: schemathesis.Response, case: Case) -> bool:
    """A schema-valid request the contract refuses for what no JSON Schema can express.

    - A `cursor` the API never issued (422 `field: "cursor"`): a cursor is opaque, the
      API's own encoding of the last row served bound to its sort and order, so a string
      of the documented alphabet is still refused unless it came from a `Link` URL.
    - A 412 whose `ETag` (the task's current one) the request's `If-Match` does not name:
      a precondition that does not hold is what `If-Match` asks the API to refuse.
    - An `Idempotency-Key` that an earlier case of this operation used for another
      request (422 `IDEMPOTENCY_KEY_REUSED`): the contract refuses it; generated keys
      repeat ("0"), where a client's would not.
    - A `since` the API never issued: a sync token is opaque, as a cursor is.
    - A date-time whose offset moves it outside years 1 to 9999 once in UTC
      (`0001-01-01T00:07:52+01:01`): JSON Schema's `date-time` has no range.
    - A `recurrence` or `timezone` refused for what only its validator knows: the rule's
      cross-part grammar (FREQ required, BYDAY only weekly, COUNT or UNTIL) and the IANA
      zone list; every other fault in the same body still fails the check.
    """
    if response.status_code == 412:
        sent = case.headers.get("if-match") if case.headers else None
        etags = response.headers.get("etag", [])
        return sent is not None and len(etags) == 1 and not names(sent, etags[0])
    if response.status_code != 422:
        return False
    body = response.json()
    if not isinstance(body, dict):
        return False
    opaque = {name for name in ("cursor", "since") if case.query and case.query.get(name)}
    faults = {error.get("field") for error in body.get("errors") or []}
    return (
        body.get("field") in opaque
        or body.get("detail", "").endswith("must fall within years 1 to 9999 in UTC")
        or body.get("code") == "IDEMPOTENCY_KEY_REUSED"
        or (bool(faults) and faults <= RULE_FIELDS)
    )


RULE_FIELDS = {"recurrence", "timezone"}


def names(if_match: str, etag: str) -> bool:
    """Whether an `If-Match` value holds for this ETag (strong comparison, RFC 9110)."""
    tags = [tag.strip() for tag in if_match.split(",")]
    return tags == ["*"] or etag in tags


def positive_data_acceptance_by_contract(
    ctx: CheckContext, response: schemathesis.Response, case: Case
) -> bool | None:
    """`positive_data_acceptance`, except for what `refused_by_design` names."""
    if refused_by_design(response, case):
        return None
    return positive_data_acceptance(ctx, response, case)


def normalised(body: dict[str, Any]) -> dict[str, Any]:
    """The body as the API counts its limits: title trimmed, tags trimmed, lowercased, once."""
    clean = dict(body)
    if isinstance(clean.get("title"), str):
        clean["title"] = clean["title"].strip()
    tags = clean.get("tags")
    if isinstance(tags, list) and all(isinstance(tag, str) for tag in tags):
        clean["tags"] = list(dict.fromkeys(tag.strip().lower() for tag in tags))
    return clean


def valid_once_normalised(case: Case) -> bool:
    """Whether only the body is invalid, and only until trimmed and deduplicated.

    The contract counts title and tag lengths after trimming and the tag limit after
    deduplication ("Home", "home" is one tag); JSON Schema cannot, so the document states
    the limits on the text as sent. A body such as eleven copies of one tag breaks the
    document's `maxItems` and is, by the contract, one tag.
    """
    meta, body = case.meta, case.body
    if meta is None or not isinstance(body, dict) or normalised(body) == body:
        return False
    others = [info for where, info in meta.components.items() if where != ParameterLocation.BODY]
    if any(info.mode.is_negative for info in others):
        return False
    content = case.operation.definition.raw["requestBody"]["content"]
    reference = content["application/json"]["schema"]
    validator = jsonschema_rs.validator_for({**reference, "components": DOCUMENT["components"]})
    return validator.is_valid(normalised(body))


def negative_data_rejection_by_contract(
    ctx: CheckContext, response: schemathesis.Response, case: Case
) -> bool | None:
    """`negative_data_rejection`, except for bodies that `valid_once_normalised` names."""
    if 200 <= response.status_code < 300 and valid_once_normalised(case):
        return None
    return negative_data_rejection(ctx, response, case)


load_all_checks()
BY_CONTRACT: dict[CheckFunction, CheckFunction] = {
    positive_data_acceptance: positive_data_acceptance_by_contract,
    negative_data_rejection: negative_data_rejection_by_contract,
}
CHECKED: list[CheckFunction] = [
    *(BY_CONTRACT.get(check, check) for check in CHECKS.get_all() if not isinstance(check, type)),
    max_response_time,
]
"""Every check schemathesis has, max_response_time included (its limit is in CONFIG)."""

RUN = {"cases": 0, "operations": 0, "steps": 0}


@pytest.fixture(scope="module", autouse=True)
def statistics(request: pytest.FixtureRequest) -> Iterator[None]:
    """Report the cases generated; over every operation, they must be at least MIN_CASES."""
    started = time.monotonic()
    yield
    seconds = time.monotonic() - started
    line = (
        f"schemathesis: {RUN['cases']} cases over {RUN['operations']} operations and "
        f"{RUN['steps']} linked steps in {seconds:.1f} s"
    )
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if capture is not None and reporter is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line(f"\n{line}")
    if RUN["operations"] == len(list(schema.get_all_operations())):
        assert RUN["cases"] >= MIN_CASES, line


@pytest.fixture
def task_ids(client: TestClient, auth_headers: dict[str, str]) -> list[int]:
    """Two live tasks and one in the trash, for cases to find."""
    ids = []
    for title in ("Fuzz one", "Fuzz two", "Fuzz trashed"):
        response = client.post("/api/tasks", json={"title": title}, headers=auth_headers)
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    assert client.delete(f"/api/tasks/{ids[-1]}", headers=auth_headers).status_code == 200
    RUN["operations"] += 1
    return ids


def aim(case: Case, user_id: str, task_ids: list[int]) -> None:
    """The path's `{user_id}` is the caller; an even generated id names one of their tasks."""
    path = case.path_parameters
    if path is None:
        return
    if "user_id" in path:
        path["user_id"] = user_id
    generated = path.get("task_id")
    if type(generated) is int and generated % 2 == 0:
        path["task_id"] = task_ids[generated // 2 % len(task_ids)]


@pytest.mark.slow
@schema.parametrize()
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_every_operation_passes_every_check(
    case: Case,
    auth_headers: dict[str, str],
    user_id: str,
    task_ids: list[int],
) -> None:
    RUN["cases"] += 1
    aim(case, user_id, task_ids)

    case.call_and_validate(headers=auth_headers, checks=CHECKED)


@pytest.mark.slow
def test_linked_operations_pass_every_check(auth_headers: dict[str, str], user_id: str) -> None:
    """Sequences along the links schemathesis infers (create, then read, edit, trash, ...).

    Here the stateful checks have a history to judge: `use_after_free` (a task deleted
    for good stays gone) and `ensure_resource_availability` (a created task can be read).
    """

    class Linked(schema.as_state_machine()):  # type: ignore[misc]
        def before_call(self, case: Case) -> None:
            RUN["steps"] += 1
            if case.path_parameters and "user_id" in case.path_parameters:
                case.path_parameters["user_id"] = user_id

        def get_call_kwargs(self, case: Case) -> dict[str, Any]:
            return {"headers": auth_headers}

        def validate_response(
            self, response: schemathesis.Response, case: Case, *_: Any, **kwargs: Any
        ) -> None:
            case.validate_response(
                response, checks=CHECKED, transport_kwargs=kwargs, recorder=self.recorder
            )

    scenarios = settings(
        max_examples=40, stateful_step_count=10, derandomize=True, database=None, deadline=None
    )
    run_state_machine_as_test(Linked, settings=scenarios)
