"""Alembic's entry: runs migrations online, one deploy at a time, against the direct URL."""

from alembic import context
from sqlalchemy import create_engine, text

from backend.config import sqlalchemy_url
from backend.models import metadata

MIGRATION_LOCK = 7_291_004  # any constant: serialises concurrent `migrate` runs

target_metadata = metadata


def run_migrations_online() -> None:
    engine = create_engine(sqlalchemy_url(context.config.attributes["url"]))
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata)
        with context.begin_transaction():
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
            context.run_migrations()
    engine.dispose()


run_migrations_online()
