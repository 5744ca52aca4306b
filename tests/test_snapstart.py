"""SnapStart hooks: warm before the snapshot without connecting; after a restore, share nothing."""

import random
import sys
from pathlib import Path
from types import ModuleType

import pytest
import yaml  # type: ignore[import-untyped]  # PyYAML comes with cfn-lint
from sqlalchemy import Engine
from sqlalchemy.pool import QueuePool

from backend import auth, config, db, main, snapstart
from backend.lazy_routes import LazyRoute
from backend.main import create_app
from tests.conftest import Env

Hooks = list[tuple[str, snapstart.Hook]]


def pool_of(engine: Engine) -> QueuePool:
    assert isinstance(engine.pool, QueuePool)
    return engine.pool


@pytest.fixture
def runtime(monkeypatch: pytest.MonkeyPatch) -> Hooks:
    """Lambda's `snapshot_restore_py`, recording what is registered, in order."""
    registered: Hooks = []
    module = ModuleType("snapshot_restore_py")
    module.register_before_snapshot = lambda hook: registered.append(("before", hook))  # type: ignore[attr-defined]
    module.register_after_restore = lambda hook: registered.append(("after", hook))  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", module)
    return registered


def test_register_does_nothing_without_the_snapstart_runtime(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", None)  # import raises ImportError

    assert snapstart.register() is False


def test_register_hands_both_hooks_to_the_runtime(runtime: Hooks) -> None:
    assert snapstart.register() is True

    assert runtime == [("before", snapstart.before_snapshot), ("after", snapstart.after_restore)]


def test_before_snapshot_warms_the_app_and_opens_no_connection(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = create_app()  # its routes not built yet: no request has reached them
    monkeypatch.setattr(main, "app", app)

    snapstart.before_snapshot()

    assert app.middleware_stack is not None
    lazy = [route for route in app.routes if isinstance(route, LazyRoute)]
    assert len(lazy) > 30
    assert all(route.deferred is None for route in lazy)
    assert db.get_engine.value is None
    assert config.get_settings.value is None


def test_no_connection_or_cached_secret_outlives_a_restore(env: Env, runtime: Hooks) -> None:
    snapstart.register()
    engine = db.get_engine()
    with engine.connect() as connection:
        raw = connection.connection.dbapi_connection
    settings, verifier = config.get_settings(), auth.get_verifier()
    assert raw is not None
    assert not raw.closed
    assert pool_of(engine).checkedin() == 1
    random.seed(0)
    seeded = random.getstate()

    for _, hook in runtime:  # before-snapshot, then after-restore
        hook()

    assert raw.closed
    assert pool_of(engine).checkedin() == 0
    caches = (db.get_engine, config.get_settings, auth.get_verifier)
    assert [cache.value for cache in caches] == [None, None, None]
    assert db.get_engine() is not engine
    assert config.get_settings() is not settings
    assert auth.get_verifier() is not verifier
    assert random.getstate() != seeded


def test_both_deploy_files_turn_snapstart_on_for_every_function() -> None:
    root = Path(__file__).resolve().parent.parent
    template = yaml.load((root / "template.yaml").read_text(), Loader=CloudFormationLoader)
    framework = yaml.safe_load((root / "serverless.yml").read_text())

    functions = template["Globals"]["Function"]
    assert functions["SnapStart"] == {"ApplyOn": "PublishedVersions"}
    assert functions["AutoPublishAlias"]  # SnapStart applies to versions: events call the alias
    assert {name: f.get("snapStart") for name, f in framework["functions"].items()} == {
        "api": True,
        "purge": True,
    }


class CloudFormationLoader(yaml.SafeLoader):  # type: ignore[misc]
    """PyYAML's safe loader, reading CloudFormation's short tags (`!Ref`, `!If`) as plain data."""


CloudFormationLoader.add_multi_constructor(
    "!",
    lambda loader, _suffix, node: (
        loader.construct_sequence(node)
        if isinstance(node, yaml.SequenceNode)
        else loader.construct_scalar(node)
        if isinstance(node, yaml.ScalarNode)
        else loader.construct_mapping(node)
    ),
)
