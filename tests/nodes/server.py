"""Real server nodes for tests: `python -m app serve` in its own process, on a free port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerNode:
    """One uvicorn node. ``start`` waits until /healthz answers; ``kill`` is kill -9."""

    def __init__(
        self,
        store_url: str,
        log_path: Path,
        port: int | None = None,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.store_url = store_url
        self.port = port or free_port()
        self.log_path = log_path
        # More `couchqueue serve` flags (e.g. "--default-lease-seconds", "2"), kept on restart.
        self.extra_args = list(extra_args)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> ServerNode:
        env = {**os.environ, "COUCHQUEUE_LOG_LEVEL": "warning"}
        command = [sys.executable, "-m", "app", "serve", "--host", "127.0.0.1"]
        command += ["--port", str(self.port), "--store", self.store_url, *self.extra_args]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"node exited early: {self.log_path.read_text()[-2000:]}")
            if self.healthy():
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"node not ready in {timeout}s: {self.log_path.read_text()[-2000:]}")

    def healthy(self) -> bool:
        """Whether /healthz answers 200 now."""
        try:
            return httpx.get(self.url + "/healthz", timeout=0.5).status_code == 200
        except httpx.TransportError:
            return False

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flush, no goodbye."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
