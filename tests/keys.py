"""Asymmetric test keys as JWKs, and a small key set server on 127.0.0.1."""

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm, RSAPSSAlgorithm


@dataclass
class Key:
    """A private key, its `kid`, its algorithm, and its public JWK."""

    kid: str
    algorithm: str
    private: Any

    @property
    def public_jwk(self) -> dict[str, Any]:
        codec: Any = {
            "EdDSA": OKPAlgorithm,
            "ES256": ECAlgorithm,
            "ES512": ECAlgorithm,
            "RS256": RSAAlgorithm,
            "PS256": RSAPSSAlgorithm,
        }[self.algorithm]
        jwk: dict[str, Any] = json.loads(codec.to_jwk(self.private.public_key()))
        return {**jwk, "kid": self.kid, "alg": self.algorithm}

    def sign(self, claims: dict[str, Any], **header: Any) -> str:
        return jwt.encode(
            claims, self.private, algorithm=self.algorithm, headers={"kid": self.kid, **header}
        )


def new_key(algorithm: str, kid: str | None = None) -> Key:
    private: Any
    if algorithm == "EdDSA":
        private = ed25519.Ed25519PrivateKey.generate()
    elif algorithm == "ES256":
        private = ec.generate_private_key(ec.SECP256R1())
    elif algorithm == "ES512":
        private = ec.generate_private_key(ec.SECP521R1())
    else:
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return Key(kid or f"{algorithm.lower()}-key", algorithm, private)


def key_set(*keys: Key) -> str:
    return json.dumps({"keys": [key.public_jwk for key in keys]})


HOLD_BOUND_SECONDS = 10.0


@dataclass
class KeySetServer:
    """Serves a key set document it can change, counting requests and answers.

    It can fail (`status`), hold its answer until `release` is set or `ready()` is true
    (bounded: a test that goes wrong is slow, never stuck), and call `midway` between the
    two halves of the body it sends.
    """

    document: str = '{"keys": []}'
    status: int = 200
    requests: int = 0
    accept: list[str | None] = field(default_factory=list)  # each request's Accept header
    answered: int = 0
    url: str = ""
    hold: bool = False
    release: threading.Event = field(default_factory=threading.Event)
    ready: Callable[[], bool] | None = None
    midway: Callable[[], None] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def wait_until_released(self) -> None:
        deadline = time.monotonic() + HOLD_BOUND_SECONDS
        while time.monotonic() < deadline and not self.release.is_set():
            if self.ready is not None and self.ready():
                return
            self.release.wait(0.01)


@contextmanager
def serve_key_set(document: str = '{"keys": []}') -> Iterator[KeySetServer]:
    state = KeySetServer(document)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            with state.lock:
                state.requests += 1
                state.accept.append(self.headers.get("Accept"))
            if state.hold or state.ready is not None:
                state.wait_until_released()
            body = state.document.encode()
            try:
                self.send_response(state.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                if state.midway is not None:
                    state.midway()
                self.wfile.write(body[len(body) // 2 :])
            except OSError:
                return  # the client gave up: as it should have
            with state.lock:
                state.answered += 1

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.release.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
