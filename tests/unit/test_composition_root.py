"""One composition root: the services are constructed in `regflow.compose` and nowhere else in
`src/`, so both runtimes (and the operator's commands) get them wired one way."""

from __future__ import annotations

import ast
from pathlib import Path

import regflow

SRC = Path(regflow.__file__).parent
SERVICES = {"IntakeService", "DeliveryService", "HttpApi", "FeedbackService", "OutboxWorker"}


def constructed(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return {
        node.func.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    } & SERVICES


def test_services_are_built_only_in_the_composition_root() -> None:
    found = {
        str(path.relative_to(SRC)): sorted(names)
        for path in sorted(SRC.rglob("*.py"))
        if path.name != "compose.py" and (names := constructed(path))
    }
    assert not found, f"services built outside regflow/compose.py: {found}"
    assert constructed(SRC / "compose.py") == SERVICES  # the scan sees real constructions
