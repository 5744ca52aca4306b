"""Add the trash: `deleted_at`, list indexes over live tasks only, and the trash's own.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LIST_INDEXES: dict[str, list[str | sa.TextClause]] = {
    "ix_tasks_user_created": ["user_id", "created_at", "id"],
    "ix_tasks_user_updated": ["user_id", "updated_at", "id"],
    "ix_tasks_user_due": ["user_id", "due_at", "id"],
    "ix_tasks_user_due_desc": ["user_id", sa.text("due_at DESC NULLS LAST"), sa.text("id DESC")],
    "ix_tasks_user_priority": ["user_id", "priority", "id"],
    "ix_tasks_user_title": ["user_id", sa.text("lower(title)"), "id"],
}


def upgrade() -> None:
    op.add_column("tasks", sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True))
    for name, columns in LIST_INDEXES.items():
        op.drop_index(name, "tasks")
        op.create_index(name, "tasks", columns, postgresql_where=sa.text("deleted_at IS NULL"))
    op.create_index(
        "ix_tasks_user_trash",
        "tasks",
        ["user_id", sa.text("deleted_at DESC"), sa.text("id DESC")],
        postgresql_where=sa.text("deleted_at IS NOT NULL"),
    )
    op.create_index(  # the purge's scan across users
        "ix_tasks_trashed_at",
        "tasks",
        ["deleted_at"],
        postgresql_where=sa.text("deleted_at IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_tasks_trashed_at", "tasks")
    op.drop_index("ix_tasks_user_trash", "tasks")
    op.execute("DELETE FROM tasks WHERE deleted_at IS NOT NULL")  # trashed tasks had been deleted
    for name, columns in LIST_INDEXES.items():
        op.drop_index(name, "tasks")
        op.create_index(name, "tasks", columns)
    op.drop_column("tasks", "deleted_at")
