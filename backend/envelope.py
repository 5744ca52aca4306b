"""A request's one statement: its operation, gated by the rate limit and the idempotency key.

Every task route sends one statement, built here around the route's own operation:

    WITH rate AS (INSERT INTO rate_limits ... ON CONFLICT DO UPDATE ... RETURNING ...),
         prior AS (SELECT ... FROM idempotency_keys WHERE user_id, key, not expired),
         op AS (the operation, WHERE ... AND <gate>),
         saved AS (INSERT INTO idempotency_keys SELECT ... FROM op ... ON CONFLICT ...)
    SELECT <rate, prior, now>, <the operation's rows or payload> FROM rate ...

The gate holds when the caller is within the limit and the key has no stored outcome,
so a limited or replayed request changes nothing. Locks come in one order: the user's
counter row (the gate's scalar subquery runs first), then tasks, then the key.

Statements are built once per shape (limit or not, key or not, and the operation's own
shape), with the request's values as named bind parameters: a request then builds
nothing, and SQLAlchemy finds the compiled form by the statement object itself.
"""

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cache
from typing import Any

from sqlalchemy import (
    CTE,
    ColumnElement,
    Engine,
    Integer,
    Select,
    String,
    Subquery,
    Table,
    and_,
    bindparam,
    case,
    exists,
    func,
    literal,
    select,
    true,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError

from backend import statements
from backend.compiled import Row
from backend.errors import Conflict, IdempotencyKeyReused, RateLimited
from backend.models import idempotency_keys, rate_limits

log = logging.getLogger("backend")

WINDOW = timedelta(seconds=60)
KEY_LIFETIME = timedelta(hours=24)
IN_FLIGHT = "idempotency_key_in_flight"
"""The check a duplicate's statement violates while (or once) a first request holds the key."""

USER = bindparam("caller", type_=String())
"""The caller, in every statement: each operation scopes its rows with it too.

No parameter is named like a column: SQLAlchemy would take a value for a column named in
the parameters as one to write, in any INSERT or UPDATE of the statement."""
RATE_LIMIT = bindparam("rate_limit", type_=Integer())
KEY = bindparam("request_key", type_=String())
FINGERPRINT = bindparam("request_fingerprint", type_=String())
STATUS = bindparam("request_status", type_=Integer())
Params = Mapping[str, Any]


@dataclass(frozen=True)
class Call:
    """The request as the envelope sees it: who, their limit, and the key with its fingerprint."""

    user_id: str
    rate_limit: int = 0
    key: str | None = None
    fingerprint: str = ""
    status: int = 200

    @property
    def params(self) -> dict[str, Any]:
        """The values of the envelope's bind parameters."""
        return {
            USER.key: self.user_id,
            RATE_LIMIT.key: self.rate_limit,
            KEY.key: self.key,
            FINGERPRINT.key: self.fingerprint,
            STATUS.key: self.status,
        }


@dataclass
class Outcome:
    """What the statement answered: the operation's rows (live or replayed) and the headers."""

    rows: Sequence[Any]
    meta: Row
    headers: dict[str, str] = field(default_factory=dict)
    replayed_status: int | None = None


class Envelope:
    """The rate limit and idempotency parts of a statement, for calls of one shape."""

    def __init__(self, limited: bool, keyed: bool) -> None:
        self.rate = rate_cte() if limited else None
        self.prior = prior_cte() if keyed else None

    @staticmethod
    def of(call: Call) -> "Envelope":
        """The envelope for calls like `call`: one per shape, built once."""
        return envelope(bool(call.rate_limit), call.key is not None)

    @property
    def gate(self) -> ColumnElement[bool]:
        """True when the operation may run: within the limit, and no outcome to replay."""
        conditions: list[ColumnElement[bool]] = []
        if self.rate is not None:
            conditions.append(select(self.rate.c.used).scalar_subquery() <= RATE_LIMIT)
        if self.prior is not None:
            conditions.append(~exists(select(self.prior.c.fingerprint)))
        return and_(true(), *conditions)

    def meta(self) -> tuple[Any, list[ColumnElement[Any]]]:
        """The one-row FROM clause that the prior row and the operation join, and its columns.

        With a limit it is the counter's upsert, which returns its one row whether it
        inserted or updated: a join to a constant row besides costs the server 3-5% of a
        statement (bench/README.md). Without one it is `SELECT 1`; not `VALUES (1)`, which
        SQLAlchemy caches no statement holding, and compiling anew costs milliseconds.
        """
        source: Any = select(literal(1).label("one")).subquery("one")
        columns: list[ColumnElement[Any]] = [func.now().label("_now")]
        if self.rate is not None:
            source = self.rate
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

    def read_one(self, table: Table, condition: ColumnElement[bool]) -> Select[Any]:
        """A read of at most one row of `table` (by its key): the meta row joined to it.

        Not gated: a limited read looks up its one row all the same (an index lookup, as
        the counter's own) and `outcome` answers 429 without it. No subquery and no gate
        for the server to parse and plan: 14-16% less of a one-task read's statement than
        `read` (bench/README.md).
        """
        source, columns = self.meta()
        return select(*columns, *table.c).select_from(source.outerjoin(table, condition))

    def write(
        self,
        op: CTE,
        payload: ColumnElement[Any],
        *extra: ColumnElement[Any],
        succeeded: ColumnElement[bool] | None = None,
        answer: ColumnElement[Any] | None = None,
    ) -> Select[Any]:
        """A write: the meta row and the operation's JSON payload, saved under the key.

        `answer`, when given, is what the statement answers in the payload's place (the
        response's own text, say); the payload is then only saved, for a replay.
        """
        source, columns = self.meta()
        answered = payload if answer is None else answer
        statement = select(*columns, *extra, answered.label("_payload")).select_from(source)
        if self.prior is not None:
            ran = exists(select(op.c[0])) if succeeded is None else succeeded
            statement = statement.add_cte(self.save(payload, ran))
        return statement

    def save(self, payload: ColumnElement[Any], succeeded: ColumnElement[bool]) -> CTE:
        """Store the outcome with the write; a key held by a concurrent first request fails it."""
        row = select(USER, KEY, FINGERPRINT, STATUS, payload, func.now()).where(succeeded)
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

    def outcome(self, call: Call, row: Row, rows: Sequence[Any]) -> Outcome:
        """Check the limit and the key, then the operation's rows or the stored ones."""
        headers = self.rate_headers(call, row)
        if self.rate is not None and row["_used"] > call.rate_limit:
            raise RateLimited(headers={**headers, "Retry-After": headers["_reset"]})
        headers.pop("_reset", None)
        if self.prior is not None and row["_prior_fingerprint"] is not None:
            if row["_prior_fingerprint"] != call.fingerprint:
                raise IdempotencyKeyReused(headers=headers)
            replayed = {**headers, "Idempotent-Replayed": "true"}
            return Outcome(row["_prior_response"], row, replayed, row["_prior_status"])
        return Outcome(rows, row, headers)

    def rate_headers(self, call: Call, row: Row) -> dict[str, str]:
        """IETF RateLimit headers: quota and window, what is left and when it resets."""
        if self.rate is None:
            return {}
        limit = call.rate_limit
        reset = max(1, math.ceil((row["_start"] + WINDOW - row["_now"]).total_seconds()))
        return {
            "RateLimit-Policy": f'"user";q={limit};w={int(WINDOW.total_seconds())}',
            "RateLimit": f'"user";r={max(0, limit - row["_used"])};t={reset}',
            "_reset": str(reset),
        }


PRIOR_COLUMNS = ("fingerprint", "status", "response")


@cache
def envelope(limited: bool, keyed: bool) -> Envelope:
    return Envelope(limited, keyed)


def rate_cte() -> CTE:
    """Count this request in the user's current window, opening a new window when it ended."""
    statement = insert(rate_limits).values(user_id=USER, window_start=func.now(), used=1)
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


def prior_cte() -> CTE:
    """The key's stored outcome, if it has one younger than the key lifetime."""
    return (
        select(*(idempotency_keys.c[name] for name in PRIOR_COLUMNS))
        .where(
            idempotency_keys.c.user_id == USER,
            idempotency_keys.c.key == KEY,
            idempotency_keys.c.created_at > func.now() - KEY_LIFETIME,
        )
        .cte("prior")
    )


def rows_payload(op: CTE) -> ColumnElement[Any]:
    """The operation's rows as a JSON array: what a replay answers, and the live answer too."""
    aggregated = func.coalesce(func.jsonb_agg(op.table_valued()), func.jsonb_build_array())
    return select(aggregated).select_from(op).scalar_subquery()


def run(db: Engine, statement: Select[Any], params: Params, *, write: bool) -> list[Row]:
    """Run the call's statement; a duplicate that met the first request's key runs once more.

    The duplicate's statement fails only once the first has committed (a unique key waits
    for the transaction holding it), so running it again finds the stored outcome.
    """
    for _ in range(2):
        try:
            return statements.run(db, statement, params, write=write)
        except IntegrityError as error:
            if getattr(getattr(error.orig, "diag", None), "constraint_name", None) != IN_FLIGHT:
                raise
            log.info("idempotency key held by a concurrent first request: running again")
    raise Conflict()
