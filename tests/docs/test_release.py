"""The release agrees with itself: the version in regflow/__init__.py (the one place it is
written) is the changelog's newest entry, and every version the install lines and the command
line page name; the changelog names the upgrade steps of each release."""

from __future__ import annotations

import re

import regflow
from tests.docs.support import ROOT, page

CHANGELOG = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
RELEASE = re.compile(r"^## (\d+\.\d+\.\d+) - (Unreleased|\d{4}-\d{2}-\d{2})$", re.M)


def test_the_changelog_starts_with_this_version() -> None:
    releases = RELEASE.findall(CHANGELOG)
    assert releases, "CHANGELOG.md has no '## X.Y.Z - date' entry"
    assert releases[0][0] == regflow.__version__
    assert "0.1.0" in [version for version, _ in releases]


def test_every_release_after_the_first_names_its_upgrade_steps() -> None:
    entries = RELEASE.split(CHANGELOG)[1:]
    for version, _, body in zip(entries[::3], entries[1::3], entries[2::3], strict=True):
        if version != "0.1.0":
            assert "### Upgrade steps" in body, f"CHANGELOG.md {version}: no upgrade steps"


def test_the_install_lines_name_this_version() -> None:
    for name in ("production.md", "getting-started.md"):
        text = page(name)
        wheels = set(re.findall(r"regflow-(\d+\.\d+\.\d+)-py3-none-any\.whl", text))
        tags = set(re.findall(r"@v(\d+\.\d+\.\d+)", text))
        assert wheels == {regflow.__version__}, f"docs/{name} names the wheel of {wheels}"
        assert tags == {regflow.__version__}, f"docs/{name} names the tag of {tags}"
    assert f"`regflow {regflow.__version__}`" in page("cli.md")


def test_the_stacks_version_output_is_this_version() -> None:
    from tests.support.aws import load_template

    assert load_template()["Outputs"]["Version"]["Value"] == regflow.__version__
