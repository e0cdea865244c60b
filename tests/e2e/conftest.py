"""Fixtures for the browser tests: one headless Chromium per session, a fresh context per test,
and `regflow serve` running as a subprocess (the way a user starts it)."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.browser import ARTIFACTS, PageProblems, chromium_path, launch, screenshot
from tests.support.server import RunningServer, regflow_server


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not chromium_path().exists():
        message = f"no Chromium at {chromium_path()} (apt-get install chromium)"
        if os.environ.get("CI"):  # CI installs it (.ci/run): a missing browser is a failure
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    shutil.rmtree(ARTIFACTS, ignore_errors=True)  # screenshots of this run only
    with sync_playwright() as p:
        chromium = launch(p)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """The default configuration (CONFIRM_MODE=link), plus one blocked domain."""
    data_dir = tmp_path_factory.mktemp("serve-link") / "data"
    with regflow_server(data_dir, {"BLOCKED_EMAIL_DOMAINS": "blocked.example"}) as running:
        yield running


class Visit:
    """One browser context for one test: its page, the problems seen, named screenshots."""

    def __init__(self, context: Any, test_name: str, label: str = "") -> None:
        self.context = context
        self.problems = PageProblems()
        self.problems.watch(context)
        self.page = context.new_page()
        self._prefix = re.sub(r"[^A-Za-z0-9_.-]+", "-", test_name).strip("-") + (
            f"-{label}" if label else ""
        )
        self._step = 0

    def shot(self, step: str) -> Path:
        self._step += 1
        return screenshot(self.page, f"{self._prefix}-{self._step:02d}-{step}")

    def assert_clean(self) -> None:
        """No console errors, uncaught exceptions or CSP violations so far."""
        assert self.problems.all() == [], self.problems.all()


OpenVisit = Callable[..., Visit]


@pytest.fixture
def open_visit(browser: Any, request: pytest.FixtureRequest) -> Iterator[OpenVisit]:
    """`open_visit(base_url, **context_options)` -> Visit; every context is closed afterwards."""
    contexts: list[Any] = []

    def factory(base_url: str, label: str = "", **options: Any) -> Visit:
        context = browser.new_context(base_url=base_url, **options)
        contexts.append(context)
        context.set_default_timeout(10_000)
        return Visit(context, request.node.name, label)

    yield factory
    for context in contexts:
        context.close()


@pytest.fixture
def visit(open_visit: Any, server: RunningServer) -> Visit:
    """A fresh context on the default server."""
    result: Visit = open_visit(server.base_url)
    return result
