"""The Vercel entry: exposes the ASGI `app` only (a top-level `handler` would break Vercel)."""

from backend.main import app

__all__ = ["app"]
