"""Server-Timing on every response: `db` when a statement ran, `app` always; format, not values."""

import re

from fastapi.testclient import TestClient

from backend.timing import Spent, header

DURATION = r"\d+\.\d"
WITH_DB = re.compile(rf"db;dur={DURATION}, app;dur={DURATION}")
APP_ONLY = re.compile(rf"app;dur={DURATION}")


def test_task_route_reports_db_and_app_time(
    client: TestClient, auth_headers: dict[str, str]
) -> None:
    response = client.get("/api/tasks", headers=auth_headers)

    assert response.status_code == 200
    assert WITH_DB.fullmatch(response.headers["Server-Timing"])


def test_health_route_without_a_statement_reports_app_time_only(client: TestClient) -> None:
    response = client.get("/api/health")

    assert response.status_code == 200
    assert APP_ONLY.fullmatch(response.headers["Server-Timing"])


def test_database_health_reports_db_time(client: TestClient) -> None:
    response = client.get("/api/health/db")

    assert response.status_code == 200
    assert WITH_DB.fullmatch(response.headers["Server-Timing"])


def test_error_before_any_statement_reports_app_time(client: TestClient) -> None:
    response = client.get("/api/tasks")

    assert response.status_code == 401
    assert APP_ONLY.fullmatch(response.headers["Server-Timing"])


def test_error_after_a_statement_reports_db_time(
    client: TestClient, auth_headers: dict[str, str]
) -> None:
    response = client.get("/api/tasks/9223372036854775807", headers=auth_headers)

    assert response.status_code == 404
    assert WITH_DB.fullmatch(response.headers["Server-Timing"])


def test_unknown_path_and_refused_body_report_timing(client: TestClient) -> None:
    unknown = client.get("/api/nowhere")
    refused = client.post("/api/tasks", content=b"x", headers={"Content-Encoding": "gzip"})

    assert unknown.status_code == 404
    assert refused.status_code == 415
    assert APP_ONLY.fullmatch(unknown.headers["Server-Timing"])
    assert APP_ONLY.fullmatch(refused.headers["Server-Timing"])


def test_header_subtracts_db_time_from_app_time() -> None:
    spent = Spent()
    spent.db, spent.statements = 0.0012, 1

    assert header(spent, 0.0016) == b"db;dur=1.2, app;dur=0.4"
