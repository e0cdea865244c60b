"""The Containerfile keeps what docs/production.md promises: built from the wheel, a non-root
user, the data directory a volume, a health check, and only documented settings. (It is built
and run for real by `make test-container`, which CI runs after the suite.)"""

from __future__ import annotations

import re

from tests.docs.support import ROOT, page
from tests.docs.test_reference import documented_settings

TEXT = (ROOT / "Containerfile").read_text(encoding="utf-8")


def instructions(name: str) -> list[str]:
    joined = re.sub(r"\\\n\s*", " ", TEXT)
    return [line[len(name) + 1 :] for line in joined.splitlines() if line.startswith(name + " ")]


def test_built_from_the_wheel_as_a_non_root_user_with_a_volume_and_a_health_check() -> None:
    assert any("regflow-*-py3-none-any.whl" in run for run in instructions("RUN"))
    assert instructions("USER") == ["regflow:regflow"]
    assert instructions("VOLUME") == ['["/var/lib/regflow"]']
    (check,) = instructions("HEALTHCHECK")
    assert "/_health" in check
    assert instructions("ENTRYPOINT") == ['["regflow"]']


def test_the_image_is_configured_by_documented_settings_only() -> None:
    (env,) = instructions("ENV")
    names = set(re.findall(r"(\w+)=", env)) - {"PATH", "PYTHONUNBUFFERED"}
    documented = documented_settings()["embedded"] | documented_settings()["both"]
    assert names == {"REGFLOW_DATA_DIR", "HOST", "PORT"}
    assert names <= documented
    assert "-v regflow-data:/var/lib/regflow" in page("production.md")
