"""The tables: the one place the schema is declared (migrations must match it).

SQLAlchemy Core tables, not SQLModel classes: the data path builds Core statements and the
API's models live in `schemas`, so SQLModel's half (pydantic models, SQLAlchemy's ORM) would
only cost every cold start its imports (about 100 ms and 6 MB).
"""

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

PRIORITIES = ("low", "medium", "high")
"""Stored as 1, 2, 3 so that sorting by priority is sorting by a number."""


LIVE = sa.text("deleted_at IS NULL")
"""Every list index covers live tasks only; the trash has its own."""
TRASHED = sa.text("deleted_at IS NOT NULL")


class XID8(sa.types.UserDefinedType[str]):
    """PostgreSQL's 64-bit transaction id: which transaction wrote a row (sync's watermark)."""

    cache_ok = True

    def get_col_spec(self, **_: object) -> str:
        return "XID8"


postgresql.base.ischema_names["xid8"] = XID8  # reflected as itself: migrations compare equal
CURRENT_XACT = sa.text("pg_current_xact_id()")


RECURRENCE_SHAPE = (
    "recurrence ~ '^FREQ=(DAILY|WEEKLY|MONTHLY|YEARLY)(;INTERVAL=[1-9][0-9]{0,2})?"
    "(;BYDAY=(MO|TU|WE|TH|FR|SA|SU)(,(MO|TU|WE|TH|FR|SA|SU)){0,6})?"
    "(;COUNT=[1-9][0-9]{0,3}|;UNTIL=[0-9]{8}T[0-9]{6}Z)?$'"
)
"""A normalised rule's shape (`recurrence.normalise_rule` checks the rest): what SQL parses."""


metadata = sa.MetaData()
"""Every table, for Alembic and the tests that compare the migrations with it."""

TIMESTAMP = sa.DateTime(timezone=True)


def written_at(name: str) -> sa.Column[object]:
    """A timestamp the database sets when the row is written."""
    return sa.Column(name, TIMESTAMP, nullable=False, server_default=sa.func.now())


def write_xid() -> sa.Column[str]:
    """Set by the DEFAULT and, on every UPDATE, by a trigger (migration 0005)."""
    return sa.Column("write_xid", XID8(), nullable=False, server_default=CURRENT_XACT)


tasks = sa.Table(
    "tasks",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
    sa.Column("user_id", sa.Text, nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("description", sa.Text, nullable=True),
    sa.Column("completed", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("completed_at", TIMESTAMP, nullable=True),
    sa.Column("priority", sa.SmallInteger, nullable=False, server_default="2"),
    sa.Column("tags", postgresql.ARRAY(sa.Text), nullable=False, server_default="{}"),
    sa.Column("due_at", TIMESTAMP, nullable=True),
    sa.Column("recurrence", sa.Text, nullable=True),
    sa.Column("timezone", sa.Text, nullable=True),
    written_at("created_at"),
    written_at("updated_at"),
    sa.Column("deleted_at", TIMESTAMP, nullable=True),
    sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    write_xid(),
    sa.CheckConstraint("char_length(title) BETWEEN 1 AND 200", name="title_length"),
    sa.CheckConstraint("char_length(description) <= 1000", name="description_length"),
    sa.CheckConstraint("priority BETWEEN 1 AND 3", name="priority_range"),
    sa.CheckConstraint("cardinality(tags) <= 10", name="tags_count"),
    sa.CheckConstraint("completed = (completed_at IS NOT NULL)", name="completed_at_set"),
    sa.CheckConstraint("version >= 1", name="version_positive"),
    sa.CheckConstraint(RECURRENCE_SHAPE, name="recurrence_shape"),
    sa.CheckConstraint("recurrence IS NULL OR due_at IS NOT NULL", name="recurrence_due_at"),
    sa.CheckConstraint("char_length(timezone) BETWEEN 1 AND 64", name="timezone_length"),
    sa.Index("ix_tasks_user_created", "user_id", "created_at", "id", postgresql_where=LIVE),
    sa.Index("ix_tasks_user_updated", "user_id", "updated_at", "id", postgresql_where=LIVE),
    sa.Index("ix_tasks_user_due", "user_id", "due_at", "id", postgresql_where=LIVE),
    sa.Index(
        "ix_tasks_user_due_desc",
        "user_id",
        sa.text("due_at DESC NULLS LAST"),
        sa.text("id DESC"),
        postgresql_where=LIVE,
    ),
    sa.Index("ix_tasks_user_priority", "user_id", "priority", "id", postgresql_where=LIVE),
    sa.Index(
        "ix_tasks_user_title", "user_id", sa.text("lower(title)"), "id", postgresql_where=LIVE
    ),
    sa.Index(
        "ix_tasks_user_trash",
        "user_id",
        sa.text("deleted_at DESC"),
        sa.text("id DESC"),
        postgresql_where=TRASHED,
    ),
    sa.Index("ix_tasks_trashed_at", "deleted_at", postgresql_where=TRASHED),
    # `tag` (migration 0006): btree_gin puts the user beside the tags; `q`'s index follows.
    sa.Index(
        "ix_tasks_user_tags", "user_id", "tags", postgresql_using="gin", postgresql_where=LIVE
    ),
    sa.Index("ix_tasks_user_written", "user_id", "write_xid", "id"),
)
"""The data path builds its single statements from it."""

SEARCHED = (
    sa.func.lower(tasks.c.title),
    sa.func.lower(sa.func.coalesce(tasks.c.description, sa.literal_column("''"))),
)
"""What `q` searches (`listing.filters`), spelled as ix_tasks_user_search indexes it."""

sa.Index(  # `q` (migration 0006): pg_trgm answers LIKE '%...%', btree_gin the user
    "ix_tasks_user_search",
    tasks.c.user_id,
    SEARCHED[0].label("title_trigrams"),
    SEARCHED[1].label("description_trigrams"),
    postgresql_using="gin",
    postgresql_where=LIVE,
    postgresql_ops={"title_trigrams": "gin_trgm_ops", "description_trigrams": "gin_trgm_ops"},
)


idempotency_keys = sa.Table(
    "idempotency_keys",
    metadata,
    sa.Column("user_id", sa.Text, primary_key=True),
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("fingerprint", sa.Text, nullable=False),
    sa.Column("status", sa.SmallInteger, nullable=False),
    sa.Column("response", postgresql.JSONB, nullable=False),
    written_at("created_at"),
    # The statement that finds a live key from a concurrent first request sets '' here,
    # so that its whole statement (the duplicate write included) rolls back.
    sa.CheckConstraint("fingerprint <> ''", name="idempotency_key_in_flight"),
    sa.Index("ix_idempotency_keys_created", "created_at"),
)
"""A write's outcome under its `Idempotency-Key`, stored by the write's own statement."""

rate_limits = sa.Table(
    "rate_limits",
    metadata,
    sa.Column("user_id", sa.Text, primary_key=True),
    sa.Column("window_start", TIMESTAMP, nullable=False),
    sa.Column("used", sa.Integer, nullable=False),
    prefixes=["UNLOGGED"],  # a counter: no WAL, emptied by a crash
)
"""A user's requests in the current window, counted by each request's own statement."""

task_tombstones = sa.Table(
    "task_tombstones",
    metadata,
    sa.Column("task_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("user_id", sa.Text, nullable=False),
    write_xid(),
    written_at("deleted_at"),
    sa.Index("ix_task_tombstones_user_written", "user_id", "write_xid", "task_id"),
    sa.Index("ix_task_tombstones_deleted", "deleted_at"),
)
"""A task deleted for good, written by the trigger on every DELETE: what sync calls purged."""
