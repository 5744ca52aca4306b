"""Add sync's bookkeeping: each task's writing transaction, and tombstones of deleted tasks.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01

Triggers keep both for every write path, present and future: a BEFORE UPDATE trigger
stamps the row with the writing transaction's id, and a statement-level AFTER DELETE
trigger records what every DELETE removed. See specs/features/sync.md.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from backend.models import XID8

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CURRENT_XACT = sa.text("pg_current_xact_id()")

STAMP = """
CREATE FUNCTION task_stamp_write() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.write_xid := pg_current_xact_id();  -- the top-level transaction, as snapshots list it
    RETURN NEW;
END
$$
"""

BURY = """
CREATE FUNCTION task_bury_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO task_tombstones (task_id, user_id) SELECT id, user_id FROM deleted;
    RETURN NULL;
END
$$
"""


def upgrade() -> None:
    op.add_column(
        "tasks", sa.Column("write_xid", XID8(), server_default=CURRENT_XACT, nullable=False)
    )
    op.create_index("ix_tasks_user_written", "tasks", ["user_id", "write_xid", "id"])
    op.create_table(
        "task_tombstones",
        sa.Column("task_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("write_xid", XID8(), server_default=CURRENT_XACT, nullable=False),
        sa.Column(
            "deleted_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
    )
    op.create_index(
        "ix_task_tombstones_user_written", "task_tombstones", ["user_id", "write_xid", "task_id"]
    )
    op.create_index("ix_task_tombstones_deleted", "task_tombstones", ["deleted_at"])
    op.execute(STAMP)
    op.execute(BURY)
    op.execute(
        "CREATE TRIGGER task_stamp_write BEFORE UPDATE ON tasks "
        "FOR EACH ROW EXECUTE FUNCTION task_stamp_write()"
    )
    op.execute(
        "CREATE TRIGGER task_bury_deleted AFTER DELETE ON tasks REFERENCING OLD TABLE AS deleted "
        "FOR EACH STATEMENT EXECUTE FUNCTION task_bury_deleted()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER task_bury_deleted ON tasks")
    op.execute("DROP TRIGGER task_stamp_write ON tasks")
    op.execute("DROP FUNCTION task_bury_deleted()")
    op.execute("DROP FUNCTION task_stamp_write()")
    op.drop_table("task_tombstones")
    op.drop_index("ix_tasks_user_written", "tasks")
    op.drop_column("tasks", "write_xid")
