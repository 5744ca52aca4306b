"""The Vercel entry: exposes the ASGI `app` only (a top-level `handler` would break Vercel)."""

from backend.config import require_database
from backend.main import app

require_database()

__all__ = ["app"]
