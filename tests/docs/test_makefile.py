"""What docs/uninstalling.md promises about the Makefile, run for real on a scratch copy:
`make clean` removes build and test leftovers and never the data; `make delete-local-data`
deletes the data only after a typed "yes" (or CONFIRM=yes)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.docs.support import ROOT

DATA = (".regflow", ".regflow-pg")
LEFTOVERS = ("build", "test-artifacts", ".pytest_cache", ".mypy_cache", ".aws-sam")


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    for name in (*DATA, *LEFTOVERS):
        (tmp_path / name).mkdir()
        (tmp_path / name / "file").write_text("x")
    return tmp_path


def make(checkout: Path, *args: str, answer: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "--no-print-directory", *args],
        cwd=checkout,
        input=answer,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_make_clean_removes_leftovers_and_keeps_the_data(checkout: Path) -> None:
    assert make(checkout, "clean").returncode == 0
    assert not [name for name in LEFTOVERS if (checkout / name).exists()]
    assert all((checkout / name / "file").exists() for name in DATA)


@pytest.mark.parametrize("answer", ["", "no\n", "YES please\n"])
def test_delete_local_data_deletes_nothing_without_yes(checkout: Path, answer: str) -> None:
    done = make(checkout, "delete-local-data", answer=answer)
    assert done.returncode != 0
    assert "nothing deleted" in done.stdout
    assert all((checkout / name / "file").exists() for name in DATA)


@pytest.mark.parametrize(("args", "answer"), [((), "yes\n"), (("CONFIRM=yes",), "")])
def test_delete_local_data_deletes_the_data_after_yes(
    checkout: Path, args: tuple[str, ...], answer: str
) -> None:
    assert make(checkout, "delete-local-data", *args, answer=answer).returncode == 0
    assert not [name for name in DATA if (checkout / name).exists()]


# --- make run-postgres ------------------------------------------------------------------------


def target_block(target: str) -> str:
    """The recipe of `target` in the Makefile, with its prerequisites line."""
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    match = re.search(rf"^{re.escape(target)}:.*\n(?:\t.*\n)*", text, flags=re.M)
    assert match, f"no target {target}"
    return match.group(0)


def test_run_postgres_installs_only_the_runtime_and_its_extras() -> None:
    assert "$(VENV)/.postgres-installed" in target_block("run-postgres").splitlines()[0]
    install = target_block("$(VENV)/.postgres-installed")
    assert "-e '.[local,postgres]'" in install and "dev" not in install


def test_run_postgres_ports_collide_with_nothing_else_the_makefile_serves() -> None:
    script = (ROOT / "tools" / "run-postgres.sh").read_text(encoding="utf-8")
    defaults = dict(re.findall(r"^(PGPORT|PORT1|PORT2)=\$\{\w+:-(\d+)\}$", script, flags=re.M))
    assert set(defaults) == {"PGPORT", "PORT1", "PORT2"}
    served = {"8000"}  # `make run`: regflow serve's default port
    served |= set(re.findall(r"--dev-addr 127\.0\.0\.1:(\d+)", target_block("docs")))
    assert served == {"8000", "8001"}
    assert len(set(defaults.values())) == 3
    assert not set(defaults.values()) & served


def test_run_postgres_keeps_roots_cluster_where_postgres_can_reach_it(checkout: Path) -> None:
    """As root, PostgreSQL runs as `postgres`, which cannot enter a checkout under a private
    home: the cluster is under /var/tmp, and `make delete-local-data` deletes it there too."""
    (checkout / "tools").mkdir()
    shutil.copy(ROOT / "tools" / "run-postgres.sh", checkout / "tools" / "run-postgres.sh")
    where = subprocess.run(
        ["tools/run-postgres.sh", "--cluster-dir"],
        cwd=checkout,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if os.geteuid() != 0:
        assert where == str(checkout / ".regflow-pg")
        return
    assert where.startswith("/var/tmp/regflow-pg-")
    Path(where).mkdir()
    (Path(where) / "PG_VERSION").write_text("15")
    assert make(checkout, "delete-local-data", "CONFIRM=yes").returncode == 0
    assert not Path(where).exists()


def test_ci_checks_the_release_artifacts_before_the_suite_and_the_image_after() -> None:
    lines = [
        line.strip()
        for line in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
        if line.strip().startswith(("make ", "timeout "))
    ]
    runs = [line.split("make ", 1)[1] for line in lines if "make " in line]
    assert runs.index("smoke-wheel") < runs.index("test") < runs.index("test-container")
    assert "apt-get install -y -qq podman buildah mmdebstrap runc" in (
        ROOT / ".ci" / "run"
    ).read_text(encoding="utf-8")
