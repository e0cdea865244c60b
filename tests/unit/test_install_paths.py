"""Where an installed regflow keeps its data and finds its pages (regflow.setup.paths), its
version, and `regflow init` (the starter configuration of one box)."""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path

import pytest

import regflow
from regflow import cli
from regflow.local.app import locate_web_dir
from regflow.setup import init, paths

ROOT = Path(__file__).resolve().parents[2]


def test_a_checkout_is_recognised_and_keeps_its_own_data_directory() -> None:
    assert paths.checkout_root() == ROOT
    assert paths.default_data_dir({}) == ROOT / ".regflow"


@pytest.fixture
def installed(monkeypatch: pytest.MonkeyPatch) -> None:
    """As if imported from site-packages, not from a checkout."""
    monkeypatch.setattr(paths, "checkout_root", lambda: None)


@pytest.mark.usefixtures("installed")
def test_installed_the_data_directory_is_the_xdg_one(monkeypatch: pytest.MonkeyPatch) -> None:
    assert paths.default_data_dir({"XDG_DATA_HOME": "/srv/xdg"}) == Path("/srv/xdg/regflow")
    monkeypatch.setenv("HOME", "/home/jane")
    home = Path("/home/jane/.local/share/regflow")
    assert paths.default_data_dir({}) == home
    assert paths.default_data_dir({"XDG_DATA_HOME": ""}) == home
    # the specification: a relative XDG_DATA_HOME is invalid and ignored (never the cwd)
    assert paths.default_data_dir({"XDG_DATA_HOME": "relative/dir"}) == home
    assert paths.data_dir({"REGFLOW_DATA_DIR": "/var/lib/regflow"}) == Path("/var/lib/regflow")


@pytest.mark.usefixtures("installed")
def test_installed_the_commands_default_to_the_xdg_data_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REGFLOW_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.chdir(tmp_path)
    for argv in (["serve"], ["list"], ["migrate"], ["stats"]):
        args = cli.build_parser().parse_args(argv)
        assert args.data_dir == tmp_path / "xdg" / "regflow", argv
    monkeypatch.setenv("REGFLOW_DATA_DIR", str(tmp_path / "named"))
    assert cli.build_parser().parse_args(["list"]).data_dir == tmp_path / "named"


def test_the_pages_come_from_the_package_when_it_carries_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert locate_web_dir() == ROOT / "web"  # a checkout: its own web/
    package = tmp_path / "regflow"
    (package / "web").mkdir(parents=True)
    (package / "web" / "index.html").write_text("<form>")
    monkeypatch.setattr(paths, "PACKAGE", package)
    monkeypatch.setattr(paths, "checkout_root", lambda: None)
    assert locate_web_dir() == package / "web"
    assert locate_web_dir(tmp_path / "own") == tmp_path / "own"
    (package / "web" / "index.html").unlink()
    assert locate_web_dir() is None  # never ./web of the current directory


def test_version_is_one_value(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        cli.main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"regflow {regflow.__version__}"
    from importlib.metadata import version

    assert version("regflow") == regflow.__version__  # the metadata reads the same value


def test_init_writes_the_box_configuration_with_the_key_0600(tmp_path: Path) -> None:
    old = os.umask(0)  # whatever the umask: the modes are exact
    try:
        out = io.StringIO()
        assert cli.main(["init", str(tmp_path / "etc")], out=out) == 0
    finally:
        os.umask(old)
    env, unit = tmp_path / "etc" / "regflow.env", tmp_path / "etc" / "regflow.service"
    assert stat.S_IMODE(env.stat().st_mode) == 0o600
    assert stat.S_IMODE(unit.stat().st_mode) == 0o644
    assert f"written: {env}" in out.getvalue()
    lines = dict(
        line.split("=", 1) for line in env.read_text().splitlines() if line and line[0] != "#"
    )
    assert len(bytes.fromhex(lines["TOKEN_SECRET"])) >= 32
    from regflow.local.server import embedded_settings

    settings = embedded_settings("127.0.0.1", 8000, lines)  # valid as written, as serve reads it
    assert settings.token_secret == lines["TOKEN_SECRET"].encode()
    text = unit.read_text()
    assert f"EnvironmentFile={env}" in text.splitlines()
    assert f"ExecStart={init.executable()} serve" in text.splitlines()


def test_init_never_overwrites_a_file(tmp_path: Path) -> None:
    target = tmp_path / "etc"
    assert cli.main(["init", str(target)], out=io.StringIO()) == 0
    key = (target / "regflow.env").read_text()
    (target / "regflow.service").write_text("my own unit\n")
    (target / "regflow.env").chmod(0o640)
    out = io.StringIO()
    assert cli.main(["init", str(target)], out=out) == 0
    assert (target / "regflow.env").read_text() == key  # the key is kept
    assert (target / "regflow.service").read_text() == "my own unit\n"
    assert out.getvalue().count("kept:") == 2
    (target / "regflow.service").unlink()
    out = io.StringIO()
    assert cli.main(["init", str(target)], out=out) == 0  # a deleted file comes back alone
    assert f"written: {target / 'regflow.service'}" in out.getvalue()
    assert (target / "regflow.env").read_text() == key


def test_init_into_an_unwritable_place_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "file").write_text("x")
    assert cli.main(["init", str(tmp_path / "file" / "etc")], out=io.StringIO()) == 2
    err = capsys.readouterr().err
    assert err.startswith("regflow init: cannot create") and err.count("\n") == 1


def test_the_repository_unit_is_the_one_init_writes() -> None:
    """deploy/regflow.service is init's unit with the paths the production page uses."""
    shipped = (ROOT / "deploy" / "regflow.service").read_text()
    written = init.unit_text(
        executable="/opt/regflow/bin/regflow",
        environment_file="/etc/regflow.env",
        unit_file="regflow.service",
    )
    assert shipped[shipped.index("[Unit]") :] == written[written.index("[Unit]") :]
