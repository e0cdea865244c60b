"""The systemd unit shipped for the embedded server (deploy/regflow.service, docs/production.md)
passes `systemd-analyze verify`. The unit runs /opt/regflow/bin/regflow; verify checks that the
binary exists, so the copy under test points at this environment's `regflow` instead (the only
change)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.docs.support import ROOT

UNIT = ROOT / "deploy" / "regflow.service"
INSTALLED = "/opt/regflow/bin/regflow"


def test_the_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        if os.environ.get("CI"):
            pytest.fail("systemd-analyze is missing in CI: .ci/run installs Debian's systemd")
        pytest.skip("systemd-analyze is not installed (Debian: apt-get install systemd)")
    text = UNIT.read_text(encoding="utf-8")
    assert f"ExecStart={INSTALLED} serve" in text
    regflow = Path(sys.executable).parent / "regflow"
    assert regflow.exists()
    unit = tmp_path / "regflow.service"
    unit.write_text(text.replace(INSTALLED, str(regflow)), encoding="utf-8")
    done = subprocess.run(
        [analyze, "verify", "--man=no", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, f"systemd-analyze verify: {done.stderr}{done.stdout}"
    assert "regflow.service" not in done.stderr, done.stderr  # warnings name the unit too


def test_the_unit_keeps_what_the_production_page_promises() -> None:
    text = UNIT.read_text(encoding="utf-8")
    for line in (
        "User=regflow",
        "StateDirectory=regflow",
        "StateDirectoryMode=0700",
        "Environment=REGFLOW_DATA_DIR=/var/lib/regflow",
        "EnvironmentFile=/etc/regflow.env",
        "Restart=on-failure",
        "UMask=0077",
    ):
        assert line in text.splitlines(), f"deploy/regflow.service lost {line!r}"
