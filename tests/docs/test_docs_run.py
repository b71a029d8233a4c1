"""Every example in the README and docs/*.md runs as written against a fresh server, and
answers what the text says it answers (see tests/docs/snippets.py for the conventions)."""

from __future__ import annotations

import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest

from tests.docs.snippets import Block, blocks, matches, python_replies, shell_commands
from tests.nodes.server import ServerNode

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTED_URL = "http://127.0.0.1:8080"
SEPARATOR = "\x1e"
RUN_SECONDS = 60.0


@pytest.fixture
def fresh_server(tmp_path: Path) -> Iterator[ServerNode]:
    node = ServerNode(f"sqlite:///{tmp_path / 'docs.db'}", tmp_path / "server.log").start()
    try:
        yield node
    finally:
        node.stop()


def cli_in(directory: Path) -> None:
    """``.venv/bin/couchqueue`` under ``directory``, as ``make`` makes it in a checkout: this
    checkout's CLI, whatever environment runs the tests."""
    bin_dir = directory / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    shim = bin_dir / "couchqueue"
    path = f"{ROOT}:{ROOT / 'client'}"
    shim.write_text(f'#!/bin/sh\nPYTHONPATH="{path}" exec "{sys.executable}" -m app "$@"\n')
    shim.chmod(0o755)


def test_the_readme_walkthrough_answers_as_shown(fresh_server: ServerNode, tmp_path: Path) -> None:
    """Run from a directory of its own, where ``.venv/bin/couchqueue`` is this checkout's CLI
    and COUCHQUEUE_STORE the fresh server's store (the Security section makes tokens)."""
    missing = [tool for tool in ("bash", "curl", "jq") if shutil.which(tool) is None]
    assert not missing, f"the README's walkthrough needs {missing} (.ci/run installs them)"
    commands = [
        command for block in blocks(ROOT / "README.md", "sh") for command in shell_commands(block)
    ]
    assert sum(len(command.expected) for command in commands) >= 20, "replies went missing"
    workdir = tmp_path / "walkthrough"
    cli_in(workdir)
    script = ["set -u"]
    for n, command in enumerate(commands):
        script += [f"printf '\\n{SEPARATOR}{n}\\n'", command.text.replace(DOCUMENTED_URL, "$URL")]
    done = subprocess.run(
        ["bash", "-c", "\n".join(script)],
        capture_output=True,
        text=True,
        timeout=RUN_SECONDS,
        env={**os.environ, "URL": fresh_server.url, "COUCHQUEUE_STORE": fresh_server.store_url},
        cwd=workdir,
        check=False,
    )
    outputs = {}
    for part in done.stdout.split(f"\n{SEPARATOR}")[1:]:
        number, _, output = part.partition("\n")
        outputs[int(number)] = output
    assert done.returncode == 0 and len(outputs) == len(commands), done.stderr[-2000:]
    for n, command in enumerate(commands):
        for expected in command.expected:
            assert matches(expected, outputs[n]), (
                f"{command.where}: {command.text}\n  documented: {expected}\n"
                f"  answered:   {outputs[n].strip()}"
            )


class ServerPerDocument(dict[Path, ServerNode]):
    """A fresh server for each document, shared by its examples in order."""

    def __init__(self, directory: Path) -> None:
        super().__init__()
        self.directory = directory

    def __missing__(self, path: Path) -> ServerNode:
        here = self.directory / path.stem
        here.mkdir()
        node = ServerNode(f"sqlite:///{here / 'docs.db'}", here / "server.log").start()
        self[path] = node
        return node


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerPerDocument]:
    started = ServerPerDocument(tmp_path_factory.mktemp("docs"))
    try:
        yield started
    finally:
        for node in started.values():
            node.stop()


def _read_lines(stream: IO[str], into: queue.Queue[str | None]) -> None:
    for line in stream:
        into.put(line.rstrip("\n"))
    into.put(None)


def python_blocks() -> list[Block]:
    documents = sorted((ROOT / "docs").glob("*.md"))
    return [block for path in documents for block in blocks(path, "python")]


@pytest.mark.parametrize(
    "block", python_blocks(), ids=lambda block: f"{block.path.name}:{block.line}"
)
def test_a_python_example_runs_and_prints_what_it_shows(
    block: Block, servers: ServerPerDocument, tmp_path: Path
) -> None:
    """Run in a fresh interpreter from an empty directory. An example that serves until
    stopped (a worker) is sent SIGINT, as a user would press Ctrl-C, once it has printed every
    documented reply; it must then stop cleanly."""
    script = tmp_path / "example.py"
    script.write_text(block.code.replace(DOCUMENTED_URL, servers[block.path].url))
    expected = python_replies(block)
    process = subprocess.Popen(
        [sys.executable, "-u", str(script)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    lines: queue.Queue[str | None] = queue.Queue()
    reader = threading.Thread(target=_read_lines, args=(process.stdout, lines), daemon=True)
    reader.start()
    printed: list[str] = []
    waiting = list(expected)
    deadline = time.monotonic() + RUN_SECONDS
    try:
        while waiting and time.monotonic() < deadline:
            try:
                line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if line is None:
                break
            printed.append(line)
            if matches(waiting[0], line):
                waiting.pop(0)
        if waiting:
            process.kill()  # it will not print what the text says: the assertion below tells
        elif process.poll() is None:
            time.sleep(0.2)
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        process.wait(timeout=RUN_SECONDS)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    reader.join(timeout=5)
    process.stdout.close()
    while not lines.empty():
        line = lines.get_nowait()
        if line is not None:
            printed.append(line)
    output = "\n".join(printed)
    assert not waiting, f"{block.path.name}:{block.line} never printed {waiting[0]!r}:\n{output}"
    assert process.returncode == 0, f"{block.path.name}:{block.line} failed:\n{output[-3000:]}"
