"""The docs' shell snippets, run: every `regflow ...` line parses with the real parser, the
ones that work offline run against a scratch data directory, every JMESPath `--query`
compiles (and selects what the page says from a table-shaped sample), blocks marked
`<!-- docs-test: run -->` run in bash, and the "your own words" example loads and renders."""

from __future__ import annotations

import io
import os
import re
import shlex
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import jmespath
import pytest

from regflow import cli
from tests.docs.support import ROOT, Block, code_blocks, commands, pages

SHELL = {"sh", "bash", "shell", "console"}
BLOCKS = [
    b for path in [*pages(), ROOT / "README.md"] for b in code_blocks(path) if b.lang in SHELL
]
# commands that need no network, no AWS and no server process: run for real (unless given
# `--stack`: then they read an AWS stack's table, and are only parsed)
OFFLINE = {"list", "export", "stats", "retry-dead", "delete", "migrate"}


def regflow_lines() -> list[tuple[Block, list[str]]]:
    out = []
    for block in BLOCKS:
        for command in commands(block):
            words = shlex.split(command)
            while words and re.fullmatch(r"[A-Z_]+=.*", words[0]):
                words = words[1:]  # VAR=value prefixes
            if words and Path(words[0]).name == "regflow":
                out.append((block, words[1:]))
    return out


def test_the_docs_have_regflow_commands_to_check() -> None:
    assert len(regflow_lines()) >= 10


@pytest.mark.parametrize(
    ("block", "argv"), regflow_lines(), ids=lambda v: v.where if isinstance(v, Block) else None
)
def test_every_regflow_command_parses(block: Block, argv: list[str]) -> None:
    try:
        cli.build_parser().parse_args(argv)
    except SystemExit as done:
        if argv == ["--version"] and done.code == 0:
            return
        pytest.fail(f"{block.where}: `regflow {' '.join(argv)}` is refused by the parser")


@pytest.fixture
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory with a migrated `.regflow` holding one pending registration."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    # the docs' commands name no data directory: a checkout's default is its own .regflow, so
    # the scratch one is named (as `make run` names the checkout's)
    monkeypatch.setenv("REGFLOW_DATA_DIR", str(tmp_path / ".regflow"))
    (tmp_path / ".regflow").mkdir(mode=0o700)  # `regflow serve` makes it; migrate does not
    assert cli.main(["migrate"], out=io.StringIO()) == 0
    from regflow.adapters.sqlite import SQLiteStore  # the embedded default store
    from regflow.config import Rules
    from regflow.intake import IntakeService
    from regflow.tokens import TokenSigner

    store = SQLiteStore(tmp_path / ".regflow" / "regflow.db")
    try:
        IntakeService(store=store, rules=Rules(), signer=TokenSigner(b"k" * 32)).register(
            "Jane", "jane@example.com", client_key="198.51.100.7"
        )
    finally:
        store.close()
    (tmp_path / ".regflow" / "secret.key").write_bytes(os.urandom(32))
    os.chmod(tmp_path / ".regflow" / "secret.key", 0o600)
    return tmp_path


def test_the_offline_commands_run(scratch: Path) -> None:
    ran = 0
    for block, argv in regflow_lines():
        if not argv or argv[0] not in OFFLINE or any("postgresql://" in a for a in argv):
            continue
        if any(a == "--stack" or a.startswith("--stack=") for a in argv):
            continue  # AWS: needs credentials and a deployed stack
        out = io.StringIO()
        code = cli.main(argv, out=out)
        assert code == 0, f"{block.where}: `regflow {' '.join(argv)}` exited {code}"
        ran += 1
    assert ran >= 8


def jmespath_queries() -> list[tuple[Block, str]]:
    out = []
    for block in BLOCKS:
        for command in commands(block):
            words = shlex.split(command)
            if words[:1] == ["aws"] and "--query" in words:
                out.append((block, words[words.index("--query") + 1]))
    return out


def test_every_jmespath_query_compiles() -> None:
    queries = jmespath_queries()
    assert len(queries) >= 3
    for block, query in queries:
        try:
            # compiled, then run: an unknown function (DynamoDB's begins_with is JMESPath's
            # starts_with) fails only when it is called
            jmespath.search(query, SAMPLE)
        except jmespath.exceptions.JMESPathError as exc:
            pytest.fail(f"{block.where}: --query {query!r} is no JMESPath expression: {exc}")


SAMPLE = {
    "Items": [
        {"pk": {"S": "REG#1"}, "status": {"S": "PENDING"}, "name": {"S": "Jane"}},
        {
            "pk": {"S": "REG#2"},
            "status": {"S": "CONFIRMED"},
            "name": {"S": "Max"},
            "confirmedAt": {"S": "2026-11-29T12:00:00Z"},
        },
        {"pk": {"S": "LIMIT#IP#198.51.100.7"}},
    ]
}


def test_the_scan_queries_select_what_the_checklist_says() -> None:
    """The 'Try it' queries against items shaped like the table's (DynamoDB JSON)."""
    found = {q: jmespath.search(q, SAMPLE) for _, q in jmespath_queries() if "Items" in q}
    pending = next(v for q, v in found.items() if "REG#" in q)
    assert [i["pk"]["S"] for i in pending] == ["REG#1", "REG#2"]
    confirmed = next(v for q, v in found.items() if "CONFIRMED" in q)
    assert confirmed == [["Max", "2026-11-29T12:00:00Z"]]


MARKED = [b for b in BLOCKS if b.marked_run]


@pytest.mark.parametrize("block", MARKED, ids=lambda b: b.where)
def test_marked_blocks_run(block: Block, scratch: Path) -> None:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", block.text],
        cwd=scratch,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, f"{block.where} failed:\n{done.stderr}"


def test_the_backup_block_makes_a_usable_copy(scratch: Path) -> None:
    (block,) = [b for b in MARKED if "backup" in b.text]
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    subprocess.run(["bash", "-euo", "pipefail", "-c", block.text], cwd=scratch, env=env, check=True)
    backup = scratch / "backup"
    assert (backup / "secret.key").read_bytes() == (
        scratch / ".regflow" / "secret.key"
    ).read_bytes()
    out = io.StringIO()
    assert cli.main(["list", "--data-dir", str(backup)], out=out) == 0
    assert "1 registration" in out.getvalue()


def test_the_own_words_example_loads_and_renders(tmp_path: Path) -> None:
    (block,) = [b for b in BLOCKS if "site/catalog" in b.text]
    script = "\n".join(line for line in block.text.splitlines() if "make run" not in line)
    subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path, check=True)
    from regflow.render.catalog import Catalog
    from regflow.render.templates import Renderer

    site = tmp_path / "site"
    renderer = Renderer(Catalog(site, "en"), site)
    mail = renderer.mail(
        "verification",
        "de",
        name="Jane",
        link="https://example.com/confirm?token=t",
        expires_at=datetime(2026, 11, 30, tzinfo=UTC),
        hours=24,
        site="Club",
    )
    assert mail.subject == "Welcome to the Club, Jane"
    assert "https://example.com/confirm?token=t" in mail.text
