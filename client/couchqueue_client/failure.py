"""Fail reasons: what a worker reports when a handler raises."""

from __future__ import annotations

import concurrent.futures
import os
import traceback

# The server accepts reasons up to 10,000 characters; keep them well inside that.
MAX_REASON = 4000
TRACEBACK_TAIL = 2000
# Frames of the client's own machinery (and of the thread pool), left out of tracebacks.
_MACHINERY = tuple(
    os.path.dirname(os.path.abspath(module)) + os.sep
    for module in (__file__, concurrent.futures.__file__)
)


class TaskFailed(Exception):
    """Raise from a handler to fail the task with exactly this reason (no traceback added).
    With ``re_enqueue=True`` the task goes back to its queue at once (attempts + 1) instead of
    following the queue's retry policy."""

    def __init__(self, reason: str, *, re_enqueue: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.re_enqueue = re_enqueue


def fail_reason(exc: BaseException) -> str:
    """``Type: message``, then the tail of the traceback (the handler's frames, not the
    client's), bounded to MAX_REASON characters."""
    if isinstance(exc, TaskFailed):
        return bound(exc.reason)
    message = str(exc)
    head = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    head = bound(head, MAX_REASON // 2)
    trace = traceback.TracebackException.from_exception(exc)
    own = [frame for frame in trace.stack if not frame.filename.startswith(_MACHINERY)]
    trace.stack = traceback.StackSummary.from_list(own)
    text = "".join(trace.format()).rstrip()
    if len(text) > TRACEBACK_TAIL:
        text = "…" + text[-TRACEBACK_TAIL:]
    return bound(f"{head}\n{text}")


def bound(text: str, limit: int = MAX_REASON) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
