"""The published contract: specs/openapi.json is the app's own document, errors included."""

import json
import re
from functools import cache
from pathlib import Path
from typing import Any, get_args

from backend import errors, handlers
from backend.errors import ErrorCode
from backend.main import create_app

SPEC = Path(__file__).resolve().parent.parent / "specs" / "openapi.json"


def test_specs_openapi_json_equals_the_apps_document() -> None:
    published = json.loads(SPEC.read_text())

    document = create_app().openapi()

    assert published == document, "run: python -m backend openapi > specs/openapi.json"


def test_every_operation_documents_its_errors_in_the_error_shape() -> None:
    document = create_app().openapi()

    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            errors = {code: r for code, r in operation["responses"].items() if code >= "400"}
            assert "500" in errors, (method, path)
            if path != "/api/health":
                assert "503" in errors, (method, path)
            if path.startswith("/api/me") or "/tasks" in path:
                assert "401" in errors, (method, path)
            for response in errors.values():
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (method, path)


NO_NUL = r"^[^\x00]*$"
NOT_BLANK = r"^[^\x00]*[^\s\x00\x1c-\x1f\x85][^\x00]*$"


def test_the_body_schemas_state_the_limits_the_api_enforces() -> None:
    schemas = create_app().openapi()["components"]["schemas"]
    title = {"type": "string", "minLength": 1, "maxLength": 200, "pattern": NOT_BLANK}
    tag = {"type": "string", "minLength": 1, "maxLength": 30, "pattern": NOT_BLANK}
    description = {"type": "string", "maxLength": 1000, "pattern": NO_NUL}

    for name in ("TaskCreate", "TaskPatch"):
        fields = schemas[name]["properties"]
        assert title.items() <= fields["title"].items(), name
        assert fields["description"]["anyOf"][0] == description, name
        assert fields["tags"]["maxItems"] == 10, name
        assert tag.items() <= fields["tags"]["items"].items(), name
        assert fields["due_at"]["anyOf"][0] == {"type": "string", "format": "date-time"}, name
        assert schemas[name]["additionalProperties"] is False, name


def test_the_tag_filter_states_the_limits_the_api_enforces() -> None:
    operation = create_app().openapi()["paths"]["/api/tasks"]["get"]

    tag = next(p for p in operation["parameters"] if p["name"] == "tag")["schema"]

    assert tag["maxItems"] == 10
    assert {"minLength": 1, "maxLength": 30, "pattern": NOT_BLANK}.items() <= tag["items"].items()


def test_the_text_patterns_refuse_nul_and_blank_text_and_take_the_rest() -> None:
    assert re.search(NO_NUL, "any text, spaces and ünïcode") is not None
    assert re.search(NO_NUL, "a\x00b") is None
    assert re.search(NOT_BLANK, "  Buy milk ") is not None
    assert re.search(NOT_BLANK, " \t\n") is None
    assert re.search(NOT_BLANK, "\x1f\x85") is None, "Python's strip() removes these too"
    assert re.search(NOT_BLANK, "a\x00") is None


def test_the_search_text_states_that_it_holds_no_nul() -> None:
    operation = create_app().openapi()["paths"]["/api/tasks"]["get"]

    q = next(p for p in operation["parameters"] if p["name"] == "q")["schema"]

    assert q["anyOf"][0] == {"type": "string", "maxLength": 200, "pattern": NO_NUL}


@cache
def document() -> dict[str, Any]:
    built: dict[str, Any] = create_app().openapi()
    return built


def parameter(path: str, method: str, name: str) -> dict[str, Any]:
    operation = document()["paths"][path][method]
    found: dict[str, Any] = next(p for p in operation["parameters"] if p["name"] == name)
    return found


def test_the_idempotency_key_states_its_form_on_every_write() -> None:
    for path, operations in document()["paths"].items():
        for method in set(operations) - {"get"}:
            key = parameter(path, method, "idempotency-key")
            assert key["in"] == "header", (method, path)
            assert key["schema"]["pattern"] == "^[\\x21-\\x7e]{1,255}$", (method, path)


def test_the_cursor_states_its_alphabet_and_that_empty_is_the_first_page() -> None:
    for path in ("/api/tasks", "/api/tasks/trash"):
        cursor = parameter(path, "get", "cursor")

        assert cursor["schema"]["pattern"] == "^[A-Za-z0-9_-]*$", path
        assert "empty: the first page" in cursor["description"], path


def errors_of(path: str, method: str) -> set[int]:
    responses = document()["paths"][path][method]["responses"]
    return {int(code) for code in responses if code >= "400"}


def test_every_route_documents_the_body_checks_that_run_before_routing() -> None:
    for path, operations in document()["paths"].items():
        for method in operations:
            assert {413, 415, 500} <= errors_of(path, method), (method, path)


def test_the_task_routes_document_the_rate_limit_and_writes_the_idempotency_conflict() -> None:
    for path, operations in document()["paths"].items():
        if "/tasks" not in path:
            continue
        for method in operations:
            assert 429 in errors_of(path, method), (method, path)
            assert (409 in errors_of(path, method)) == (method != "get"), (method, path)


def test_the_writes_that_honour_if_match_document_412() -> None:
    for path, operations in document()["paths"].items():
        for method, operation in operations.items():
            honours = any(p["name"] == "if-match" for p in operation.get("parameters", []))
            assert (412 in errors_of(path, method)) == honours, (method, path)


def subclasses(cls: type[errors.AppError]) -> list[type[errors.AppError]]:
    return [cls, *(sub for child in cls.__subclasses__() for sub in subclasses(child))]


def test_the_error_code_enum_lists_every_code_the_api_answers() -> None:
    schema = create_app().openapi()["components"]["schemas"]["ErrorBody"]["properties"]["code"]

    answered = {error.code for error in subclasses(errors.AppError)} | set(
        handlers.STATUS_CODES.values()
    )

    assert answered <= set(schema["enum"])
    assert set(schema["enum"]) == set(get_args(ErrorCode))
