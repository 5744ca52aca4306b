"""The `tasks` table: the one place the schema is declared (migrations must match it)."""

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlmodel import Field, SQLModel

PRIORITIES = ("low", "medium", "high")
"""Stored as 1, 2, 3 so that sorting by priority is sorting by a number."""


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
        sa.Index("ix_tasks_user_created", "user_id", "created_at", "id"),
        sa.Index("ix_tasks_user_updated", "user_id", "updated_at", "id"),
        sa.Index("ix_tasks_user_due", "user_id", "due_at", "id"),
        sa.Index(
            "ix_tasks_user_due_desc",
            "user_id",
            sa.text("due_at DESC NULLS LAST"),
            sa.text("id DESC"),
        ),
        sa.Index("ix_tasks_user_priority", "user_id", "priority", "id"),
        sa.Index("ix_tasks_user_title", "user_id", sa.text("lower(title)"), "id"),
        sa.Index("ix_tasks_tags", "tags", postgresql_using="gin"),
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
    version: int = Field(
        default=1, sa_column=sa.Column(sa.Integer, nullable=False, server_default="1")
    )


tasks = Task.__table__  # type: ignore[attr-defined]
"""The Core table the data path builds its single statements from."""
