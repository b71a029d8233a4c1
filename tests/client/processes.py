"""Workers in processes of their own, for what only a process can show: kill -9, SIGTERM and
the exit status, and the `couchqueue worker` command."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def worker_process(
    args: Sequence[str], log_path: Path, env: Mapping[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """``python ARGS`` from the repository root, its output in log_path; killed on the way out
    if it is still running."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, *args], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)


def cli_worker(url: str, queue: str, command: str, *flags: str) -> list[str]:
    """The arguments of `couchqueue worker` (as ``python -m app worker``), quick to react."""
    fast = ["--heartbeat-interval", "0.5", "--poll-interval", "0.05", "--max-backoff", "0.5"]
    return [
        "-m",
        "app",
        "worker",
        "--url",
        url,
        "--queues",
        queue,
        "--exec",
        command,
        *fast,
        *flags,
    ]
