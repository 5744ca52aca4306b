"""`Once`: what an instance keeps (the settings, the engine, the verifier) is built by one
thread, however many requests arrive together on a cold instance."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from backend import db
from backend.main import create_app
from backend.once import Once
from tests.conftest import Env

Headers = dict[str, str]


class Build:
    """A build that holds every caller until released, counting the callers."""

    def __init__(self) -> None:
        self.calls = 0
        self.entered = threading.Event()
        self.release = threading.Event()
        self.lock = threading.Lock()

    def __call__(self) -> object:
        with self.lock:
            self.calls += 1
        self.entered.set()
        assert self.release.wait(10), "never released"
        return object()


def test_callers_arriving_during_the_first_build_wait_for_it_and_share_its_value() -> None:
    build = Build()
    once = Once(build)
    values: list[object] = []
    first = threading.Thread(target=lambda: values.append(once()))
    first.start()
    assert build.entered.wait(10)

    others = [threading.Thread(target=lambda: values.append(once())) for _ in range(4)]
    for thread in others:
        thread.start()
    for thread in others:
        thread.join(0.2)  # time to call build a second time, were they let in
    build.release.set()
    for thread in [first, *others]:
        thread.join(10)

    assert build.calls == 1
    assert len(values) == 5
    assert all(value is values[0] for value in values)


def test_forget_hands_back_the_value_and_the_next_call_builds_anew() -> None:
    once = Once(object)
    built = once()

    assert once() is built
    assert once.forget() is built
    assert once.forget() is None
    assert once() is not built


def test_concurrent_first_requests_build_one_engine(
    env: Env, auth_headers: Headers, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[Engine] = []
    engine_for = db.engine_for

    def counted(*args: Any, **kwargs: Any) -> Engine:
        time.sleep(0.1)  # a build that takes a while lets every request arrive during it
        engine = engine_for(*args, **kwargs)
        built.append(engine)
        return engine

    monkeypatch.setattr(db, "engine_for", counted)
    client = TestClient(create_app())

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(
            pool.map(
                lambda _: client.get("/api/tasks", headers=auth_headers).status_code, range(16)
            )
        )

    assert statuses == [200] * 16
    assert built == [db.get_engine()]
