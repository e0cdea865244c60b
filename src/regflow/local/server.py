"""`regflow serve`: the whole pipeline on one machine.

uvicorn serves the local gateway (the Lambda handlers' own HTTP code), SQLite stores the state,
and a background worker drains the outbox to SMTP (`SMTP_URL`) or to the local mailbox. The
services are built by `regflow.compose.embedded`; this module keeps the process: the data
directory and its key, the socket, signals, the banner.
"""

from __future__ import annotations

import errno
import ipaddress
import logging
import os
import signal
import socket
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from urllib.parse import urlsplit

from regflow import __version__, compose, logs
from regflow.config import EMBEDDED_DEFAULTS, Settings
from regflow.domain import ConfigError
from regflow.local.app import GatewayConfig, create_app, locate_openapi, locate_web_dir
from regflow.local.stores import DB_FILE, StoreOpenError, describe
from regflow.render.catalog import CatalogError
from regflow.setup.paths import data_dir as data_dir_default
from regflow.tokens import MIN_SECRET_BYTES, generate_secret

log = logging.getLogger("regflow.server")

SECRET_FILE = "secret.key"  # noqa: S105 (a file name, not a secret)
MAILBOX_DIR = "mailbox"


class StartupError(Exception):
    """A problem the person starting the server can fix; printed as one line, exit code 2."""


@dataclass(frozen=True)
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 8000
    # REGFLOW_DATA_DIR, else the per-user (or the checkout's) data directory: regflow.setup.paths
    data_dir: Path = field(default_factory=lambda: data_dir_default())
    web_dir: Path | None = None


def is_loopback(host: str) -> bool:
    """True for an address only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def public_host(host: str) -> str:
    """The host to put in links: a wildcard bind address becomes loopback."""
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        return host
    if addr.is_unspecified:
        return "127.0.0.1" if addr.version == 4 else "[::1]"
    return f"[{host}]" if addr.version == 6 else host


def embedded_settings(host: str, port: int, env: Mapping[str, str] | None = None) -> Settings:
    base = f"http://{public_host(host)}:{port}"
    env = os.environ if env is None else env
    api_base = env.get("API_BASE_URL") or base
    defaults = {
        **EMBEDDED_DEFAULTS,
        "API_BASE_URL": base,
        "SUCCESS_URL": api_base.rstrip("/") + "/confirmed.html",
    }
    return Settings.from_env(env, defaults=defaults)


def prepare_data_dir(data_dir: Path) -> None:
    """The data directory, 0700, and everything in it 0600 (directories 0700; the key is
    checked, not changed), whatever the umask and whatever an older version left: it holds
    live tokens (the mailbox), the database and the key. The database file is made 0600
    before SQLite opens it, so the `-wal` and `-shm` files SQLite creates later get the same
    mode."""
    try:
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(data_dir, 0o700)
        for root, dirs, files in os.walk(data_dir):
            for name in dirs:
                os.chmod(os.path.join(root, name), 0o700, follow_symlinks=False)
            for name in files:
                path = os.path.join(root, name)
                # not the key: one others could read is refused (`load_secret`), not hidden
                if not os.path.islink(path) and path != str(data_dir / SECRET_FILE):
                    os.chmod(path, 0o600)
        os.close(os.open(data_dir / DB_FILE, os.O_WRONLY | os.O_CREAT, 0o600))
        (data_dir / MAILBOX_DIR).mkdir(mode=0o700, exist_ok=True)
        probe = data_dir / f".write-test-{os.getpid()}"
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT, 0o600))
        probe.unlink()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise StartupError(
            f"cannot write to the data directory {data_dir} (REGFLOW_DATA_DIR or --data-dir): "
            f"{reason}"
        ) from None


def load_secret(data_dir: Path) -> bytes:
    """The token secret from `<data dir>/secret.key`, created (mode 0600) on first start."""
    path = data_dir / SECRET_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        try:
            mode = path.stat().st_mode
            secret = bytes.fromhex(path.read_text().strip())
        except (OSError, ValueError) as exc:
            reason = getattr(exc, "strerror", None) or "not a hex key"
            raise StartupError(f"cannot read the secret key {path}: {reason}") from None
        if mode & 0o077:
            raise StartupError(
                f"the secret key {path} can be read by other users; run `chmod 600 {path}`, "
                "or delete it to make a new one (links sent so far stop working)"
            ) from None
        if len(secret) < MIN_SECRET_BYTES or len(set(secret)) == 1:
            raise StartupError(
                f"the secret key {path} is too weak (under {MIN_SECRET_BYTES} bytes, or one "
                "byte repeated); delete it to make a new one"
            ) from None
        return secret
    except OSError as exc:
        raise StartupError(f"cannot create the secret key {path}: {exc.strerror}") from None
    secret = generate_secret()
    with os.fdopen(fd, "w") as fh:
        fh.write(secret.hex() + "\n")
    return secret


def bind_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio turns TCP_NODELAY on only for sockets made with it, and
    # without it Nagle's algorithm holds each response body back ~40 ms behind its headers.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise StartupError(
                f"port {port} on {host} is already in use; stop the other server or pass --port"
            ) from None
        if exc.errno == errno.EACCES:
            raise StartupError(
                f"no permission to listen on {host}:{port}; try a port above 1024"
            ) from None
        # an address this machine does not have: named as the setting it came from
        raise StartupError(
            f"cannot listen on {host}:{port} (HOST or --host): {exc.strerror}"
        ) from None
    sock.set_inheritable(True)
    return sock


class EmbeddedApp:
    """Everything `serve` runs, built from options and the environment (testable in-process):
    the data directory and its key, the services (`regflow.compose.embedded`) and the local
    gateway in front of them."""

    def __init__(
        self, options: ServeOptions, env: Mapping[str, str] | None = None, *, poll: float = 0.5
    ) -> None:
        env = os.environ if env is None else env
        if options.web_dir is not None and not Path(options.web_dir).is_dir():
            raise StartupError(
                "REGFLOW_WEB_DIR (or --web-dir) must name an existing directory, got "
                f"{str(options.web_dir)!r}"
            )
        self.options = options
        self.settings = embedded_settings(options.host, options.port, env)
        prepare_data_dir(options.data_dir)
        secret = self.settings.token_secret or load_secret(options.data_dir)
        self.smtp_url = self.settings.embedded.smtp_url or ""
        # never the password
        self.database = describe(self.settings.embedded.database_url, options.data_dir)
        try:
            services = compose.embedded(
                self.settings,
                secret,
                data_dir=options.data_dir,
                mailbox_dir=options.data_dir / MAILBOX_DIR,
                poll=poll,
            )
        except StoreOpenError as exc:
            raise StartupError(str(exc)) from None
        self.services = services
        self.store = services.store
        self.mailbox = services.mailbox
        self.intake = services.intake
        self.delivery = services.delivery
        self.worker = services.worker
        self.web_dir = locate_web_dir(options.web_dir)
        self.mailbox_served = not self.smtp_url and is_loopback(options.host)
        # DNS rebinding: the mailbox answers only to this machine's own names for the server
        self.local_hosts = frozenset(
            {options.host.strip("[]").lower(), "localhost", "127.0.0.1", "::1"}
            | {urlsplit(self.settings.mail.api_base_url).hostname or "localhost"}
        )
        self.app = create_app(
            GatewayConfig(
                api=services.api,
                web_dir=self.web_dir,
                # The mailbox holds live verification links: it is served only to this
                # machine. On any other address the .eml files are still written, not served.
                mailbox=self.mailbox if self.mailbox_served else None,
                openapi_path=locate_openapi(),
                on_write=self.worker.wake,
                trusted_proxies=self.settings.http.trusted_proxies,
                local_hosts=self.local_hosts,
            )
        )

    def close(self) -> None:
        self.services.close()


def serve(options: ServeOptions, env: Mapping[str, str] | None = None) -> int:
    """Run until SIGINT/SIGTERM. Returns the exit code."""
    import uvicorn

    try:
        settings_env = os.environ if env is None else env
        level = (settings_env.get("LOG_LEVEL") or "INFO").strip().upper()
        # a bad LOG_LEVEL is named by the settings check just below, not by a traceback here
        logs.configure(level if level in ("DEBUG", "INFO", "WARNING", "ERROR") else "INFO")
        embedded = EmbeddedApp(options, env)
        sock = bind_socket(options.host, options.port)
    except (StartupError, ConfigError, CatalogError) as exc:
        # CatalogError: TEMPLATES_DIR holds a bad catalog (the message names file and key)
        print(f"regflow: {exc}", file=sys.stderr)
        return 2

    stop_signals: list[int] = []

    server: uvicorn.Server | None = None

    def on_signal(signum: int, frame: FrameType | None) -> None:
        # uvicorn handles the graceful stop and re-raises the signal afterwards: land here.
        # A signal before uvicorn took over its handlers (between the banner and the first
        # loop tick) must still stop the server: uvicorn checks `should_exit` when it starts.
        stop_signals.append(signum)
        if server is not None:
            server.should_exit = True

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)

    from regflow.local.protocol import KEEP_ALIVE_SECONDS, HardenedHttpToolsProtocol

    # uvicorn's own loggers (a malformed request, say) write JSON lines like regflow's
    logs.adopt("uvicorn")
    read_timeout = (env if env is not None else os.environ).get("READ_TIMEOUT_SECONDS", "")
    if read_timeout.strip():
        try:
            seconds = float(read_timeout)
        except ValueError:
            seconds = 0.0
        if not 0 < seconds <= 3600:
            print("regflow: READ_TIMEOUT_SECONDS must be 0-3600 seconds", file=sys.stderr)
            embedded.close()
            sock.close()
            return 2
        HardenedHttpToolsProtocol.header_timeout = HardenedHttpToolsProtocol.body_timeout = seconds
    config = uvicorn.Config(
        embedded.app,
        http=HardenedHttpToolsProtocol,
        log_config=None,
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=5,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        # the client address is the socket peer; `X-Forwarded-For` is believed only from
        # TRUSTED_PROXIES, by the gateway (uvicorn's own handling trusts any loopback peer)
        proxy_headers=False,
        server_header=False,
        date_header=True,
    )
    server = uvicorn.Server(config)
    if stop_signals:  # asked to stop while starting up
        server.should_exit = True
    base = f"http://{public_host(options.host)}:{options.port}"
    embedded.worker.start()
    if embedded.smtp_url:
        mail_line = f"  mail:      sent via SMTP ({_redact(embedded.smtp_url)})"
    elif embedded.mailbox_served:
        mail_line = f"  mailbox:   {base}/_mailbox"
    else:
        mail_line = (
            f"  mailbox:   files in {embedded.mailbox.directory} (not served: this address is "
            "reachable from other machines, and the mailbox holds live verification links)"
        )
    links = embedded.settings.mail.api_base_url
    if not is_loopback(options.host) and urlsplit(links).hostname in ("127.0.0.1", "::1"):
        # listening for other machines, but the links in mail would point at this one
        mail_line += (
            f"\n  WARNING:   links in mail point at {links}, which only this machine can open:"
            " set API_BASE_URL to the address visitors use (see docs/production.md)"
        )
    print(
        f"regflow {__version__} is serving on {base}\n"
        f"  sign up:   {base}/\n"
        f"{mail_line}\n"
        f"  data:      {options.data_dir.resolve()}\n"
        f"  database:  {embedded.database}\n"
        "Press Ctrl+C to stop.",
        file=sys.stderr,
        flush=True,
    )
    try:
        server.run(sockets=[sock])
    finally:
        embedded.close()
        sock.close()
    print("regflow: stopped", file=sys.stderr, flush=True)
    return 0


def _redact(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    host = parts.hostname or ""
    return f"{parts.scheme}://{host}:{parts.port}" if parts.port else f"{parts.scheme}://{host}"
