"""The `tasks` table: the one place the schema is declared (migrations must match it)."""

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlmodel import Field, SQLModel

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


class Task(SQLModel, table=True):
    __tablename__ = "tasks"
    __table_args__ = (
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

    id: int | None = Field(
        default=None, sa_column=sa.Column(sa.BigInteger, sa.Identity(always=True), primary_key=True)
    )
    user_id: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    title: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    description: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    completed: bool = Field(
        default=False, sa_column=sa.Column(sa.Boolean, nullable=False, server_default=sa.false())
    )
    completed_at: datetime | None = Field(
        default=None, sa_column=sa.Column(sa.DateTime(timezone=True), nullable=True)
    )
    priority: int = Field(
        default=2, sa_column=sa.Column(sa.SmallInteger, nullable=False, server_default="2")
    )
    tags: list[str] = Field(
        default_factory=list,
        sa_column=sa.Column(postgresql.ARRAY(sa.Text), nullable=False, server_default="{}"),
    )
    due_at: datetime | None = Field(
        default=None, sa_column=sa.Column(sa.DateTime(timezone=True), nullable=True)
    )
    recurrence: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    timezone: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    created_at: datetime | None = Field(
        default=None,
        sa_column=sa.Column(
            sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    )
    updated_at: datetime | None = Field(
        default=None,
        sa_column=sa.Column(
            sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    )
    deleted_at: datetime | None = Field(
        default=None, sa_column=sa.Column(sa.DateTime(timezone=True), nullable=True)
    )
    version: int = Field(
        default=1, sa_column=sa.Column(sa.Integer, nullable=False, server_default="1")
    )
    write_xid: str | None = Field(  # set by the DEFAULT and, on every UPDATE, by a trigger
        default=None,
        sa_column=sa.Column(XID8(), nullable=False, server_default=CURRENT_XACT),
    )


tasks = Task.__table__  # type: ignore[attr-defined]
"""The Core table the data path builds its single statements from."""

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


class IdempotencyKey(SQLModel, table=True):
    """A write's outcome under its `Idempotency-Key`, stored by the write's own statement."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (
        # The statement that finds a live key from a concurrent first request sets '' here,
        # so that its whole statement (the duplicate write included) rolls back.
        sa.CheckConstraint("fingerprint <> ''", name="idempotency_key_in_flight"),
        sa.Index("ix_idempotency_keys_created", "created_at"),
    )

    user_id: str = Field(sa_column=sa.Column(sa.Text, primary_key=True))
    key: str = Field(sa_column=sa.Column(sa.Text, primary_key=True))
    fingerprint: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    status: int = Field(sa_column=sa.Column(sa.SmallInteger, nullable=False))
    response: object = Field(sa_column=sa.Column(postgresql.JSONB, nullable=False))
    created_at: datetime = Field(
        sa_column=sa.Column(
            sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        )
    )


class RateLimit(SQLModel, table=True):
    """A user's requests in the current window, counted by each request's own statement."""

    __tablename__ = "rate_limits"
    __table_args__ = ({"prefixes": ["UNLOGGED"]},)  # a counter: no WAL, emptied by a crash

    user_id: str = Field(sa_column=sa.Column(sa.Text, primary_key=True))
    window_start: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))
    used: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))


class TaskTombstone(SQLModel, table=True):
    """A task deleted for good, written by the trigger on every DELETE: what sync calls purged."""

    __tablename__ = "task_tombstones"
    __table_args__ = (
        sa.Index("ix_task_tombstones_user_written", "user_id", "write_xid", "task_id"),
        sa.Index("ix_task_tombstones_deleted", "deleted_at"),
    )

    task_id: int = Field(sa_column=sa.Column(sa.BigInteger, primary_key=True, autoincrement=False))
    user_id: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    write_xid: str | None = Field(
        default=None, sa_column=sa.Column(XID8(), nullable=False, server_default=CURRENT_XACT)
    )
    deleted_at: datetime | None = Field(
        default=None,
        sa_column=sa.Column(
            sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    )


idempotency_keys = IdempotencyKey.__table__  # type: ignore[attr-defined]
rate_limits = RateLimit.__table__  # type: ignore[attr-defined]
task_tombstones = TaskTombstone.__table__  # type: ignore[attr-defined]
