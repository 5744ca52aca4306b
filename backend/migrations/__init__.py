"""Alembic migrations: the schema's history, applied by `python -m backend migrate`."""

from pathlib import Path

from alembic.config import Config

HERE = Path(__file__).parent


def alembic_config(url: str) -> Config:
    """Alembic's configuration in code: no alembic.ini to keep in step."""
    config = Config()
    config.set_main_option("script_location", str(HERE))
    config.attributes["url"] = url
    return config


def upgrade(url: str, revision: str = "head") -> None:
    from alembic import command

    command.upgrade(alembic_config(url), revision)
