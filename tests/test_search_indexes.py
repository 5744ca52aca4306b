"""`q` and `tag` are answered from their indexes (migration 0006), not by filtering every row."""

from typing import Any

import psycopg
import pytest
from sqlalchemy import select

from backend import db, listing
from backend.models import tasks
from tests.conftest import Env

USER_INDEXES = (
    "created",
    "updated",
    "due",
    "due_desc",
    "priority",
    "title",
    "search",
    "tags",
    "written",
)


def plan_of(database_url: str, statement: Any, params: dict[str, Any], keep: str) -> str:
    """EXPLAIN with only the user index `keep` (the others dropped in a transaction rolled back).

    On a small table any index on `user_id` plus a filter wins; with one index left, the
    plan shows whether the condition itself is answered from it.
    """
    compiled = statement.compile(dialect=db.get_engine().dialect)
    with psycopg.connect(database_url) as connection:
        connection.execute("SET LOCAL enable_seqscan = off")
        for name in USER_INDEXES:
            if name != keep:
                connection.execute(f"DROP INDEX ix_tasks_user_{name}")
        rows = connection.execute(f"EXPLAIN {compiled}", compiled.construct_params(params))
        plan = "\n".join(row[0] for row in rows)
        connection.rollback()
        return plan


@pytest.mark.parametrize("q", ["milk", "50%_off", "back\\slash"])
def test_a_search_reads_the_trigram_index_of_the_users_text(
    env: Env, database_url: str, q: str
) -> None:
    query = listing.ListQuery(q=q)
    conditions = listing.filters(query.shape)
    statement = select(tasks.c.id).where(
        tasks.c.user_id == "someone", tasks.c.deleted_at.is_(None), *conditions
    )

    plan = plan_of(database_url, statement, query.params, keep="search")

    # On a table this small the planner keeps the LIKEs as a filter over the user's entries;
    # at a million rows (bench/scale.py) they are the index's conditions.
    assert "Bitmap Index Scan on ix_tasks_user_search" in plan, plan


def test_a_tag_filter_reads_the_users_tag_index(env: Env, database_url: str) -> None:
    query = listing.ListQuery(tags=("home", "work"))
    conditions = listing.filters(query.shape)
    statement = select(tasks.c.id).where(
        tasks.c.user_id == "someone", tasks.c.deleted_at.is_(None), *conditions
    )

    plan = plan_of(database_url, statement, query.params, keep="tags")

    assert "Bitmap Index Scan on ix_tasks_user_tags" in plan, plan
    assert "Index Cond: ((user_id = 'someone'::text) AND (tags @> " in plan, plan
