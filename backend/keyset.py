"""The JSON Web Key Set: fetched on first need, kept warm, refetched sparingly."""

import threading
import urllib.request
from time import monotonic
from typing import Any

from jwt import PyJWK
from jwt.exceptions import PyJWKError

from backend import parsing
from backend.errors import AuthUnavailable

ASYMMETRIC_ALGORITHMS = frozenset({"EdDSA", "ES256", "ES512", "RS256", "PS256"})
REFETCH_COOLDOWN_SECONDS = 10.0
FETCH_TIMEOUT_SECONDS = 3.0
MAX_KEY_SET_BYTES = 256 * 1024


def fetch_url(url: str) -> bytes:
    """GET the key set, bounded in time and size whatever the server does."""
    deadline = monotonic() + FETCH_TIMEOUT_SECONDS
    request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310
    with urllib.request.urlopen(request, timeout=FETCH_TIMEOUT_SECONDS) as response:  # noqa: S310
        chunks: list[bytes] = []
        size = 0
        while chunk := response.read1(16384):
            size += len(chunk)
            if size > MAX_KEY_SET_BYTES or monotonic() > deadline:
                raise TimeoutError("key set too large or too slow")
            chunks.append(chunk)
    return b"".join(chunks)


def parse_keys(document: bytes | str) -> dict[str, PyJWK]:
    """The usable asymmetric keys by `kid`; symmetric and unknown keys are left out."""
    data = parsing.loads(document)
    keys: dict[str, PyJWK] = {}
    for entry in data.get("keys", []) if isinstance(data, dict) else []:
        key = usable_key(entry)
        if key is not None:
            keys[entry["kid"]] = key
    return keys


def usable_key(entry: Any) -> PyJWK | None:
    if not isinstance(entry, dict) or not isinstance(entry.get("kid"), str):
        return None
    if entry.get("use", "sig") != "sig":
        return None
    try:
        key = PyJWK(entry)
    except PyJWKError:
        return None
    return key if key.algorithm_name in ASYMMETRIC_ALGORITHMS else None


class KeySet:
    """Keys from an inline document and/or a URL; one fetch at a time, at most one per cooldown.

    Inline keys stay valid whatever the URL serves: the operator configured them.
    """

    def __init__(self, url: str | None, inline: str | None = None):
        self.url = url
        self.inline: dict[str, PyJWK] = parse_keys(inline) if inline else {}
        self.keys = dict(self.inline)
        self.loaded = inline is not None
        self.last_fetch = float("-inf")
        self.last_fetch_failed = False
        self.lock = threading.Lock()

    def would_fetch(self, kid: str) -> bool:
        """Whether `key(kid)` may block on the network."""
        return self.url is not None and kid not in self.keys and self.cooldown_over()

    def cooldown_over(self) -> bool:
        return monotonic() - self.last_fetch >= REFETCH_COOLDOWN_SECONDS

    def key(self, kid: str) -> PyJWK | None:
        if kid not in self.keys and self.url is not None:
            with self.lock:
                if kid not in self.keys and self.cooldown_over():
                    self.refresh(self.url)
        if kid not in self.keys and (self.last_fetch_failed or not self.loaded):
            raise AuthUnavailable()  # the key may exist: only the key set can say
        return self.keys.get(kid)

    def refresh(self, url: str) -> None:
        self.last_fetch = monotonic()
        try:
            keys = parse_keys(fetch_url(url))
        except (OSError, ValueError):
            self.last_fetch_failed = True
            return
        self.keys = {**keys, **self.inline}
        self.loaded = True
        self.last_fetch_failed = False
