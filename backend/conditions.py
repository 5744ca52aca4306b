"""Conditional requests: `If-Match` on writes to one task, `If-None-Match` on reading one."""

import re
from typing import Literal

IfMatch = Literal["*"] | frozenset[int] | None
"""Any current version, one of these versions, or no condition."""

STRONG_TAG = re.compile(r'\s*(W/)?"([^"]*)"\s*(?:,|$)')


def entity_tags(value: str) -> frozenset[int] | None:
    """The versions named by strong ETags (`"3"`); weak or foreign tags name none."""
    versions: set[int] = set()
    position = 0
    while position < len(value):
        match = STRONG_TAG.match(value, position)
        if match is None:
            return None
        weak, tag = match.groups()
        if not weak and tag.isdigit() and tag.isascii() and len(tag) <= 10:
            versions.add(int(tag))
        position = match.end()
    return frozenset(versions)


def if_match(header: str | None) -> IfMatch:
    """`*`, or the versions a list of strong ETags names (a malformed list names none)."""
    value = (header or "").strip()
    if not value:
        return None
    if value == "*":
        return "*"
    return entity_tags(value) or frozenset()


def matches_none(header: str | None, version: int) -> bool:
    """Whether `If-None-Match` names this version (or `*`), compared weakly: a GET answers 304."""
    value = (header or "").strip()
    if not value:
        return False
    if value == "*":
        return True
    return version in (entity_tags(value.replace("W/", "")) or frozenset())
