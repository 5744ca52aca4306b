"""Instructions per warm invocation, counted by valgrind: the app's CPU cost without the noise.

`data_path.py` times each operation against raw psycopg; on a shared machine those times,
and their ratios, move with the load by a third from one run to the next. This counts
instead the instructions this process runs per call (valgrind's callgrind: the same count
for the same work, whatever else the machine does), for the same three sides: the app
through the Lambda entry, the operation's natural statement by raw psycopg plus
`json.dumps`, and the app's own SQL sent the same way. The database's work runs in its own
processes and is not counted, nor is any wait: what is counted is the function's own CPU
time, which Lambda bills.

The script runs itself under valgrind (`--inside`). Each measured block is bracketed by
calls to `os.getppid()`, at which callgrind writes what it counted since the last one
(`--dump-before=os_getppid`); the outer process reads those files in order. Run it from
the repository's root: `python -m bench.instructions` (bench/README.md).
"""

import argparse
import functools
import gc
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg
from psycopg.rows import dict_row

from backend import local
from bench import data_path

MARKER = "os_getppid"
"""CPython's C function behind `os.getppid()`: nothing else in the measured code calls it."""
WARM_UP = 5
SIDES = ("app", "floor", "same")
ROW = "{:32} {:>11} {:>9} {:>10} {:>9} {:>10}"
COLUMNS = ("app", "floor", "app/floor", "same", "app/same")


def mark() -> None:
    """Callgrind writes out what it counted since the last mark."""
    os.getppid()


def inside(calls: int, prepared: bool, labels: Path) -> None:
    """Under valgrind: each operation's three sides, each warmed up, then `calls` of it
    between two marks; `labels` receives what each measured block was."""
    # One token per user for the whole run, verified once in a warm-up: `data_path` mints one
    # per second, and a new one verified inside a block would count once, there alone.
    local.mint_token = functools.cache(local.mint_token)
    measured: list[tuple[str, str]] = []
    with data_path.seeded_database(pool_size=4 + 3 * (WARM_UP + calls)) as (url, ids):
        data_path.app_environment(url, prepared=prepared)
        ops, probed_ids, probes = data_path.probed_operations(ids)
        options = data_path.raw_preparing()
        with psycopg.connect(url, autocommit=True, row_factory=dict_row, **options) as conn:
            for op, probed, (sql, params, _) in zip(ops, probed_ids, probes, strict=True):
                sides = data_path.sides(conn, op, ids, WARM_UP + calls, sql, params, probed[-1])
                for side, call in zip(SIDES, sides, strict=True):
                    for _ in range(WARM_UP):
                        call()
                    gc.collect()  # each block starts from the same collector state
                    mark()
                    for _ in range(calls):
                        call()
                    mark()
                    measured.append((op.label, side))
    labels.write_text(json.dumps(measured))


def totals(folder: Path) -> list[int]:
    """The instructions of each of callgrind's dumps, in the order they were written."""
    counts = []
    for number in range(1, len(list(folder.glob("callgrind.out.*"))) + 1):
        lines = (folder / f"callgrind.out.{number}").read_text().splitlines()
        counts.append(int(next(line for line in lines if line.startswith("totals:")).split()[1]))
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20, help="measured calls per side (20)")
    parser.add_argument("--prepared", action="store_true", help="as data_path.py --prepared")
    parser.add_argument("--inside", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inside:
        inside(args.calls, args.prepared, args.inside)
        return
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        sys.exit("valgrind is not installed (Debian: apt-get install valgrind)")
    with tempfile.TemporaryDirectory(prefix="bench-instructions-") as folder:
        labels = Path(folder) / "labels.json"
        command = [
            valgrind,
            "--tool=callgrind",
            f"--dump-before={MARKER}",
            f"--callgrind-out-file={folder}/callgrind.out",
            sys.executable,
            "-m",
            "bench.instructions",
            "--inside",
            str(labels),
            "--calls",
            str(args.calls),
            *(["--prepared"] if args.prepared else []),
        ]
        # The same hashes in every run: dicts and sets then do the same work.
        env = {**os.environ, "PYTHONHASHSEED": "0"}
        done = subprocess.run(
            command, check=False, env=env, cwd=data_path.ROOT, capture_output=True, text=True
        )
        if done.returncode:  # its own error, without valgrind's lines (`==pid== ...`)
            said = [line for line in done.stderr.splitlines() if not line.startswith("==")]
            sys.exit("the run under valgrind failed:\n" + "\n".join(said[-40:]))
        measured = json.loads(labels.read_text())
        counts = totals(Path(folder))
    if len(counts) != 2 * len(measured):  # the marker not found: a Python without symbols
        sys.exit(f"callgrind wrote {len(counts)} dumps at {2 * len(measured)} marks ({MARKER})")
    per_call: dict[str, dict[str, float]] = {}
    for (label, side), count in zip(measured, counts[1::2], strict=True):
        per_call.setdefault(label, {})[side] = count / args.calls
    mode = "prepared" if args.prepared else "unprepared"
    print(f"Instructions per warm call in this process, {args.calls} calls a side, {mode}")
    print("(the database's own work is in its processes, not counted; thousands)")
    print(ROW.format("operation", *COLUMNS))
    for label, side in per_call.items():
        app, floor, same = (side[name] / 1000 for name in SIDES)
        figures = (f"{app:,.0f}", f"{floor:,.0f}", f"{app / floor:.1f}x", f"{same:,.0f}")
        print(ROW.format(label, *figures, f"{app / same:.1f}x"))


if __name__ == "__main__":
    main()
