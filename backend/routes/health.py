"""Liveness and database readiness, open to anyone."""

from fastapi import APIRouter
from sqlalchemy import text

from backend.db import DatabaseDep
from backend.routes import error_responses
from backend.schemas import Health

router = APIRouter(prefix="/api/health", tags=["health"])


@router.get("", responses=error_responses())
async def health() -> Health:
    """The function is up; touches no database."""
    return Health(status="ok")


@router.get("/db", responses=error_responses(503))
def health_db(db: DatabaseDep) -> Health:
    """The database answers one query."""
    with db.connect() as connection:
        connection.execute(text("SELECT 1"))
    return Health(status="ok")
