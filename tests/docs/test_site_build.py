"""The docs site builds with `mkdocs build --strict` (a broken link or anchor, a page missing
from the nav, a snippet file that does not exist: each fails), and the HTTP API page shows
every operation and status of the OpenAPI document."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.docs.support import DOCS, ROOT, SRC

MKDOCS = Path(sys.executable).parent / "mkdocs"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not MKDOCS.exists() and shutil.which("mkdocs") is None:
        pytest.fail("mkdocs is not installed: pip install -e '.[dev]' (the docs extra)")
    out = tmp_path_factory.mktemp("site")
    done = subprocess.run(
        [str(MKDOCS if MKDOCS.exists() else "mkdocs"), "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"mkdocs build --strict failed:\n{done.stderr}"
    return out


def test_every_page_is_in_the_nav_and_built(site: Path) -> None:
    config = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    in_nav = set(re.findall(r"^\s*-\s[^#\n]*:\s(\S+\.md)\s*$", config, flags=re.M))
    on_disk = {p.name for p in DOCS.glob("*.md")}
    assert on_disk <= in_nav, f"pages missing from mkdocs.yml's nav: {sorted(on_disk - in_nav)}"
    for name in on_disk:
        built = site / ("index.html" if name == "index.md" else f"{name[:-3]}/index.html")
        assert built.is_file(), name


def test_the_api_page_shows_every_operation_and_status(site: Path) -> None:
    html = (site / "api" / "index.html").read_text(encoding="utf-8")
    doc = yaml.safe_load((SRC / "openapi.yaml").read_text(encoding="utf-8"))
    for path, item in doc["paths"].items():
        for method, op in item.items():
            assert f"{method.upper()} {path}" in html, f"{method.upper()} {path} not on the page"
            for status in op["responses"]:
                assert f"<code>{status}</code>" in html, f"{method} {path} {status}"
    assert "<!-- openapi -->" not in html


def test_the_performance_page_is_the_latest_bench(site: Path) -> None:
    html = (site / "performance" / "index.html").read_text(encoding="utf-8")
    latest = (ROOT / "bench" / "results" / "latest.md").read_text(encoding="utf-8")
    first = re.search(r"Measured by .*? on (\S+ \S+ UTC)", latest)
    assert first is not None
    assert first.group(1) in html


def test_the_readme_links_only_to_pages_that_exist() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    links = re.findall(r"\]\((docs/[^)#]+)", readme)
    assert links
    missing = [link for link in links if not (ROOT / link).exists()]
    assert not missing, f"README.md links to {missing}"
