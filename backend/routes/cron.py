"""Scheduled jobs that Vercel Cron calls over HTTP with `Authorization: Bearer $CRON_SECRET`."""

import hmac

from fastapi import Request

from backend import trash
from backend.config import get_settings
from backend.db import get_engine
from backend.errors import Unauthenticated
from backend.routes import routes_at
from backend.schemas import Purged

router = routes_at("/api/cron", include_in_schema=False)


def require_cron_secret(request: Request) -> None:
    """Only the scheduler, which holds CRON_SECRET; without one configured, nobody."""
    secret = get_settings().cron_secret
    expected = f"Bearer {secret.get_secret_value()}" if secret else None
    given = request.headers.get("authorization", "")
    if expected is None or not hmac.compare_digest(given.encode(), expected.encode()):
        raise Unauthenticated("This route serves only the scheduler (CRON_SECRET)")


@router.get("/purge")
def purge(request: Request) -> Purged:
    """Delete every task trashed longer than TRASH_RETENTION_DAYS ago."""
    require_cron_secret(request)
    return Purged(purged=trash.purge_expired(get_engine()))
