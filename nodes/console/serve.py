"""Running the console: settings from the node's config, served by uvicorn."""

from __future__ import annotations

import ipaddress
import threading
from pathlib import Path

import uvicorn

from nodes.config import NodeConfig
from nodes.console.app import ConsoleSettings, create_app
from signing.pki import Federation

DEFAULT_LISTEN = "127.0.0.1:8340"


def keyring_of(config: NodeConfig) -> Path:
    return config.data_dir / "console" / "ukeys"


def settings_for(config: NodeConfig, *, keyring: Path | None = None, secure_cookies: bool = False) -> ConsoleSettings:
    federation = Federation.open(config.pki_dir)
    return ConsoleSettings(federation=federation, province=config.province, node_address=config.listen,
                           keyring=keyring or keyring_of(config), secure_cookies=secure_cookies)


def is_loopback(host: str) -> bool:
    """Only this machine reaches the console: what a clerk types crosses no network."""
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return host == "localhost"


def split_listen(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"listen address {listen!r} is not host:port (e.g. {DEFAULT_LISTEN})")
    return host, int(port)


def serve_console(settings: ConsoleSettings, *, listen: str = DEFAULT_LISTEN, tls_cert: Path | None = None,
                  tls_key: Path | None = None) -> None:
    """Serve until interrupted. Beyond loopback, give it a TLS certificate: PINs cross the wire."""
    host, port = split_listen(listen)
    uvicorn.run(create_app(settings), host=host, port=port, log_level="warning", access_log=False,
                ssl_certfile=str(tls_cert) if tls_cert else None, ssl_keyfile=str(tls_key) if tls_key else None)


class ConsoleThread:
    """The console in a thread of this process (tests): start, then stop."""

    def __init__(self, settings: ConsoleSettings, *, listen: str) -> None:
        host, port = split_listen(listen)
        self.app = create_app(settings)
        self.server = uvicorn.Server(uvicorn.Config(self.app, host=host, port=port, log_level="warning",
                                                   access_log=False))
        self.thread = threading.Thread(target=self.server.run, name="console", daemon=True)
        self.url = f"http://{host}:{port}"

    def start(self, timeout: float = 10.0) -> ConsoleThread:
        self.thread.start()
        import time

        deadline = time.monotonic() + timeout
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the console did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.app.state.sessions.close_all()
