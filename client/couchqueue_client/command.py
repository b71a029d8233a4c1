"""``couchqueue worker``: a ready worker that runs a shell command per task, the task as JSON on
its stdin. Exit status 0 completes the task; anything else fails it with the exit status and
the tail of the command's stderr. Every flag has a COUCHQUEUE_* environment twin."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from couchqueue_client.errors import CouchQueueError
from couchqueue_client.failure import TaskFailed
from couchqueue_client.models import Task
from couchqueue_client.worker import Worker

STDERR_TAIL = 2048


@dataclass(frozen=True, slots=True)
class Option:
    flag: str
    twin: str  # the environment variable, COUCHQUEUE_ + this
    kind: type
    default: Any  # None: required
    help: str
    choices: tuple[str, ...] | None = None

    @property
    def dest(self) -> str:
        return self.flag.removeprefix("--").replace("-", "_")


OPTIONS = (
    Option("--url", "URL", str, "http://127.0.0.1:8080", "server URL"),
    Option("--queues", "QUEUES", str, None, "queues to work, comma-separated, by priority"),
    Option("--exec", "EXEC", str, None, "shell command run per task, the task JSON on stdin"),
    Option("--concurrency", "CONCURRENCY", int, 1, "tasks run at once"),
    Option("--mode", "MODE", str, "push", "push (websocket) or poll (GET /task)", ("push", "poll")),
    Option("--name", "WORKER_NAME", str, "", "worker name (empty: hostname:pid)"),
    Option("--timeout", "EXEC_TIMEOUT", float, 0.0, "kill a command running longer (0: never)"),
    Option("--grace-period", "GRACE_PERIOD", float, 30.0, "seconds to finish tasks on SIGTERM"),
    Option("--heartbeat-interval", "HEARTBEAT_INTERVAL", float, 15.0, "seconds between beats"),
    Option("--poll-interval", "POLL_INTERVAL", float, 1.0, "seconds between polls when idle"),
    Option("--max-backoff", "MAX_BACKOFF", float, 30.0, "longest wait before reconnecting"),
    Option("--token", "TOKEN", str, "", "bearer token, if the server requires one"),
    Option("--ca-file", "CA_FILE", str, "", "CA certificate(s), PEM, to verify an https:// URL"),
    Option("--log-level", "LOG_LEVEL", str, "info", "debug, info, warning or error"),
)


def add_arguments(
    parser: argparse.ArgumentParser, environ: Mapping[str, str] | None = None
) -> None:
    """The worker's flags; a set environment twin is the flag's default (required flags too)."""
    env = os.environ if environ is None else environ
    for spec in OPTIONS:
        twin = "COUCHQUEUE_" + spec.twin
        from_env = env.get(twin) or None
        shown = "required" if spec.default is None else f"default {spec.default or 'none'}"
        parser.add_argument(
            spec.flag,
            dest=spec.dest,
            type=spec.kind,
            default=from_env if from_env is not None else spec.default,
            required=spec.default is None and from_env is None,
            choices=spec.choices,
            help=f"{spec.help} [env {twin}; {shown}]",
        )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m couchqueue_client", description=__doc__)
    add_arguments(parser)
    return parser


def main(args: argparse.Namespace) -> int:
    """Run the worker until SIGTERM/SIGINT; 0 after a graceful stop."""
    level = str(args.log_level).upper()
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if level != "DEBUG":
        logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per request otherwise
    try:
        worker = Worker(
            args.url,
            args.queues,
            CommandHandler(args.exec, timeout=args.timeout or None),
            concurrency=args.concurrency,
            mode=args.mode,
            name=args.name or None,
            heartbeat_interval=args.heartbeat_interval,
            poll_interval=args.poll_interval,
            grace_period=args.grace_period,
            max_backoff=args.max_backoff,
            token=args.token or None,
            ca_file=args.ca_file or None,
        )
        worker.run_forever()
    except (ValueError, CouchQueueError) as exc:
        logging.getLogger("couchqueue_client").error("worker stopped: %s", exc)
        return 2
    return 0


def main_standalone(argv: Sequence[str] | None = None) -> int:
    return main(build_parser().parse_args(argv))


def console_main() -> None:
    """``couchqueue-worker``: the command worker as the client distribution's own script."""
    raise SystemExit(main_standalone())


class CommandHandler:
    """Runs ``command`` in a shell per task: the task's JSON on stdin, its id, queue and
    attempts in COUCHQUEUE_TASK_ID, COUCHQUEUE_QUEUE and COUCHQUEUE_ATTEMPTS; stdout passes
    through, stderr too (its tail goes into the fail reason)."""

    def __init__(self, command: str, timeout: float | None = None) -> None:
        self.command = command
        self.timeout = timeout

    async def __call__(self, task: Task) -> None:
        env = {
            **os.environ,
            "COUCHQUEUE_TASK_ID": task.task_id,
            "COUCHQUEUE_QUEUE": task.queue,
            "COUCHQUEUE_ATTEMPTS": str(task.attempts),
        }
        process = await asyncio.create_subprocess_shell(
            self.command,
            stdin=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
            start_new_session=True,  # its own group: a Ctrl-C on the worker leaves it running
        )
        feeder = asyncio.create_task(_feed(process, json.dumps(task.to_json()).encode()))
        tail = asyncio.create_task(_stderr_tail(process))
        timed_out = False
        try:
            await asyncio.wait_for(process.wait(), self.timeout)
        except TimeoutError:
            timed_out = True
        finally:  # also when cancelled (the grace period is over): leave nothing behind
            output = await _finish(process, feeder, tail)
        if timed_out:
            raise TaskFailed(f"timed out after {self.timeout:g}s\n{output}".rstrip())
        code = process.returncode
        if code != 0:
            raise TaskFailed(f"{_describe(code)}\n{output}".rstrip())


async def _feed(process: asyncio.subprocess.Process, data: bytes) -> None:
    assert process.stdin is not None
    try:
        process.stdin.write(data)
        await process.stdin.drain()
        process.stdin.close()
    except (BrokenPipeError, ConnectionResetError):
        pass  # the command did not read its stdin


async def _finish(
    process: asyncio.subprocess.Process, feeder: asyncio.Task[None], tail: asyncio.Task[str]
) -> str:
    """Kill the command's process group if it still runs; its stderr tail."""
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(process.wait(), 5)
    feeder.cancel()
    try:  # children it left running in the background may hold stderr open
        return await asyncio.wait_for(tail, 2)
    except TimeoutError:
        return ""


async def _stderr_tail(process: asyncio.subprocess.Process) -> str:
    """Pass stderr through and keep its last STDERR_TAIL bytes."""
    assert process.stderr is not None
    kept = b""
    while chunk := await process.stderr.read(65536):
        _pass_through(chunk)
        kept = (kept + chunk)[-STDERR_TAIL:]
    return kept.decode(errors="replace")


def _pass_through(chunk: bytes) -> None:
    binary = getattr(sys.stderr, "buffer", None)
    if binary is not None:
        binary.write(chunk)
        binary.flush()
    else:
        sys.stderr.write(chunk.decode(errors="replace"))


def _describe(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"
