"""What docs/uninstalling.md promises about the Makefile, run for real on a scratch copy:
`make clean` removes build and test leftovers and never the data; `make delete-local-data`
deletes the data only after a typed "yes" (or CONFIRM=yes)."""

from __future__ import annotations

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
