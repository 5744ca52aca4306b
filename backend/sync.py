"""Sync: what changed since a token, read against the transaction ids of the writes.

Every task row carries `write_xid`, the id of the transaction that last wrote it, and
every DELETE leaves a tombstone with its own; both are kept by triggers (migration 0005).
A token names what the client already has in terms of those ids: every row whose
`(write_xid, id)` is at or below `after`, except the rows of `also` (transactions that
were still running when the token was issued, or partly served), whose ids above each
floor it does not have. specs/features/sync.md proves that no committed write is missed.
"""

import base64
import binascii
import json
import time
from dataclasses import dataclass, replace
from functools import cache
from typing import Any, NamedTuple

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Engine,
    Select,
    Text,
    and_,
    bindparam,
    cast,
    exists,
    func,
    literal,
    or_,
    select,
    tuple_,
)
from sqlalchemy.dialects import postgresql

from backend import parsing
from backend.envelope import USER, Call, Envelope, Outcome, run
from backend.errors import SyncExpired, ValidationFailed
from backend.listing import LIMIT
from backend.models import XID8, task_tombstones, tasks
from backend.rows import shown
from backend.trash import RETENTION, retained, retention

VERSION = 1
MAX_XID = 2**64
MAX_ID = 2**63
MAX_TOKEN = 32_768
"""Characters: a token lists the transactions running server-wide when it was issued."""
MAX_PARTLY_SERVED = 100
"""Listed transactions with a floor: a page ends inside each; more is no token of ours."""
MAX_LISTED = 1000
"""Beyond this many running, a final page's token re-sends from the oldest instead."""
CLOCK_SKEW_SECONDS = 300

Key = tuple[int, int]
"""A row's place in sync order: its writing transaction's id, then its task id."""


@dataclass(frozen=True)
class Token:
    after: Key = (0, 0)
    also: tuple[Key, ...] = ()
    """`(xid, floor)`, xids ascending and below `after`: rows of xid with an id above floor."""
    floor: int = 0
    """Tombstones below this xid predate the full sync this token continues: not sent."""
    issued: int = 0

    def encode(self) -> str:
        also = [[self.after[0] - xid, floor] for xid, floor in self.also]  # short numbers
        raw = [VERSION, *self.after, also, self.floor, self.issued]
        text = json.dumps(raw, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(text).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str, now: float) -> "Token":
        token = parse(text)
        if token.issued > now + CLOCK_SKEW_SECONDS:
            raise malformed()
        if now - token.issued > retention().total_seconds():
            raise SyncExpired()
        return token


def malformed() -> ValidationFailed:
    return ValidationFailed("since is not a sync token: use next_since as given", field="since")


def parse(text: str) -> Token:
    if len(text) > MAX_TOKEN:
        raise malformed()
    try:
        raw = parsing.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        version, after_xid, after_id, also, floor, issued = raw
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
        raise malformed() from None
    if version != VERSION or not all(is_xid(v) for v in (after_xid, floor, issued)):
        raise malformed()
    if not is_id(after_id) or not isinstance(also, list):
        raise malformed()
    entries: list[Key] = []
    for entry in also:
        if not (isinstance(entry, list) and len(entry) == 2 and is_id(entry[1])):
            raise malformed()
        if type(entry[0]) is not int or not 0 < entry[0] <= after_xid:
            raise malformed()
        xid = after_xid - entry[0]
        if entries and xid <= entries[-1][0]:
            raise malformed()
        entries.append((xid, entry[1]))
    if sum(1 for _, floor in entries if floor > 0) > MAX_PARTLY_SERVED:
        raise malformed()
    return Token((after_xid, after_id), tuple(entries), floor, issued)


def is_xid(value: object) -> bool:
    return type(value) is int and 0 <= value < MAX_XID


def is_id(value: object) -> bool:
    return type(value) is int and 0 <= value < MAX_ID


class Shape(NamedTuple):
    """What a sync statement's SQL depends on; the token's numbers are bind parameters."""

    token: bool
    running: bool
    """The token lists transactions that were running when it was issued."""
    partly: bool
    """The token lists transactions it served in part, each with a floor."""


def shape_of(token: Token | None) -> Shape:
    if token is None:
        return Shape(False, False, False)
    return Shape(True, any(f == 0 for _, f in token.also), any(f > 0 for _, f in token.also))


def params_of(token: Token | None, limit: int) -> dict[str, Any]:
    """The values of a sync statement's bind parameters: xids as text, cast to `xid8`."""
    values: dict[str, Any] = {LIMIT.key: limit + 1, **retained()}
    if token is not None:
        partly = [(x, floor) for x, floor in token.also if floor > 0]
        values.update(
            after_xid=str(token.after[0]),
            after_id=token.after[1],
            floor=str(token.floor),
            also_from=str(token.also[0][0]) if token.also else "0",
            running=[str(x) for x, floor in token.also if floor == 0],
            partly_xids=[str(x) for x, _ in partly],
            partly_floors=[floor for _, floor in partly],
        )
    return values


def xid8(name: str) -> ColumnElement[Any]:
    return cast(bindparam(name, type_=Text()), XID8())


def xid8_array(name: str) -> ColumnElement[Any]:
    """A `text[]` parameter cast to `xid8[]`: folded into a constant the planner can hash."""
    return cast(bindparam(name, type_=postgresql.ARRAY(Text)), postgresql.ARRAY(XID8()))


def unknown(xid: ColumnElement[Any], id: ColumnElement[Any], shape: Shape) -> ColumnElement[bool]:
    """Rows the token's holder does not have, as one range of the `(user_id, xid, id)` index.

    Listed transactions are matched by a hashed `= ANY` (however long the list, a row costs
    one probe); the few partly served ones, with their floors, by a lookup of their own.
    """
    after = tuple_(xid, id) > tuple_(xid8("after_xid"), bindparam("after_id", type_=BigInteger))
    if not (shape.running or shape.partly):
        return after
    conditions = [after]
    if shape.running:
        conditions.append(xid == func.any(xid8_array("running")))
    if shape.partly:
        floors = bindparam("partly_floors", type_=postgresql.ARRAY(BigInteger))
        entries = func.unnest(xid8_array("partly_xids"), floors)
        served = entries.table_valued("x", "floor").render_derived(name="served")
        match = and_(served.c.x == xid, id > served.c.floor)
        conditions.append(exists(select(literal(1)).select_from(served).where(match)))
    return and_(xid >= xid8("also_from"), or_(*conditions))


def task_rows(shape: Shape, gate: ColumnElement[bool]) -> Any:
    """The caller's live and trashed tasks (within retention) in sync order, one past limit:
    each as its JSON text (`rows.shown`), with its place in sync order."""
    kept = or_(tasks.c.deleted_at.is_(None), tasks.c.deleted_at > func.now() - RETENTION)
    columns = (shown(tasks), tasks.c.write_xid, tasks.c.id)
    statement = select(*columns).where(tasks.c.user_id == USER, kept, gate)
    if shape.token:
        statement = statement.where(unknown(tasks.c.write_xid, tasks.c.id, shape))
    return statement.order_by(tasks.c.write_xid, tasks.c.id).limit(LIMIT)


def tombstone_rows(shape: Shape, gate: ColumnElement[bool]) -> Any:
    """The caller's tombstones the token's holder has not seen, in sync order, one past limit."""
    stone = task_tombstones.c
    return (
        select(cast(stone.write_xid, Text).label("xid"), stone.task_id)
        .where(stone.user_id == USER, stone.write_xid >= xid8("floor"), gate)
        .where(unknown(stone.write_xid, stone.task_id, shape))
        .order_by(stone.write_xid, stone.task_id)
        .limit(LIMIT)
    )


@cache
def changes_statement(envelope: Envelope, shape: Shape) -> Select[Any]:
    """The tasks page joined to the envelope, with the tombstones page and the snapshot."""
    gate = envelope.gate
    snapshot = select(cast(func.pg_current_snapshot(), Text)).scalar_subquery()
    extra: list[ColumnElement[Any]] = [snapshot.label("_snapshot")]
    if shape.token:
        stones = tombstone_rows(shape, gate).subquery("stones")
        pairs = func.jsonb_agg(func.jsonb_build_array(stones.c.xid, stones.c.task_id))
        extra.append(select(pairs).select_from(stones).scalar_subquery().label("_purged"))
    rows = task_rows(shape, gate).subquery("op")
    return envelope.read(rows, *extra)


def changes(db: Engine, call: Call, since: str | None, limit: int) -> tuple[str, Outcome]:
    """One page of changes and the token to continue from (a `Changes` object's JSON text),
    in one statement."""
    now = time.time()
    token = Token.decode(since, now) if since is not None else None
    envelope = Envelope.of(call)
    params = {**call.params, **params_of(token, limit)}
    result = run(db, changes_statement(envelope, shape_of(token)), params, write=False)
    outcome = envelope.outcome(call, result[0], [row for row in result if row["id"] is not None])
    meta = outcome.meta
    page: list[tuple[Key, Any]] = [((int(r["write_xid"]), r["id"]), r) for r in outcome.rows]
    page += [((int(x), task_id), None) for x, task_id in meta.get("_purged") or []]
    page.sort(key=lambda entry: entry[0])
    served, has_more = page[:limit], len(page) > limit
    xmin, xmax, running = snapshot_of(meta["_snapshot"])
    if has_more:
        following = continued(token, served[-1][0], xmin, running)
    elif len(running) > MAX_LISTED:
        following = Token((running[0], 0))  # a superset: duplicates, never a miss
    else:
        following = Token((xmax, 0), tuple((x, 0) for x in running))
    written = [row["shown"] for _, row in served if row is not None]
    purged = [key[1] for key, row in served if row is None]
    next_since = replace(following, issued=int(now)).encode()
    return changes_text(written, purged, next_since, has_more), outcome


def changes_text(written: list[str], purged: list[int], next_since: str, has_more: bool) -> str:
    """A `Changes` object as pydantic writes it, around tasks already written as JSON."""
    return (
        f'{{"changes":[{",".join(written)}],"purged":[{",".join(map(str, purged))}],'
        f'"next_since":{json.dumps(next_since)},"has_more":{json.dumps(has_more)}}}'
    )


def continued(token: Token | None, last: Key, xmin: int, running: list[int]) -> Token:
    """The token after a page that ended at `last`, with more to come.

    Rows at or below `last` are served; a transaction still running below it may yet
    commit there, so it is listed; so are the listed ones above it, not served yet.
    """
    previous = token or Token(floor=xmin)
    after = max(previous.after, last)
    also = {x: 0 for x in running if x < after[0]}
    also.update({x: floor for x, floor in previous.also if x > last[0]})
    if last < previous.after:
        also[last[0]] = last[1]
    return Token(after, tuple(sorted(also.items())), previous.floor)


def snapshot_of(text: str) -> tuple[int, int, list[int]]:
    """`xmin:xmax:xip,...` as PostgreSQL writes a snapshot."""
    xmin, xmax, running = text.split(":")
    return int(xmin), int(xmax), sorted(int(x) for x in running.split(",") if x)
