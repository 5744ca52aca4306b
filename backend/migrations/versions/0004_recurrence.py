"""Add recurring tasks: the rule and time zone columns and the next-occurrence functions.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01

`task_next_occurrence` runs inside the UPDATE that completes a task, so a completion stays
one statement: see specs/features/recurrence.md for the semantics it implements.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RECURRENCE_SHAPE = (  # models.RECURRENCE_SHAPE when this was written
    "recurrence ~ '^FREQ=(DAILY|WEEKLY|MONTHLY|YEARLY)(;INTERVAL=[1-9][0-9]{0,2})?"
    "(;BYDAY=(MO|TU|WE|TH|FR|SA|SU)(,(MO|TU|WE|TH|FR|SA|SU)){0,6})?"
    "(;COUNT=[1-9][0-9]{0,3}|;UNTIL=[0-9]{8}T[0-9]{6}Z)?$'"
)

LOCAL_INSTANT = """
CREATE FUNCTION task_local_instant(local timestamp, zone text) RETURNS timestamptz
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
-- The instant a wall-clock time names in a zone, as RFC 5545 reads it: a time in a gap
-- takes the offset before the gap (PostgreSQL does that); a time that occurs twice is the
-- first of the two (PostgreSQL takes the second, so try the offset of a day before).
-- PL/pgSQL rather than SQL: called from PL/pgSQL, it runs about five times faster.
DECLARE
    later timestamptz := local AT TIME ZONE zone;
    before timestamptz := later - interval '24 hours';
    earlier timestamptz := (local - (before AT TIME ZONE zone - before AT TIME ZONE 'UTC'))
                           AT TIME ZONE 'UTC';
BEGIN
    IF earlier < later AND earlier AT TIME ZONE zone = local THEN
        RETURN earlier;
    END IF;
    RETURN later;
END
$$
"""

CANDIDATE = """
CREATE FUNCTION task_candidate(freq text, step int, days int[], start timestamp, k int)
RETURNS timestamp LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
-- The k-th wall-clock time the rule generates from `start` (k = 0 may be `start` itself);
-- NULL when that date does not exist (skipped, never clamped); past year 9999, infinity.
DECLARE
    candidate timestamp;
BEGIN
    IF freq = 'DAILY' THEN
        candidate := start + make_interval(days => k * step);
    ELSIF freq = 'WEEKLY' AND days IS NULL THEN
        candidate := start + make_interval(days => 7 * k * step);
    ELSIF freq = 'WEEKLY' THEN  -- weeks start on Monday; `days` are ISO weekday numbers
        candidate := date_trunc('week', start) + (start - date_trunc('day', start))
            + make_interval(days => 7 * step * (k / cardinality(days))
                                    + days[k % cardinality(days) + 1] - 1);
    ELSIF freq = 'MONTHLY' THEN
        candidate := start + make_interval(months => k * step);
    ELSIF freq = 'YEARLY' THEN
        candidate := start + make_interval(years => k * step);
    ELSE
        RAISE EXCEPTION 'unknown recurrence frequency: %', freq
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF extract(year FROM candidate) > 9999 THEN
        RETURN 'infinity';
    ELSIF extract(day FROM candidate) <> extract(day FROM start) AND freq IN ('MONTHLY', 'YEARLY')
    THEN
        RETURN NULL;  -- PostgreSQL clamped the 31st to the 30th, 29 February to the 28th
    END IF;
    RETURN candidate;
END
$$
"""

NEXT_OCCURRENCE = """
CREATE FUNCTION task_next_occurrence(due_at timestamptz, rule text, tz text)
RETURNS timestamptz LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
-- The rule's first occurrence strictly after `due_at`, with `due_at` as DTSTART in the
-- zone `tz` (NULL: UTC); NULL when none is left (COUNT=1, past UNTIL, past year 9999).
DECLARE
    zone text := coalesce(tz, 'UTC');
    freq text := substring(rule FROM '^FREQ=([A-Z]+)');
    step int := coalesce(substring(rule FROM ';INTERVAL=([0-9]+)')::int, 1);
    byday text := substring(rule FROM ';BYDAY=([A-Z,]+)');
    start timestamp;
    days int[];
    until_at timestamptz;
    local timestamp;
    instant timestamptz;
BEGIN
    IF due_at IS NULL OR rule IS NULL OR substring(rule FROM ';COUNT=([0-9]+)')::int <= 1 THEN
        RETURN NULL;
    END IF;
    start := due_at AT TIME ZONE zone;
    IF byday IS NOT NULL THEN  -- the weekdays' ISO numbers, in week order
        days := '{}';
        FOR d IN 1..7 LOOP
            IF position((ARRAY['MO', 'TU', 'WE', 'TH', 'FR', 'SA', 'SU'])[d] IN byday) > 0 THEN
                days := days || d;
            END IF;
        END LOOP;
    END IF;
    until_at := substring(rule FROM ';UNTIL=([0-9]{8}T[0-9]{6})Z')::timestamp AT TIME ZONE 'UTC';
    FOR k IN 0..2000 LOOP
        local := task_candidate(freq, step, days, start, k);
        CONTINUE WHEN local IS NULL OR local <= start;  -- `start` itself is `due_at`
        EXIT WHEN NOT isfinite(local);
        instant := task_local_instant(local, zone);
        CONTINUE WHEN instant <= due_at;
        EXIT WHEN instant > coalesce(until_at, '9999-12-31 23:59:59.999999+00');
        RETURN instant;
    END LOOP;
    RETURN NULL;
END
$$
"""

RULE_ADVANCED = """
CREATE FUNCTION task_rule_advanced(rule text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    -- The rule after one occurrence is used up: COUNT counts the occurrences left.
    SELECT CASE WHEN count IS NULL THEN rule
                ELSE regexp_replace(rule, ';COUNT=[0-9]+', ';COUNT=' || (count::int - 1)) END
    FROM substring(rule FROM ';COUNT=([0-9]+)') AS count
$$
"""

FUNCTIONS = (LOCAL_INSTANT, CANDIDATE, NEXT_OCCURRENCE, RULE_ADVANCED)
SIGNATURES = (
    "task_rule_advanced(text)",
    "task_next_occurrence(timestamptz, text, text)",
    "task_candidate(text, int, int[], timestamp, int)",
    "task_local_instant(timestamp, text)",
)


def upgrade() -> None:
    op.add_column("tasks", sa.Column("recurrence", sa.Text(), nullable=True))
    op.add_column("tasks", sa.Column("timezone", sa.Text(), nullable=True))
    op.create_check_constraint("recurrence_shape", "tasks", RECURRENCE_SHAPE)
    op.create_check_constraint(
        "recurrence_due_at", "tasks", "recurrence IS NULL OR due_at IS NOT NULL"
    )
    op.create_check_constraint("timezone_length", "tasks", "char_length(timezone) BETWEEN 1 AND 64")
    for function in FUNCTIONS:
        op.execute(function)


def downgrade() -> None:
    for signature in SIGNATURES:
        op.execute(f"DROP FUNCTION {signature}")
    op.drop_column("tasks", "timezone")
    op.drop_column("tasks", "recurrence")
