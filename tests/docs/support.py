"""Reading the docs site's Markdown for the tests that keep it true: tables under a heading,
fenced code blocks, and the variables the settings code reads."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
SRC = ROOT / "src" / "regflow"


def page(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


def pages() -> list[Path]:
    return sorted(DOCS.glob("*.md"))


def section(markdown: str, heading: str) -> str:
    """The text under `heading` (a whole heading line, e.g. '## Both') up to the next heading
    of the same or a higher level."""
    level = len(heading) - len(heading.lstrip("#"))
    lines = markdown.splitlines()
    try:
        start = lines.index(heading)
    except ValueError:
        raise AssertionError(f"no heading {heading!r}") from None
    out = []
    for line in lines[start + 1 :]:
        match = re.match(r"^(#+) ", line)
        if match and len(match.group(1)) <= level:
            break
        out.append(line)
    return "\n".join(out)


def table_rows(text: str) -> list[list[str]]:
    """The body rows of every Markdown table in `text` (header rows left out), cells stripped;
    an escaped `\\|` stays inside its cell."""
    separator = re.compile(r"^\|[\s:|-]+\|$")
    lines = text.splitlines()
    rows = []
    for i, line in enumerate(lines):
        if not line.startswith("|") or separator.match(line):
            continue
        if i + 1 < len(lines) and separator.match(lines[i + 1]):
            continue  # a header row
        rows.append([c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]])
    return rows


def code_names(cell: str) -> list[str]:
    """The `NAME`s in a table cell (the first column may hold more than one)."""
    return re.findall(r"`([^`]+)`", cell)


@dataclass(frozen=True)
class Block:
    path: Path
    line: int
    lang: str
    text: str
    marked_run: bool  # preceded by <!-- docs-test: run -->

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def code_blocks(path: Path) -> Iterator[Block]:
    lines = path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        match = re.match(r"^(\s*)```(\w*)", lines[i])
        if not match:
            i += 1
            continue
        indent, lang = match.group(1), match.group(2)
        start = i
        body = []
        i += 1
        while i < len(lines) and not lines[i].strip().startswith("```"):
            body.append(lines[i][len(indent) :])
            i += 1
        previous = next((ln.strip() for ln in reversed(lines[:start]) if ln.strip()), "")
        yield Block(path, start + 1, lang, "\n".join(body), previous == "<!-- docs-test: run -->")
        i += 1


def commands(block: Block) -> Iterator[str]:
    """The shell commands of a block: comments dropped, `\\` continuations joined, heredoc
    bodies skipped."""
    lines = block.text.splitlines()
    i = 0
    pending = ""
    while i < len(lines):
        line = lines[i]
        i += 1
        heredoc = re.search(r"<<-?'?(\w+)'?", line)
        if heredoc:
            end = heredoc.group(1)
            while i < len(lines) and lines[i].strip() != end:
                i += 1
            i += 1
        stripped = re.sub(r"\s+#\s.*$", "", line).rstrip()
        if stripped.startswith("#") or not stripped:
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        yield pending + stripped
        pending = ""


# Deploy tooling: what it reads are deploy variables (docs/aws.md), checked on their own.
# The other modules of ops/ are operator commands (`regflow suppression`, `export`, ...): what
# they read (`DATABASE_URL`) are settings of docs/configuration.md like any module's.
DEPLOY_TOOLING = ("ops/deploy.py", "publish.py")


def env_vars_read(*, deploy: bool = False) -> dict[str, set[str]]:
    """Every environment variable the code reads, by file (relative to src/regflow): string
    constants passed as the first argument to a `_Reader` method, `.get(...)`, `.optional(...)`
    or `.required(...)`, or used as a subscript (`environ["X"]`). Every module but the deploy
    tooling; with `deploy`, only the deploy tooling."""
    files = sorted(
        str(path.relative_to(SRC))
        for path in SRC.rglob("*.py")
        if str(path.relative_to(SRC)).startswith(DEPLOY_TOOLING) == deploy
    )
    found: dict[str, set[str]] = {}
    for name in files:
        tree = ast.parse((SRC / name).read_text(encoding="utf-8"))
        names: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and node.args:
                first = node.args[0]
                func = node.func
                if (
                    isinstance(first, ast.Constant)
                    and isinstance(first.value, str)
                    and re.fullmatch(r"[A-Z][A-Z0-9_]+", first.value)
                    and isinstance(func, ast.Attribute)
                    and (
                        (isinstance(func.value, ast.Name) and func.value.id == "reader")
                        or func.attr == "get"
                        or func.attr in ("optional", "required")
                    )
                ):
                    names.add(first.value)
            if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
                value = node.slice.value
                if isinstance(value, str) and re.fullmatch(r"[A-Z][A-Z0-9_]+", value):
                    names.add(value)
        if names:
            found[name] = names
    return found
