"""`regflow export` of 100,000 registrations streams (issue 12): a child process exports them
from a real SQLite file while its peak resident memory (VmHWM) is measured; the same
child then holds them in a list (what an export that builds a copy would do), to show that the
bound tells the two apart. `--since` returns exactly the newer half."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from regflow.adapters.sql.dialect import SQLITE
from regflow.adapters.sqlite import SQLiteStore

N = 100_000
T0 = datetime(2026, 11, 1, tzinfo=UTC)
BOUND_MB = 20  # growth of the peak RSS the export may cause (a copy: about 50 MB)

CHILD = r"""
import json, resource, sys
from regflow.cli import main
from regflow.adapters.sqlite import SQLiteStore
from regflow.domain import Status

data_dir, out_csv, out_since, since = sys.argv[1:5]
def peak_mb():
    # VmHWM: this program's peak RSS (ru_maxrss would include the forking parent's peak)
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
store = SQLiteStore(data_dir + "/regflow.db")  # imports and caches warm, as for the export
next(store.registrations_since(Status.CONFIRMED), None)
store.close()
base = peak_mb()
code = main(["export", "--data-dir", data_dir, "--output", out_csv])
exported = peak_mb()
code2 = main(["export", "--data-dir", data_dir, "--format", "ndjson", "--since", since,
              "--output", out_since])
store = SQLiteStore(data_dir + "/regflow.db")
copy = list(store.registrations_since(Status.CONFIRMED))  # the control: an in-memory copy
copied = peak_mb()
print(json.dumps({"codes": [code, code2], "base": base, "export": exported - base,
                  "copy": copied - base, "copied": len(copy)}))
"""


def bulk_insert(path: Path) -> None:
    """N confirmed registrations, confirmed a second apart from T0 on, written straight into
    the file `regflow serve` would make (times formatted as the store formats them)."""
    SQLiteStore(path).close()  # the schema, as `regflow serve` makes it
    start = int(T0.timestamp())
    assert SQLITE.moment(T0) == "2026-11-01T00:00:00.000000+00:00"

    def at(epoch: int) -> str:
        return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.000000+00:00")

    db = sqlite3.connect(path)
    try:
        with db:
            db.executemany(
                "INSERT INTO registrations (id, addr_key, name, email, status, timestamp, ttl,"
                " confirmed_at, language) VALUES (?, ?, ?, ?, 'CONFIRMED', ?, NULL, ?, 'en')",
                (
                    (
                        f"id{i:07d}" + "x" * 13,
                        f"{i:032x}",
                        f"User Number {i}",
                        f"user{i}@example.com",
                        at(start + i - 300),
                        at(start + i),
                    )
                    for i in range(N)
                ),
            )
    finally:
        db.close()


def test_export_of_100k_registrations_has_bounded_memory_and_exact_since(
    tmp_path: Path,
) -> None:
    bulk_insert(tmp_path / "regflow.db")
    since = T0 + timedelta(seconds=N // 2)
    out_csv, out_since = tmp_path / "all.csv", tmp_path / "since.ndjson"
    child = subprocess.run(
        [
            sys.executable,
            "-c",
            CHILD,
            str(tmp_path),
            str(out_csv),
            str(out_since),
            since.isoformat(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    measured = json.loads(child.stdout.splitlines()[-1])
    print(f"peak RSS growth: export {measured['export']:.1f} MB, copy {measured['copy']:.1f} MB")
    assert measured["codes"] == [0, 0]
    assert measured["copied"] == N
    assert measured["export"] < BOUND_MB < measured["copy"], measured

    with out_csv.open(encoding="utf-8") as f:
        assert sum(1 for _ in f) == N + 1  # header + every registration
    with out_since.open(encoding="utf-8") as f:
        first = json.loads(f.readline())
        rest = sum(1 for _ in f)
    assert first["id"] == f"id{N // 2:07d}" + "x" * 13  # inclusive: the one at `since`
    assert first["confirmed_at"] == since.isoformat()
    assert 1 + rest == N - N // 2  # exactly the newer half
