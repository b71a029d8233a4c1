"""The examples of the README and docs/*.md as runnable pieces, and how their documented
replies are matched.

- Every fenced ``sh`` block of README.md is a shell walkthrough, run in order in one bash
  session; a block right after the line ``<!-- docs-test: not run -->`` is left out (the
  commands that install and start things). Every fenced ``python`` block of docs/*.md is run
  on its own, in order, in a fresh interpreter.
- A reply is documented on the line after a command, or after it on its last line, as
  ``# -> REPLY``. For a shell command, REPLY is what it printed; for Python, a line it
  printed (in order). ``…`` stands for anything; JSON answers are compared in Python's
  ``json.dumps`` spacing (``{"a": 1, "b": [2, 3]}``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

NOT_RUN = "<!-- docs-test: not run -->"
REPLY = "# -> "
_FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.M | re.S)
_TRAILING_REPLY = re.compile(r"\s+# -> ")


@dataclass
class Block:
    path: Path
    line: int  # of the fence's first line of code, 1-based
    language: str
    code: str


@dataclass
class Command:
    """One shell command (continuation lines and multi-line quotes joined) and its reply."""

    where: str
    text: str
    expected: list[str] = field(default_factory=list)


def blocks(path: Path, language: str) -> list[Block]:
    text = path.read_text()
    found = []
    for match in _FENCE.finditer(text):
        if match.group(1) != language:
            continue
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        if before.strip() == NOT_RUN:
            continue
        line = text.count("\n", 0, match.start(2)) + 1
        found.append(Block(path, line, language, match.group(2)))
    return found


def shell_commands(block: Block) -> list[Command]:
    """The block's commands, each with the replies documented for it."""
    commands: list[Command] = []
    pending: list[str] = []
    start = 0
    for offset, line in enumerate(block.code.splitlines()):
        stripped = line.strip()
        if not pending:
            if stripped.startswith(REPLY.strip()):
                commands[-1].expected.append(stripped.removeprefix(REPLY.strip()).strip())
                continue
            if not stripped or stripped.startswith("#"):
                continue
            start = offset
        pending.append(line)
        joined = "\n".join(pending)
        if line.endswith("\\") or joined.count("'") % 2:
            continue
        command, *reply = _TRAILING_REPLY.split(joined, maxsplit=1)
        where = f"{block.path.name}:{block.line + start}"
        commands.append(Command(where, command, [r.strip() for r in reply]))
        pending = []
    assert not pending, f"{block.path.name}:{block.line + start}: unfinished command"
    return commands


def python_replies(block: Block) -> list[str]:
    """The replies documented in a Python block, in order."""
    marker = REPLY.strip()
    replies: list[str] = []
    for line in block.code.splitlines():
        stripped = line.strip()
        if stripped.startswith(marker):
            replies.append(stripped.removeprefix(marker).strip())
        else:
            replies.extend(reply.strip() for reply in _TRAILING_REPLY.split(line, maxsplit=1)[1:])
    return replies


def normalized(output: str) -> str:
    """JSON output in json.dumps spacing; anything else stripped of surrounding blanks."""
    text = output.strip()
    try:
        return json.dumps(json.loads(text), ensure_ascii=False)
    except ValueError:
        return text


def matches(expected: str, output: str) -> bool:
    """Whether the output is the documented reply, ``…`` matching anything."""
    pattern = ".*?".join(re.escape(piece) for piece in expected.split("…"))
    return re.fullmatch(pattern, normalized(output), re.S) is not None
