"""Settings read from the environment, once per warm instance."""

import os
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import Field, SecretStr
from pydantic_settings import (
    AWSSecretsManagerSettingsSource,
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from backend.once import Once


class Settings(BaseSettings):
    """The environment; with APP_SECRETS_ARN set, that secret's JSON fills what it leaves unset."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True, env_ignore_empty=True)

    database_url: SecretStr | None = None
    better_auth_secret: SecretStr | None = None
    better_auth_url: str | None = None
    jwks_url: str | None = None
    jwks: str | None = None
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    cors_origins: str | None = None
    app_secrets_arn: str | None = None
    trash_retention_days: int = Field(default=30, ge=1, le=3650)
    rate_limit_per_minute: int = Field(default=600, ge=0)
    cron_secret: SecretStr | None = None
    database_timeout_seconds: Annotated[float, Field(gt=0, le=60)] = 5.0
    database_prepared_statements: bool = False
    """Prepare each statement on a connection at its first use: only where the server or
    the pooler keeps them (a direct connection, PgBouncer 1.22+ as Neon's pooled endpoint)."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        arn = os.environ.get("APP_SECRETS_ARN")
        if not arn:
            return init_settings, env_settings
        # boto3 is imported only here: Lambda's runtime provides it, the bundle does not.
        secret = AWSSecretsManagerSettingsSource(settings_cls, arn, case_sensitive=False)
        return init_settings, env_settings, secret

    @property
    def auth_origin(self) -> str | None:
        """The origin of BETTER_AUTH_URL: Better Auth's `iss` and `aud`."""
        if not self.better_auth_url:
            return None
        parts = urlsplit(self.better_auth_url)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def key_set_url(self) -> str | None:
        if self.jwks_url:
            return self.jwks_url
        if self.better_auth_url:
            return self.better_auth_url.rstrip("/") + "/api/auth/jwks"
        return None

    @property
    def allowed_origins(self) -> list[str]:
        return [o.strip().rstrip("/") for o in (self.cors_origins or "").split(",") if o.strip()]


def sqlalchemy_url(url: str) -> str:
    """Point a plain PostgreSQL URL (as Neon and Vercel give it) at the psycopg 3 driver."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ValueError("DATABASE_URL must look like postgresql://user:password@host/db")
    if scheme in ("postgres", "postgresql", "postgresql+psycopg"):
        return f"postgresql+psycopg://{rest}"
    raise ValueError(f"DATABASE_URL scheme {scheme!r} is not PostgreSQL")


def require_database() -> None:
    """Refuse to start a deployed function that could never reach its database.

    Called by the Lambda and Vercel entries at import: the platform reports the
    message as the function's start-up error. It reads the environment only; with
    APP_SECRETS_ARN, the secret is trusted to hold DATABASE_URL.
    """
    if not os.environ.get("DATABASE_URL") and not os.environ.get("APP_SECRETS_ARN"):
        raise RuntimeError(
            "DATABASE_URL is not set: set it (Neon's pooled URL) or APP_SECRETS_ARN "
            "to a secret that holds it"
        )


@Once
def get_settings() -> Settings:
    """Read once per warm instance (with APP_SECRETS_ARN, one Secrets Manager call)."""
    return Settings()
