"""Sampling a server process with py-spy (installed into the venv when missing) and summing
up where its event-loop thread spends its time."""

from __future__ import annotations

import collections
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.support import ROOT, table

RATE = 100  # samples per second


def py_spy() -> str:
    found = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(found).exists():
        print("installing py-spy into the venv ...", flush=True)
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "py-spy"], check=True)
    return found


class Profiler:
    """``with Profiler(pid, out) as p: <load>``; then ``p.summary``. Blocking sampling (py-spy's
    default) pauses the process for each sample: no torn stacks, but a little slower, so a
    profiled run's throughput is not one to report."""

    def __init__(self, pid: int, out: Path, top: int = 15, gil: bool = False) -> None:
        self.pid = pid
        self.gil = gil
        self.out = out
        self.top = top
        self.summary = ""
        self._process: subprocess.Popen[bytes] | None = None
        self._started = 0.0

    def __enter__(self) -> Profiler:
        command = [py_spy(), "record", "--format", "raw", "--threads", "-r", str(RATE)]
        command += ["-d", "600", "-p", str(self.pid), "-o", str(self.out)]
        if self.gil:  # only samples holding the GIL: Python's own CPU time
            command.append("--gil")
        self._process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(0.5)  # attached
        self._started = time.monotonic()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._process is not None
        seconds = time.monotonic() - self._started
        self._process.send_signal(signal.SIGINT)
        try:
            _, err = self._process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self._process.kill()
            _, err = self._process.communicate()
        if not self.out.exists():
            self.summary = f"py-spy failed: {err.decode(errors='replace')[-500:]}"
            return
        kept = Path(tempfile.gettempdir()) / f"couchqueue-{self.out.name}"
        shutil.copy(self.out, kept)
        self.summary = (
            summarize(self.out.read_text(), seconds * RATE, self.top)
            + f"\n(raw stacks kept in {kept})"
        )


_WRAPPERS = {"app/__main__.py", "app/cli.py"}
_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^():]*)(?::(?P<line>\d+))?\)$")


def _frame(text: str) -> tuple[str, str]:
    m = _FRAME.match(text.strip())
    if not m:
        return text.strip(), ""
    file = m["file"]
    for marker in ("site-packages/", "/lib/python3"):
        if marker in file:
            file = file.split(marker, 1)[1]
    file = file.replace(str(ROOT) + "/", "")
    return m["func"], file


def summarize(collapsed: str, expected: float = 0.0, top: int = 15) -> str:
    """From py-spy's raw (collapsed) stacks: each thread's busy samples (against ``expected``,
    the samples of a thread busy all along), then, for the event-loop thread (MainThread),
    self time by function and inclusive time by our own functions (app/, resolvers/, schema/)."""
    self_time: collections.Counter[str] = collections.Counter()
    ours: collections.Counter[str] = collections.Counter()
    by_thread: collections.Counter[str] = collections.Counter()
    main_total = 0
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        thread = frames[0] if frames[0].startswith("thread") else "?"
        frames = [f for f in frames if not f.startswith(("thread", "process"))]
        if not frames:
            continue
        name = thread.split(": ", 1)[-1]
        by_thread[name] += count
        if name != "MainThread":
            continue
        main_total += count
        func, file = _frame(frames[-1])
        self_time[f"{func} ({file})"] += count
        seen = set()
        for frame in frames:
            func, file = _frame(frame)
            if file.startswith(("app/", "resolvers/", "schema/")) and file not in _WRAPPERS:
                key = f"{func} ({file})"
                if key not in seen:
                    seen.add(key)
                    ours[key] += count
    if main_total == 0:
        return "py-spy recorded no samples of the event-loop thread"
    busy = ", ".join(
        f"{name} {n / expected:.0%}" if expected else f"{name} {n}"
        for name, n in by_thread.most_common(6)
    )
    lines = [f"busy samples per thread (share of the run's wall time, approx.): {busy}"]
    rows = [[k, n / main_total * 100] for k, n in self_time.most_common(top)]
    lines += ["", table(["MainThread self time (leaf Python function)", "%"], rows)]
    rows = [[k, n / main_total * 100] for k, n in ours.most_common(top)]
    lines += ["", table(["MainThread inclusive time, our code", "%"], rows)]
    return "\n".join(lines)
