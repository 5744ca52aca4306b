"""A request's one statement: its operation, gated by the rate limit and the idempotency key.

Every task route sends one statement, built here around the route's own operation:

    WITH rate AS (INSERT INTO rate_limits ... ON CONFLICT DO UPDATE ... RETURNING ...),
         prior AS (SELECT ... FROM idempotency_keys WHERE user_id, key, not expired),
         op AS (the operation, WHERE ... AND <gate>),
         saved AS (INSERT INTO idempotency_keys SELECT ... FROM op ... ON CONFLICT ...)
    SELECT <rate, prior, now>, <the operation's rows or payload> FROM (VALUES (1)) ...

The gate holds when the caller is within the limit and the key has no stored outcome,
so a limited or replayed request changes nothing. Locks come in one order: the user's
counter row (the gate's scalar subquery runs first), then tasks, then the key.
"""

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import (
    CTE,
    ColumnElement,
    Engine,
    Integer,
    RowMapping,
    Select,
    Subquery,
    and_,
    case,
    column,
    exists,
    func,
    literal,
    select,
    true,
    values,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError

from backend import statements
from backend.errors import Conflict, IdempotencyKeyReused, RateLimited
from backend.models import idempotency_keys, rate_limits

log = logging.getLogger("backend")

WINDOW = timedelta(seconds=60)
KEY_LIFETIME = timedelta(hours=24)
IN_FLIGHT = "idempotency_key_in_flight"
"""The check a duplicate's statement violates while (or once) a first request holds the key."""


@dataclass(frozen=True)
class Call:
    """The request as the envelope sees it: who, their limit, and the key with its fingerprint."""

    user_id: str
    rate_limit: int = 0
    key: str | None = None
    fingerprint: str = ""
    status: int = 200


@dataclass
class Outcome:
    """What the statement answered: the operation's rows (live or replayed) and the headers."""

    rows: Sequence[Any]
    meta: RowMapping
    headers: dict[str, str] = field(default_factory=dict)
    replayed_status: int | None = None


class Envelope:
    """The rate limit and idempotency parts of one call's statement."""

    def __init__(self, call: Call) -> None:
        self.call = call
        self.rate = rate_cte(call.user_id) if call.rate_limit else None
        self.prior = prior_cte(call.user_id, call.key) if call.key else None

    @property
    def gate(self) -> ColumnElement[bool]:
        """True when the operation may run: within the limit, and no outcome to replay."""
        conditions: list[ColumnElement[bool]] = []
        if self.rate is not None:
            conditions.append(select(self.rate.c.used).scalar_subquery() <= self.call.rate_limit)
        if self.prior is not None:
            conditions.append(~exists(select(self.prior.c.fingerprint)))
        return and_(true(), *conditions)

    def meta(self) -> tuple[Any, list[ColumnElement[Any]]]:
        """The one-row FROM clause that the rate and prior rows join, and their columns."""
        source: Any = values(column("one", Integer), name="one").data([(1,)])
        columns: list[ColumnElement[Any]] = [func.now().label("_now")]
        if self.rate is not None:
            source = source.outerjoin(self.rate, true())
            columns += [self.rate.c.used.label("_used"), self.rate.c.window_start.label("_start")]
        if self.prior is not None:
            source = source.outerjoin(self.prior, true())
            columns += [self.prior.c[name].label(f"_prior_{name}") for name in PRIOR_COLUMNS]
        return source, columns

    def read(self, rows: Subquery, *extra: ColumnElement[Any]) -> Select[Any]:
        """A read: the meta row joined to the operation's rows, in the operation's order.

        A one-row outer side joined `ON true` can only be a nested loop, whose output keeps
        the inner side's order.
        """
        source, columns = self.meta()
        return select(*columns, *extra, rows).select_from(source.outerjoin(rows, true()))

    def write(
        self,
        op: CTE,
        payload: ColumnElement[Any],
        *extra: ColumnElement[Any],
        succeeded: ColumnElement[bool] | None = None,
    ) -> Select[Any]:
        """A write: the meta row and the operation's JSON payload, saved under the key."""
        source, columns = self.meta()
        statement = select(*columns, *extra, payload.label("_payload")).select_from(source)
        if self.call.key is not None:
            ran = exists(select(op.c[0])) if succeeded is None else succeeded
            statement = statement.add_cte(self.save(payload, ran))
        return statement

    def save(self, payload: ColumnElement[Any], succeeded: ColumnElement[bool]) -> CTE:
        """Store the outcome with the write; a key held by a concurrent first request fails it."""
        call = self.call
        row = select(
            literal(call.user_id),
            literal(call.key),
            literal(call.fingerprint),
            literal(call.status),
            payload,
            func.now(),
        ).where(succeeded)
        statement = insert(idempotency_keys).from_select(
            ["user_id", "key", "fingerprint", "status", "response", "created_at"], row
        )
        expired = idempotency_keys.c.created_at <= func.now() - KEY_LIFETIME
        replace = {
            "fingerprint": case((expired, statement.excluded.fingerprint), else_=literal("")),
            "status": statement.excluded.status,
            "response": statement.excluded.response,
            "created_at": statement.excluded.created_at,
        }
        return statement.on_conflict_do_update(index_elements=["user_id", "key"], set_=replace).cte(
            "saved"
        )

    def outcome(self, row: RowMapping, rows: Sequence[Any]) -> Outcome:
        """Check the limit and the key, then the operation's rows or the stored ones."""
        headers = self.rate_headers(row)
        if self.rate is not None and row["_used"] > self.call.rate_limit:
            raise RateLimited(headers={**headers, "Retry-After": headers["_reset"]})
        headers.pop("_reset", None)
        if self.prior is not None and row["_prior_fingerprint"] is not None:
            if row["_prior_fingerprint"] != self.call.fingerprint:
                raise IdempotencyKeyReused(headers=headers)
            replayed = {**headers, "Idempotent-Replayed": "true"}
            return Outcome(row["_prior_response"], row, replayed, row["_prior_status"])
        return Outcome(rows, row, headers)

    def rate_headers(self, row: RowMapping) -> dict[str, str]:
        """IETF RateLimit headers: quota and window, what is left and when it resets."""
        if self.rate is None:
            return {}
        limit = self.call.rate_limit
        reset = max(1, math.ceil((row["_start"] + WINDOW - row["_now"]).total_seconds()))
        return {
            "RateLimit-Policy": f'"user";q={limit};w={int(WINDOW.total_seconds())}',
            "RateLimit": f'"user";r={max(0, limit - row["_used"])};t={reset}',
            "_reset": str(reset),
        }


PRIOR_COLUMNS = ("fingerprint", "status", "response")


def rate_cte(user_id: str) -> CTE:
    """Count this request in the user's current window, opening a new window when it ended."""
    statement = insert(rate_limits).values(user_id=user_id, window_start=func.now(), used=1)
    current = rate_limits.c.window_start > func.now() - WINDOW
    return (
        statement.on_conflict_do_update(
            index_elements=["user_id"],
            set_={
                "used": case((current, rate_limits.c.used + 1), else_=1),
                "window_start": case((current, rate_limits.c.window_start), else_=func.now()),
            },
        )
        .returning(rate_limits.c.used, rate_limits.c.window_start)
        .cte("rate")
    )


def prior_cte(user_id: str, key: str) -> CTE:
    """The key's stored outcome, if it has one younger than the key lifetime."""
    return (
        select(*(idempotency_keys.c[name] for name in PRIOR_COLUMNS))
        .where(
            idempotency_keys.c.user_id == user_id,
            idempotency_keys.c.key == key,
            idempotency_keys.c.created_at > func.now() - KEY_LIFETIME,
        )
        .cte("prior")
    )


def rows_payload(op: CTE) -> ColumnElement[Any]:
    """The operation's rows as a JSON array: what a replay answers, and the live answer too."""
    aggregated = func.coalesce(func.jsonb_agg(op.table_valued()), func.jsonb_build_array())
    return select(aggregated).select_from(op).scalar_subquery()


def run(db: Engine, statement: Select[Any], *, write: bool) -> Sequence[RowMapping]:
    """Run the call's statement; a duplicate that met the first request's key runs once more.

    The duplicate's statement fails only once the first has committed (a unique key waits
    for the transaction holding it), so running it again finds the stored outcome.
    """
    for _ in range(2):
        try:
            return statements.run(db, statement, write=write)
        except IntegrityError as error:
            if getattr(getattr(error.orig, "diag", None), "constraint_name", None) != IN_FLIGHT:
                raise
            log.info("idempotency key held by a concurrent first request: running again")
    raise Conflict()
