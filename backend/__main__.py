"""The command line: `python -m backend serve | migrate | token | openapi | purge`."""

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

LOCAL_DIR = Path(__file__).resolve().parent.parent / ".local"


def serve(args: argparse.Namespace) -> int:
    """Run the API under uvicorn; with no DATABASE_URL, on an embedded PostgreSQL."""
    import uvicorn

    from backend import local
    from backend.config import Settings
    from backend.migrations import upgrade

    state = Path(args.state_dir)
    if not os.environ.get("DATABASE_URL"):
        print(f"DATABASE_URL is not set: starting the embedded PostgreSQL in {state / 'postgres'}")
        os.environ["DATABASE_URL"] = local.embedded_database_url(state / "postgres")
    if not os.environ.get("BETTER_AUTH_SECRET"):
        os.environ["BETTER_AUTH_SECRET"] = local.local_secret(state / "secret")
        print(f"BETTER_AUTH_SECRET is not set: using the local one kept in {state / 'secret'}")
    upgrade(os.environ["DATABASE_URL"])
    base = f"http://{args.host}:{args.port}"
    settings = Settings()
    token = local.mint_token(
        os.environ["BETTER_AUTH_SECRET"],
        args.user,
        ttl=24 * 3600,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
    )
    print(f"\nTask API on {base}/api  (docs: {base}/api/docs)")
    print(f"A development token for user {args.user!r}, valid for 24 hours:\n\n{token}\n")
    print(f"Try:\n  export TOKEN={token}")
    print(f'  curl -H "Authorization: Bearer $TOKEN" {base}/api/tasks\n', flush=True)
    uvicorn.run("backend.main:app", host=args.host, port=args.port, log_level="warning")
    return 0


def migrate(args: argparse.Namespace) -> int:
    """Apply migrations; use the direct (non-pooled) URL in production."""
    from backend.migrations import upgrade

    url = args.url or os.environ.get("DATABASE_URL_UNPOOLED") or os.environ.get("DATABASE_URL")
    if not url:
        print("migrate: set DATABASE_URL_UNPOOLED or DATABASE_URL, or pass --url", file=sys.stderr)
        return 2
    upgrade(url)
    print("migrate: the database is at the latest revision")
    return 0


def token(args: argparse.Namespace) -> int:
    """Print an HS256 token signed with BETTER_AUTH_SECRET, with JWT_ISSUER/JWT_AUDIENCE."""
    from backend import local
    from backend.config import Settings

    settings = Settings()  # what the API reads, so that it accepts the token
    configured = settings.better_auth_secret
    secret = configured.get_secret_value() if configured else None
    secret = secret or local.saved_secret(LOCAL_DIR / "secret")
    if not secret:
        print(
            "token: no secret configured: set BETTER_AUTH_SECRET "
            "(or run `python -m backend serve` once to generate a local one)",
            file=sys.stderr,
        )
        return 2
    print(
        local.mint_token(
            secret,
            args.sub,
            email=args.email,
            name=args.name,
            ttl=args.ttl,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
        )
    )
    return 0


def openapi(args: argparse.Namespace) -> int:
    """Print the OpenAPI document (specs/openapi.json is this output)."""
    from backend.main import app

    print(json.dumps(app.openapi(), indent=2, ensure_ascii=False))
    return 0


def purge(args: argparse.Namespace) -> int:
    """Delete every task trashed longer than TRASH_RETENTION_DAYS ago (a daily job)."""
    from backend import trash
    from backend.db import get_engine

    print(f"purge: {trash.purge_expired(get_engine())} tasks deleted for good")
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m backend", description=__doc__)
    commands = root.add_subparsers(dest="command", required=True)
    run = commands.add_parser("serve", help=serve.__doc__)
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument("--port", type=int, default=8000)
    run.add_argument("--user", default="dev-user", help="the user id of the printed token")
    run.add_argument(
        "--state-dir", default=str(LOCAL_DIR), help="where the embedded database and secret live"
    )
    run.set_defaults(func=serve)
    mig = commands.add_parser("migrate", help=migrate.__doc__)
    mig.add_argument("--url", help="database URL (default: DATABASE_URL_UNPOOLED, DATABASE_URL)")
    mig.set_defaults(func=migrate)
    tok = commands.add_parser("token", help=token.__doc__)
    tok.add_argument("--sub", required=True, help="the user id")
    tok.add_argument("--email")
    tok.add_argument("--name")
    tok.add_argument("--ttl", type=positive, default=3600, help="seconds until it expires")
    tok.set_defaults(func=token)
    commands.add_parser("openapi", help=openapi.__doc__).set_defaults(func=openapi)
    commands.add_parser("purge", help=purge.__doc__).set_defaults(func=purge)
    return root


def positive(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be a positive number of seconds")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    status: int = args.func(args)
    return status


if __name__ == "__main__":
    sys.exit(main())
