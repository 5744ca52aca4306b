"""Serve `q` and `tag` from indexes: trigram GIN on the searched text, GIN on (user_id, tags).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01

`q` is a literal substring of `lower(title)` or `lower(coalesce(description, ''))`, sent as
`LIKE '%' || <escaped> || '%'`: pg_trgm's GIN operator class answers that LIKE, and
btree_gin puts `user_id` in the same index, so a search reads one user's matches only.
The tag filter (`tags @> ...`) gets `user_id` beside it the same way; the index on `tags`
alone served every user's rows and left the user to a filter. Neon offers both extensions.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LIVE = sa.text("deleted_at IS NULL")


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gin")
    op.create_index(
        "ix_tasks_user_search",
        "tasks",
        [
            "user_id",
            sa.text("lower(title) gin_trgm_ops"),
            sa.text("lower(coalesce(description, '')) gin_trgm_ops"),
        ],
        postgresql_using="gin",
        postgresql_where=LIVE,
    )
    op.create_index(
        "ix_tasks_user_tags",
        "tasks",
        ["user_id", "tags"],
        postgresql_using="gin",
        postgresql_where=LIVE,
    )
    op.drop_index("ix_tasks_tags", table_name="tasks")


def downgrade() -> None:
    op.create_index("ix_tasks_tags", "tasks", ["tags"], postgresql_using="gin")
    op.drop_index("ix_tasks_user_tags", table_name="tasks")
    op.drop_index("ix_tasks_user_search", table_name="tasks")
