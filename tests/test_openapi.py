"""The published contract: specs/openapi.json is the app's own document, errors included."""

import json
from pathlib import Path
from typing import get_args

from backend import errors
from backend.main import create_app
from backend.schemas import ErrorCode

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


def test_the_body_schemas_state_the_limits_the_api_enforces() -> None:
    schemas = create_app().openapi()["components"]["schemas"]
    title = {"type": "string", "minLength": 1, "maxLength": 200, "pattern": r"\S"}
    tag = {"type": "string", "minLength": 1, "maxLength": 30, "pattern": r"\S"}

    for name in ("TaskCreate", "TaskPatch"):
        fields = schemas[name]["properties"]
        assert title.items() <= fields["title"].items(), name
        assert fields["description"]["anyOf"][0] == {"type": "string", "maxLength": 1000}, name
        assert fields["tags"]["maxItems"] == 10, name
        assert tag.items() <= fields["tags"]["items"].items(), name
        assert fields["due_at"]["anyOf"][0] == {"type": "string", "format": "date-time"}, name
        assert schemas[name]["additionalProperties"] is False, name


def test_the_tag_filter_states_the_limits_the_api_enforces() -> None:
    operation = create_app().openapi()["paths"]["/api/tasks"]["get"]

    tag = next(p for p in operation["parameters"] if p["name"] == "tag")["schema"]

    assert tag["maxItems"] == 10
    assert {"minLength": 1, "maxLength": 30, "pattern": r"\S"}.items() <= tag["items"].items()


def subclasses(cls: type[errors.AppError]) -> list[type[errors.AppError]]:
    return [cls, *(sub for child in cls.__subclasses__() for sub in subclasses(child))]


def test_the_error_code_enum_lists_every_code_the_api_answers() -> None:
    schema = create_app().openapi()["components"]["schemas"]["ErrorBody"]["properties"]["code"]

    answered = {error.code for error in subclasses(errors.AppError)} | set(
        errors.STATUS_CODES.values()
    )

    assert answered <= set(schema["enum"])
    assert set(schema["enum"]) == set(get_args(ErrorCode))
