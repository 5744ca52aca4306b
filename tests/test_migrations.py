"""The schema: Alembic's migrations build exactly what the models declare."""

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from backend.config import sqlalchemy_url
from backend.migrations import alembic_config, upgrade
from backend.models import metadata


def test_migrations_and_models_agree(database_url: str) -> None:
    engine = create_engine(sqlalchemy_url(database_url))

    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "compare_server_default": True}
        )
        differences = compare_metadata(context, metadata)
    engine.dispose()

    assert differences == []


def test_migrating_an_empty_database_twice_builds_the_table_and_its_indexes(
    empty_database: str,
) -> None:
    upgrade(empty_database)
    upgrade(empty_database)

    engine = create_engine(sqlalchemy_url(empty_database))
    indexes = {index["name"] for index in inspect(engine).get_indexes("tasks")}
    checks = {check["name"] for check in inspect(engine).get_check_constraints("tasks")}
    engine.dispose()
    assert indexes == {
        "ix_tasks_user_created",
        "ix_tasks_user_updated",
        "ix_tasks_user_due",
        "ix_tasks_user_due_desc",
        "ix_tasks_user_priority",
        "ix_tasks_user_title",
        "ix_tasks_user_trash",
        "ix_tasks_trashed_at",
        "ix_tasks_user_written",
        "ix_tasks_user_search",
        "ix_tasks_user_tags",
    }
    assert {"title_length", "priority_range", "tags_count", "completed_at_set"} <= checks


def test_downgrading_to_base_removes_the_table_and_upgrading_again_rebuilds_it(
    empty_database: str,
) -> None:
    upgrade(empty_database)

    command.downgrade(alembic_config(empty_database), "base")
    engine = create_engine(sqlalchemy_url(empty_database))
    after_downgrade = set(inspect(engine).get_table_names())
    upgrade(empty_database)
    after_upgrade = set(inspect(engine).get_table_names())
    engine.dispose()

    assert after_downgrade == {"alembic_version"}
    assert after_upgrade == {"alembic_version", *metadata.tables}


def test_the_comparison_notices_a_model_the_migrations_lack(database_url: str) -> None:
    from sqlalchemy import Column, Integer, MetaData, Table

    extended = MetaData()
    for table in metadata.tables.values():
        table.to_metadata(extended)
    Table("not_migrated", extended, Column("id", Integer, primary_key=True))
    engine = create_engine(sqlalchemy_url(database_url))

    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), extended)
    engine.dispose()

    assert [d[0] for d in differences] == ["add_table"]
