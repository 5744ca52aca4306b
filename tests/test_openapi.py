"""The published contract: specs/openapi.json is the app's own document, errors included."""

import json
from pathlib import Path

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
