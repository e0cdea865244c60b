"""Where regflow keeps its data and finds its pages, installed or run from a checkout.

- Data: `REGFLOW_DATA_DIR` (or `--data-dir`) when set. Otherwise, run from a checkout (the
  package is imported from `<checkout>/src/regflow`: an editable install, `make run`), the
  checkout's own `.regflow`; installed from the wheel, the per-user data directory of the XDG
  base directory specification: `$XDG_DATA_HOME/regflow`, else `~/.local/share/regflow`. Never
  the current directory.
- Pages: `REGFLOW_WEB_DIR` (or `--web-dir`) when set; else the pages the wheel carries
  (`regflow/web`, mapped from the repository's `web/` at build time), else the checkout's
  `web/`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]  # .../regflow


def checkout_root() -> Path | None:
    """The checkout this package is imported from (`<root>/src/regflow`), or None when it is
    installed (site-packages)."""
    root = PACKAGE.parents[1]
    if PACKAGE.parent.name == "src" and (root / "pyproject.toml").is_file():
        return root
    return None


def default_data_dir(env: Mapping[str, str] | None = None) -> Path:
    """The data directory when neither `--data-dir` nor `REGFLOW_DATA_DIR` names one."""
    env = os.environ if env is None else env
    root = checkout_root()
    if root is not None:
        return root / ".regflow"
    base = (env.get("XDG_DATA_HOME") or "").strip()
    # the XDG specification: a relative XDG_DATA_HOME is invalid and is ignored
    if not base or not os.path.isabs(base):
        base = os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "regflow"


def data_dir(env: Mapping[str, str] | None = None) -> Path:
    """`REGFLOW_DATA_DIR`, else `default_data_dir()`."""
    env = os.environ if env is None else env
    named = (env.get("REGFLOW_DATA_DIR") or "").strip()
    return Path(named) if named else default_data_dir(env)


def packaged_web_dir() -> Path | None:
    """The pages: the wheel's `regflow/web`, else the checkout's `web/`."""
    candidates = [PACKAGE / "web"]
    root = checkout_root()
    if root is not None:
        candidates.append(root / "web")
    for candidate in candidates:
        if (candidate / "index.html").is_file():
            return candidate
    return None
