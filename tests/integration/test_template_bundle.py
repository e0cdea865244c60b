"""The Lambda bundle: built from pyproject.toml's runtime dependencies only (boto3 left to the
runtime), and the handlers need nothing outside it."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]

# What a deployed function can import: the bundle (regflow + its runtime dependencies, with
# their own dependencies) and the Lambda Python runtime (the standard library and boto3).
BUNDLE = {"regflow", "email_validator", "dns", "idna"}
BOTO3 = """
import boto3, botocore.config, botocore.exceptions
boto3.session.Session().client("dynamodb", region_name="us-east-1")
"""


def build_bundle() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_bundle", ROOT / "deploy/build_bundle.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bundle_requirements_come_from_pyproject_without_boto3() -> None:
    bundle = build_bundle()
    pyproject = ROOT / "pyproject.toml"
    plain = bundle.runtime_requirements(pyproject, with_boto3=False)
    full = bundle.runtime_requirements(pyproject, with_boto3=True)
    assert any(r.startswith("email-validator") for r in plain)
    assert not any(r.startswith(("boto3", "botocore")) for r in plain)
    assert any(r.startswith("boto3") for r in full)
    assert set(plain) < set(full)


def imported_by(code: str) -> set[str]:
    """Top-level modules a fresh interpreter has imported after running `code`."""
    code += "\nimport json, sys\nprint(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "AWS_DEFAULT_REGION": "us-east-1"},
    )
    return set(json.loads(result.stdout))


def test_handlers_import_only_the_bundle_and_the_runtime() -> None:
    """Import the handlers and the AWS wiring in a fresh interpreter, build each function's
    objects (clients are lazy: no AWS call), load what rendering a message loads, and list
    what got imported."""
    code = """
from regflow.handlers import register, confirm, mail_sender, recovery
from regflow import aws, compose
import regflow.emails
from regflow.config import Settings
import regflow.adapters.dynamodb, regflow.adapters.ses
env = {"SENDER_EMAIL": "a@example.com", "OWNER_EMAIL": "b@example.com",
       "API_BASE_URL": "https://d.example/", "SUCCESS_URL": "https://d.example/ok.html",
       "TOKEN_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:1:secret:x"}
settings = Settings.from_env(env)
for role in (aws.Role.REGISTER, aws.Role.CONFIRM):
    compose.aws_api(settings, aws.AwsClients(), role)
compose.aws_delivery(settings, aws.AwsClients())
"""
    imported = imported_by(code)
    runtime = imported_by(BOTO3)  # boto3 and whatever it pulls in: the Lambda runtime's
    allowed = set(sys.stdlib_module_names) | BUNDLE | runtime
    outside = {m for m in imported if m not in allowed and not m.startswith("_")}
    assert outside == set(), "the handlers import modules the Lambda bundle does not contain"
    assert "regflow" in imported


def test_the_site_templates_folder_is_never_empty(tmp_path: Path) -> None:
    """A zip holds files only: an empty `site-templates/` would be missing on Lambda, and
    every function would refuse to start (TEMPLATES_DIR names it)."""

    spec = importlib.util.spec_from_file_location("build_bundle", ROOT / "deploy/build_bundle.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.add_site_templates(tmp_path, None)
    assert [p.name for p in (tmp_path / "site-templates").iterdir()] == ["README.txt"]
