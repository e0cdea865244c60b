"""Only what pyproject.toml cannot say: the wheel carries the repository's `web/` (the pages and
their assets, which stay at the root for the S3 bucket and `make run`) as the package data
`regflow/web`. Every piece of metadata and configuration is in pyproject.toml."""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

WEB = Path(__file__).resolve().parent / "web"


class BuildPyWithWeb(build_py):  # type: ignore[misc]
    """`build_py`, then `web/` copied into the built package as `regflow/web`."""

    def run(self) -> None:
        super().run()
        if self.editable_mode:  # a checkout serves its own web/ (regflow.setup.paths)
            return
        if not (WEB / "index.html").is_file():
            raise SystemExit(f"setup.py: {WEB} holds no index.html: the wheel needs the pages")
        target = Path(self.build_lib) / "regflow" / "web"
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(WEB, target)


setup(cmdclass={"build_py": BuildPyWithWeb})
