"""Build the Lambda bundle (build/lambda) from pyproject.toml, runtime dependencies only.

    python deploy/build_bundle.py [--out build/lambda] [--python-version 3.13] [--with-boto3]
                                  [--templates-dir DIR] [--wheel dist/regflow-<v>-py3-none-any.whl]

pyproject.toml stays the single source of metadata: the regflow wheel is built from it (or
`--wheel` names the one `make build` made: the release's artifact), and its
`[project].dependencies` are installed for the Lambda platform (manylinux2014_aarch64, CPython
3.13, binary wheels only, so the build machine's own platform never leaks in).

boto3 (and with it botocore, s3transfer, jmespath, urllib3, python-dateutil) is left out by
default: every Lambda Python runtime ships it, and bundling it adds ~20 MB unpacked, slowing
deploys and cold starts for no gain. Every call regflow makes (DynamoDB, SES v2, Secrets
Manager) is years older than the runtime's boto3. `--with-boto3` bundles it to pin the version.

The site's own words and templates (`--templates-dir`, default `TEMPLATES_DIR`: a folder with
`catalog/<lang>.json` and `templates/...`, see docs/getting-started.md) are copied to
`site-templates/` in the bundle, where the functions' `TEMPLATES_DIR` points; without one that
folder is empty.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROVIDED_BY_RUNTIME = {"boto3", "botocore"}


def runtime_requirements(pyproject: Path, *, with_boto3: bool) -> list[str]:
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    requirements = []
    for spec in project.get("dependencies", []):
        match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", spec)
        assert match, f"unreadable requirement {spec!r}"
        name = re.sub(r"[._-]+", "-", match.group(1)).lower()  # PEP 503 normalized
        if with_boto3 or name not in PROVIDED_BY_RUNTIME:
            requirements.append(spec)
    return requirements


def pip(*args: str) -> None:
    command = [sys.executable, "-m", "pip", "--disable-pip-version-check", *args]
    subprocess.run(command, check=True)  # noqa: S603 (our own interpreter, our own arguments)


SITE_TEMPLATES = "site-templates"  # TEMPLATES_DIR=/var/task/site-templates in template.yaml


def add_site_templates(out: Path, source: Path | None) -> None:
    """Copy the owner's overrides into the bundle (checked first: a bad catalog fails here,
    at deploy time, not at the first mail)."""
    target = out / SITE_TEMPLATES
    target.mkdir(parents=True, exist_ok=True)
    # the zip holds files only: without one, the folder (TEMPLATES_DIR of the functions) would
    # be missing on Lambda and every function would refuse to start
    (target / "README.txt").write_text(
        "The site's own words and templates (TEMPLATES_DIR), bundled by deploy/build_bundle.py.\n",
        encoding="utf-8",
    )
    if source is None:
        return
    if not source.is_dir():
        raise SystemExit(f"TEMPLATES_DIR {source} is not a folder")
    sys.path.insert(0, str(ROOT / "src"))
    from regflow.render.catalog import Catalog

    Catalog(source).keys()  # raises CatalogError naming the file and key
    for part in ("catalog", "templates"):
        if (source / part).is_dir():
            shutil.copytree(source / part, target / part)


def build(
    out: Path,
    python_version: str,
    *,
    with_boto3: bool,
    templates_dir: Path | None = None,
    wheel: Path | None = None,
) -> None:
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    platform = [
        "--platform", "manylinux2014_aarch64",
        "--implementation", "cp",
        "--python-version", python_version,
        "--only-binary=:all:",
    ]  # fmt: skip
    with tempfile.TemporaryDirectory() as wheels:
        if wheel is None:  # the same wheel `make build` makes, built here from the checkout
            pip("wheel", "--quiet", "--no-deps", "--wheel-dir", wheels, str(ROOT))
            (wheel,) = Path(wheels).glob("regflow-*.whl")
        pip("install", "--quiet", "--target", str(out), "--no-deps", str(wheel))
        shutil.rmtree(out / "bin", ignore_errors=True)  # console scripts: not for Lambda
        # the pages the wheel carries for `regflow serve`: on AWS they are served from S3
        shutil.rmtree(out / "regflow" / "web", ignore_errors=True)
        requirements = runtime_requirements(ROOT / "pyproject.toml", with_boto3=with_boto3)
        if requirements:
            pip("install", "--quiet", "--target", str(out), *platform, *requirements)
    for junk in [*out.glob("*.dist-info"), *out.rglob("__pycache__"), out / "bin"]:
        if junk.is_dir():
            shutil.rmtree(junk)
    add_site_templates(out, templates_dir)
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    print(f"bundle: {out} ({size / 1e6:.1f} MB unpacked)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "lambda")
    parser.add_argument("--python-version", default="3.13")
    parser.add_argument("--with-boto3", action="store_true")
    parser.add_argument(
        "--wheel",
        type=Path,
        default=None,
        help="a regflow wheel already built (make build: dist/regflow-<version>-py3-none-any.whl)",
    )
    default_templates = os.environ.get("TEMPLATES_DIR") or None
    parser.add_argument(
        "--templates-dir", type=Path, default=Path(default_templates) if default_templates else None
    )
    args = parser.parse_args()
    build(
        args.out,
        args.python_version,
        with_boto3=args.with_boto3,
        templates_dir=args.templates_dir,
        wheel=args.wheel,
    )


if __name__ == "__main__":
    main()
