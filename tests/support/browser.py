"""Headless Chromium for the end-to-end tests (Debian's `chromium`, driven by Playwright).

Playwright's own browser downloads are never used: `executable_path` points at the system
Chromium (`/usr/bin/chromium`, or `REGFLOW_CHROMIUM`). Pages are watched for console errors,
uncaught exceptions and Content-Security-Policy violations.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
)

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "e2e"

# Runs in every document before its own scripts: reports CSP violations to the test through a
# binding (a CDP binding, which the page's CSP does not govern).
CSP_WATCH_SCRIPT = """
document.addEventListener("securitypolicyviolation", function (e) {
  window.__regflowCspViolation(e.violatedDirective + " blocked " + e.blockedURI);
});
"""


def chromium_path() -> Path:
    return Path(os.environ.get("REGFLOW_CHROMIUM", "/usr/bin/chromium"))


def launch(playwright: Any) -> Any:
    """A headless system Chromium (a playwright `Browser`)."""
    return playwright.chromium.launch(
        executable_path=str(chromium_path()), headless=True, args=list(CHROMIUM_ARGS)
    )


@dataclass
class PageProblems:
    """Console errors, uncaught page errors and CSP violations seen in one browser context."""

    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    csp_violations: list[str] = field(default_factory=list)

    def watch(self, context: Any) -> None:
        """Watch every page of a playwright `BrowserContext` (call before opening pages)."""
        context.expose_function("__regflowCspViolation", self._on_csp_violation)
        context.add_init_script(CSP_WATCH_SCRIPT)
        context.on("console", self._on_console)
        context.on("weberror", lambda err: self.page_errors.append(str(err.error)))

    def _on_csp_violation(self, description: str) -> None:
        self.csp_violations.append(description)

    def _on_console(self, message: Any) -> None:
        if message.type in ("error", "assert"):
            self.console_errors.append(f"{message.text} @ {message.location.get('url', '')}")
        elif "Content Security Policy" in message.text:
            self.csp_violations.append(message.text)

    def all(self) -> list[str]:
        return [*self.console_errors, *self.page_errors, *self.csp_violations]


def screenshot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
