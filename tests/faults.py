"""A TCP proxy between the app and PostgreSQL that fails on demand: the outage tests' database."""

import contextlib
import socket
import struct
import threading
from collections.abc import Callable
from typing import Literal

Mode = Literal["forward", "blackhole", "slow", "cut"]
READY_FOR_QUERY = b"Z\x00\x00\x00\x05"  # the end of every answer: the statement has committed
REQUEST_TYPES = (b"P", b"Q")  # Parse (extended protocol) or Query (simple): a statement is sent


class Link:
    """One client connection and its upstream; either side may be cut off."""

    def __init__(self, client: socket.socket, server: socket.socket) -> None:
        self.client, self.server = client, server
        self.cut = False

    def reset(self) -> None:
        """Drop both sides at once, the client's with a TCP reset."""
        with contextlib.suppress(OSError):  # already closed
            self.client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close()

    def close(self) -> None:
        for side in (self.client, self.server):
            shut(side)


class FaultProxy:
    """Listens on 127.0.0.1 and forwards to `connect_upstream`, unless told to fail.

    forward: a plain proxy. refuse: nothing listens, open links are reset. blackhole:
    accepts and forwards nothing, either way. slow: each answer chunk waits `delay`.
    cut: the next `cuts` statements reach the server, then the client is reset once the
    server's answer is complete (so a write has committed) and before it is delivered.
    """

    def __init__(self, connect_upstream: Callable[[], socket.socket]) -> None:
        self.connect_upstream = connect_upstream
        self.mode: Mode = "forward"
        self.delay = 0.0
        self.cuts = 0
        self.links: list[Link] = []
        self.threads: list[threading.Thread] = []
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.listener: socket.socket | None = None
        self.port = 0
        self.listen()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def listen(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.listener, self.port = listener, listener.getsockname()[1]
        self.spawn(self.accept, listener)

    def spawn(self, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self.threads.append(thread)
        thread.start()

    def accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # closed: refused from now on
            link = Link(client, self.connect_upstream())
            with self.lock:
                self.links.append(link)
            self.spawn(self.requests, link)
            self.spawn(self.answers, link)

    def requests(self, link: Link) -> None:
        while data := receive(link.client):
            if self.mode == "blackhole":
                continue
            if self.mode == "cut" and data.startswith(REQUEST_TYPES) and self.take_cut():
                link.cut = True
            if not send(link.server, data):
                break
        link.close()

    def answers(self, link: Link) -> None:
        answer = b""
        while data := receive(link.server):
            if link.cut:
                answer += data
                if READY_FOR_QUERY in answer:
                    link.reset()
                    return
                continue
            if self.mode == "blackhole":
                continue
            if self.mode == "slow" and self.stopped.wait(self.delay):
                break
            if not send(link.client, data):
                break
        link.close()

    def take_cut(self) -> bool:
        with self.lock:
            self.cuts -= 1
            return self.cuts >= 0

    def set(self, mode: Mode, *, delay: float = 0.0, cuts: int = 0) -> None:
        self.mode, self.delay, self.cuts = mode, delay, cuts
        if self.listener is None:
            self.listen()

    def refuse(self) -> None:
        """The database is gone: new connections are refused, open ones reset."""
        if self.listener is not None:
            shut(self.listener)
            self.listener = None
        self.reset_links()

    def reset_links(self) -> None:
        with self.lock:
            links, self.links = self.links, []
        for link in links:
            link.reset()

    def stop(self) -> None:
        self.stopped.set()
        self.refuse()
        for thread in self.threads:
            thread.join(timeout=10)
        assert not any(thread.is_alive() for thread in self.threads), "a proxy thread hangs"


def shut(side: socket.socket) -> None:
    """Close a socket and wake any thread blocked on it (a bare close does not)."""
    with contextlib.suppress(OSError):
        side.shutdown(socket.SHUT_RDWR)
    side.close()


def receive(side: socket.socket) -> bytes:
    try:
        return side.recv(65536)
    except OSError:
        return b""


def send(side: socket.socket, data: bytes) -> bool:
    try:
        side.sendall(data)
    except OSError:
        return False
    return True
