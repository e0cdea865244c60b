"""The local mailbox holds live verification links: it is served only on loopback addresses."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.testclient import TestClient

from regflow.local.server import EmbeddedApp, ServeOptions, is_loopback


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.0.2.10", False),
        ("example.com", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


@pytest.mark.parametrize(("host", "served"), [("127.0.0.1", True), ("0.0.0.0", False)])
def test_mailbox_is_served_only_on_loopback(tmp_path: Path, host: str, served: bool) -> None:
    app = EmbeddedApp(ServeOptions(host=host, port=8000, data_dir=tmp_path / "data"), env={})
    try:
        with TestClient(app.app, base_url="http://127.0.0.1:8000") as client:
            response = client.post(
                "/register",
                json={"name": "Jane", "email": "jane@example.com"},
                headers={"accept": "application/json"},
            )
            assert response.status_code == 202
            app.worker.run_once()  # deliver into the mailbox
            assert len(list((tmp_path / "data" / "mailbox").glob("*.eml"))) == 1
            listing = client.get("/_mailbox")
            assert (listing.status_code == 200) is served
            assert ("Please verify your email address" in listing.text) is served
    finally:
        app.close()
