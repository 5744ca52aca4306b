"""Tokens a warm instance has verified: the signature once per token, the times on every use.

A frontend sends the same token with every request of a session. Verifying it again (two
base64 passes over each segment, JSON, the signature) gives the same answer as long as the
key that verified it is still the instance's key for its `kid`; only the time claims can
change their verdict, so they are checked on every use. Failures are not kept.
"""

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from backend.auth import User

MAX_TOKENS = 512
"""Enough for the sessions one warm instance serves; a new token pushes out the oldest."""


@dataclass(frozen=True)
class Verified:
    """What a token's verification found: the caller, its time claims, and the key it used."""

    user: "User"
    times: dict[str, Any]  # exp, and nbf or iat when the token has them
    kid: str | None  # None: verified with the shared secret
    key: object


class VerifiedTokens:
    """A bounded map from a token to its `Verified`, oldest entry out first."""

    def __init__(self, size: int = MAX_TOKENS) -> None:
        self.size = size
        self.entries: dict[str, Verified] = {}
        self.lock = threading.Lock()  # writers only: a lookup is one dict read

    def get(self, token: str) -> Verified | None:
        return self.entries.get(token)

    def add(self, token: str, verified: Verified) -> None:
        with self.lock:
            if token not in self.entries and len(self.entries) >= self.size:
                del self.entries[next(iter(self.entries))]
            self.entries[token] = verified

    def __len__(self) -> int:
        return len(self.entries)
