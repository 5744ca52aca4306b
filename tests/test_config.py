"""Settings: the environment, an AWS Secrets Manager secret under it (moto), and derived values."""

import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.client import BaseClient
from fastapi.testclient import TestClient
from moto import mock_aws

from backend import db
from backend.config import get_settings, sqlalchemy_url
from backend.main import create_app
from tests.conftest import SECRET, Env, TokenFactory

ROOT = Path(__file__).resolve().parent.parent
SECRET_FROM_AWS = "secret-from-secrets-manager-long-enough-for-hs256"
ORIGIN_FROM_AWS = "https://app.from-secret.example"


@pytest.fixture
def aws_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[Counter[str]]:
    """A mocked AWS account (moto), and how many times each AWS operation was called."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    calls: Counter[str] = Counter()
    make_api_call = BaseClient._make_api_call

    def counting(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        calls[operation] += 1
        return make_api_call(client, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", counting)
    with mock_aws():
        yield calls


@pytest.fixture
def secret_arn(aws_calls: Counter[str], database_url: str) -> str:
    """A JSON secret holding the app's settings, as a deployment would store it."""
    values = {
        "DATABASE_URL": database_url,
        "BETTER_AUTH_SECRET": SECRET_FROM_AWS,
        "CORS_ORIGINS": ORIGIN_FROM_AWS,
    }
    created = boto3.client("secretsmanager").create_secret(
        Name="task-api/prod", SecretString=json.dumps(values)
    )
    aws_calls.clear()
    arn: str = created["ARN"]
    return arn


def test_secret_supplies_the_database_the_token_secret_and_the_origins(
    env: Env, secret_arn: str, make_token: TokenFactory, user_id: str
) -> None:
    env(APP_SECRETS_ARN=secret_arn, DATABASE_URL=None, BETTER_AUTH_SECRET=None)
    client = TestClient(create_app())
    headers = {"Authorization": f"Bearer {make_token(user_id, key=SECRET_FROM_AWS)}"}

    created = client.post("/api/tasks", json={"title": "From the secret"}, headers=headers)
    read = client.get(created.headers["Location"], headers={**headers, "Origin": ORIGIN_FROM_AWS})
    refused = client.get("/api/tasks", headers={"Authorization": f"Bearer {make_token(user_id)}"})

    assert created.status_code == 201
    assert read.status_code == 200
    assert read.json()["title"] == "From the secret"
    assert read.headers["Access-Control-Allow-Origin"] == ORIGIN_FROM_AWS
    assert refused.status_code == 401


def test_secret_is_fetched_once_per_cold_start(
    env: Env, secret_arn: str, aws_calls: Counter[str], make_token: TokenFactory, user_id: str
) -> None:
    env(APP_SECRETS_ARN=secret_arn, DATABASE_URL=None, BETTER_AUTH_SECRET=None)
    client = TestClient(create_app())
    headers = {"Authorization": f"Bearer {make_token(user_id, key=SECRET_FROM_AWS)}"}

    statuses = [client.get("/api/tasks", headers=headers).status_code for _ in range(3)]
    statuses.append(client.post("/api/tasks", json={"title": "x"}, headers=headers).status_code)
    statuses.append(client.get("/api/health/db").status_code)
    settings = get_settings()

    assert statuses == [200, 200, 200, 201, 200]
    assert settings is get_settings()
    assert aws_calls == Counter({"GetSecretValue": 1})


def test_a_secret_that_cannot_be_read_is_a_500_in_the_error_shape_not_a_crash(
    env: Env, aws_calls: Counter[str], make_token: TokenFactory, user_id: str
) -> None:
    missing = "arn:aws:secretsmanager:us-east-1:123456789012:secret:task-api/none-AbCdEf"
    env(APP_SECRETS_ARN=missing, DATABASE_URL=None, BETTER_AUTH_SECRET=None)
    client = TestClient(create_app(), raise_server_exceptions=False)
    headers = {"Authorization": f"Bearer {make_token(user_id)}", "Origin": ORIGIN_FROM_AWS}

    tasks = client.get("/api/tasks", headers=headers)
    health = client.get("/api/health")

    assert tasks.status_code == 500
    assert tasks.json() == {"detail": "Internal server error", "code": "INTERNAL_ERROR"}
    assert health.status_code == 200
    assert aws_calls["GetSecretValue"] >= 2, "a failed read is retried, not cached"


def test_non_blank_environment_value_wins_over_the_secret(env: Env, secret_arn: str) -> None:
    env(
        APP_SECRETS_ARN=secret_arn,
        BETTER_AUTH_SECRET="from-env",
        CORS_ORIGINS="https://env.example",
    )

    settings = get_settings()

    assert settings.better_auth_secret is not None
    assert settings.better_auth_secret.get_secret_value() == "from-env"
    assert settings.allowed_origins == ["https://env.example"]


def test_blank_environment_value_is_filled_by_the_secret(
    env: Env, secret_arn: str, database_url: str
) -> None:
    env(APP_SECRETS_ARN=secret_arn, DATABASE_URL="", BETTER_AUTH_SECRET="", CORS_ORIGINS="")

    settings = get_settings()

    assert settings.database_url is not None
    assert settings.database_url.get_secret_value() == database_url
    assert settings.better_auth_secret is not None
    assert settings.better_auth_secret.get_secret_value() == SECRET_FROM_AWS
    assert settings.allowed_origins == [ORIGIN_FROM_AWS]


def test_without_secrets_arn_no_aws_call_is_made(env: Env, aws_calls: Counter[str]) -> None:
    env(APP_SECRETS_ARN="")

    settings = get_settings()

    assert settings.better_auth_secret is not None
    assert settings.better_auth_secret.get_secret_value() == SECRET
    assert aws_calls == Counter()


BOTO3_ONLY_WHEN_READ = """
import sys
import backend.lambda_handler, api.index
print("boto3" in sys.modules)
from backend.config import get_settings
try:
    get_settings()
except Exception as exc:
    print(type(exc).__name__)
print("boto3" in sys.modules)
"""


def test_boto3_is_imported_only_when_settings_are_read_with_a_secrets_arn(env: Env) -> None:
    env(
        APP_SECRETS_ARN="arn:aws:secretsmanager:us-east-1:123456789012:secret:task-api-AbCdEf",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_ENDPOINT_URL_SECRETS_MANAGER="http://127.0.0.1:9",
        AWS_MAX_ATTEMPTS="1",
    )

    result = subprocess.run(
        [sys.executable, "-c", BOTO3_ONLY_WHEN_READ],
        cwd=ROOT,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.stdout.split() == ["False", "EndpointConnectionError", "True"], result.stderr


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u:p@db.example/tasks", "postgresql+psycopg://u:p@db.example/tasks"),
        ("postgresql://u:p@db.example/tasks", "postgresql+psycopg://u:p@db.example/tasks"),
        (
            "postgresql+psycopg://u:p@h/t?sslmode=require",
            "postgresql+psycopg://u:p@h/t?sslmode=require",
        ),
    ],
)
def test_postgresql_urls_are_pointed_at_psycopg(given: str, expected: str) -> None:
    assert sqlalchemy_url(given) == expected


@pytest.mark.parametrize(
    "given",
    [
        "mysql://u:hunter2@db.example/tasks",
        "postgresql+asyncpg://u:hunter2@db.example/tasks",
        "sqlite:///tasks.db",
        "u:hunter2@db.example/tasks",
    ],
)
def test_other_urls_are_rejected_without_echoing_the_password(given: str) -> None:
    with pytest.raises(ValueError, match="DATABASE_URL") as raised:
        sqlalchemy_url(given)

    assert "hunter2" not in str(raised.value)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (None, []),
        ("", []),
        ("https://a.example", ["https://a.example"]),
        (
            " https://a.example/ , ,http://localhost:3000,",
            ["https://a.example", "http://localhost:3000"],
        ),
    ],
)
def test_cors_origins_are_split_trimmed_and_stripped_of_a_slash(
    env: Env, given: str | None, expected: list[str]
) -> None:
    env(CORS_ORIGINS=given)

    assert get_settings().allowed_origins == expected


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (None, None),
        ("https://auth.example.com", "https://auth.example.com"),
        ("https://auth.example.com/base/path/", "https://auth.example.com"),
        ("http://localhost:3000/api/auth?x=1", "http://localhost:3000"),
    ],
)
def test_auth_origin_is_the_origin_of_better_auth_url(
    env: Env, given: str | None, expected: str | None
) -> None:
    env(BETTER_AUTH_URL=given)

    assert get_settings().auth_origin == expected


@pytest.mark.parametrize(
    ("jwks_url", "better_auth_url", "expected"),
    [
        (None, None, None),
        (None, "https://auth.example.com", "https://auth.example.com/api/auth/jwks"),
        (None, "https://example.com/auth/", "https://example.com/auth/api/auth/jwks"),
        (
            "https://keys.example/jwks.json",
            "https://auth.example.com",
            "https://keys.example/jwks.json",
        ),
        ("", "https://auth.example.com", "https://auth.example.com/api/auth/jwks"),
    ],
)
def test_key_set_url_prefers_jwks_url_over_better_auth_url(
    env: Env, jwks_url: str | None, better_auth_url: str | None, expected: str | None
) -> None:
    env(JWKS_URL=jwks_url, BETTER_AUTH_URL=better_auth_url)

    assert get_settings().key_set_url == expected


def test_database_timeout_defaults_to_5_seconds_and_reaches_the_engine(env: Env) -> None:
    default = get_settings().database_timeout_seconds
    env(DATABASE_TIMEOUT_SECONDS="0.75")

    assert default == 5.0
    assert db.timeout_of(db.get_engine()) == 0.75


@pytest.mark.parametrize("value", ["0", "-1", "61", "soon"])
def test_a_database_timeout_that_bounds_nothing_is_refused(env: Env, value: str) -> None:
    env(DATABASE_TIMEOUT_SECONDS=value)

    with pytest.raises(ValueError, match="database_timeout_seconds"):
        get_settings()
