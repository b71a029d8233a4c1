"""Shared pieces of the benchmarks: server nodes in their own processes, wrk runs, a small
keep-alive HTTP client and table printing. Everything binds and sends to 127.0.0.1 only."""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

HOST = "127.0.0.1"
ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def is_quick(argv: Sequence[str] | None = None) -> bool:
    return "--quick" in (sys.argv if argv is None else argv)


@contextlib.contextmanager
def temp_dir(prefix: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix=f"couchqueue-{prefix}-") as folder:
        yield Path(folder)


# -- server processes -----------------------------------------------------------------------


class Process:
    """A server in its own process; ``start`` waits until ``ready_path`` answers 200."""

    def __init__(
        self, command: list[str], log_path: Path, ready_path: str = "/healthz", port: int = 0
    ) -> None:
        self.port = port or free_port()
        self.command = [part.replace("{port}", str(self.port)) for part in command]
        self.log_path = log_path
        self.ready_path = ready_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, timeout: float = 30.0, env: dict[str, str] | None = None) -> Process:
        environ = {**os.environ, "COUCHQUEUE_LOG_LEVEL": "warning", **(env or {})}
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command, stdout=log, stderr=subprocess.STDOUT, env=environ, cwd=ROOT
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log_tail()}")
            with contextlib.suppress(OSError, http.client.HTTPException):
                conn = http.client.HTTPConnection(HOST, self.port, timeout=1)
                conn.request("GET", self.ready_path)
                if conn.getresponse().status == 200:
                    conn.close()
                    return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"server not ready in {timeout}s:\n{self.log_tail()}")

    def log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-3000:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)

    def rss_mb(self, field: str = "VmRSS") -> float:
        """Resident set size (VmRSS of /proc/PID/status; VmHWM: its peak so far), in MB."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
        raise RuntimeError(f"no {field}")

    def __enter__(self) -> Process:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def node(store_path: Path, log_path: Path, *extra: str) -> Process:
    """A real `python -m app serve` node over the SQLite file ``store_path``."""
    command = [sys.executable, "-m", "app", "serve", "--host", HOST, "--port", "{port}"]
    command += ["--store", f"sqlite:///{store_path}", *extra]
    return Process(command, log_path)


# -- a small synchronous JSON client for set-up ---------------------------------------------


class Http:
    """Blocking HTTP/1.1 keep-alive JSON calls, for set-up and small sequential loops."""

    def __init__(self, base_url: str) -> None:
        host, port = base_url.removeprefix("http://").split(":")
        self.conn = http.client.HTTPConnection(host, int(port), timeout=60)
        self.used = time.monotonic()

    def call(self, method: str, path: str, body: Any = None) -> Any:
        if time.monotonic() - self.used > 2.0:  # uvicorn closes idle connections after 5 s
            self.conn.close()
        self.used = time.monotonic()
        payload = None if body is None else orjson.dumps(body)
        headers = {"content-type": "application/json"} if payload is not None else {}
        self.conn.request(method, path, body=payload, headers=headers)
        response = self.conn.getresponse()
        raw = response.read()
        if response.status >= 400:
            raise RuntimeError(f"{method} {path} -> {response.status}: {raw[:500]!r}")
        return orjson.loads(raw)

    def close(self) -> None:
        self.conn.close()


def setup_queue(base_url: str, queue: str = "bench") -> str:
    """Queue ``queue`` with interest '*' and one worker on it; the worker's id."""
    http = Http(base_url)
    try:
        http.call("PUT", "/interest", {"queue": queue, "interests": "*"})
        return str(http.call("PUT", "/worker", {"queues": [queue], "name": "bench"})["workerId"])
    finally:
        http.close()


PUBLISH_BODY = {"publisher": "bench", "data": {"user": 123, "action": "signup"}}


def fill(base_url: str, count: int, batch: int = 1000, connections: int = 2) -> float:
    """Publish ``count`` tasks with PUT /tasks batches (``connections`` at once); seconds."""
    body = orjson.dumps([PUBLISH_BODY] * batch)

    async def one_connection(batches: int) -> None:
        client = AsyncHttp(base_url)
        try:
            for _ in range(batches):
                status, raw = await client.request("PUT", "/tasks", body)
                if status != 200:
                    raise RuntimeError(f"PUT /tasks -> {status}: {raw[:300]!r}")
        finally:
            await client.close()

    async def run() -> None:
        batches = count // batch
        share = [batches // connections + (i < batches % connections) for i in range(connections)]
        await asyncio.gather(*(one_connection(n) for n in share if n))
        rest = count % batch
        if rest:
            client = AsyncHttp(base_url)
            await client.request("PUT", "/tasks", orjson.dumps([PUBLISH_BODY] * rest))
            await client.close()

    started = time.perf_counter()
    asyncio.run(run())
    return time.perf_counter() - started


# -- a minimal asyncio HTTP/1.1 keep-alive client -------------------------------------------


class AsyncHttp:
    """One keep-alive connection, one request at a time. Much lighter than httpx (which manages
    about 700 requests/s here), so that the client is not what a benchmark measures."""

    def __init__(self, base_url: str) -> None:
        host, port = base_url.removeprefix("http://").split(":")
        self.host, self.port = host, int(port)
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
        if body is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        self.writer.write(head.encode() + b"\r\n" + (body or b""))
        status_line = await self.reader.readline()
        status = int(status_line.split()[1])
        length, chunked = 0, False
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.partition(b":")
            lowered = name.strip().lower()
            if lowered == b"content-length":
                length = int(value)
            elif lowered == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
        if not chunked:
            return status, await self.reader.readexactly(length)
        parts: list[bytes] = []
        while True:
            size = int((await self.reader.readline()).strip(), 16)
            if size == 0:
                await self.reader.readline()
                return status, b"".join(parts)
            parts.append(await self.reader.readexactly(size))
            await self.reader.readline()

    async def json(self, method: str, path: str, body: Any = None) -> Any:
        status, raw = await self.request(method, path, None if body is None else orjson.dumps(body))
        if status >= 400:
            raise RuntimeError(f"{method} {path} -> {status}: {raw[:300]!r}")
        return orjson.loads(raw)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()
            self.writer = None


# -- wrk -------------------------------------------------------------------------------------


def ensure_wrk() -> str:
    """The wrk binary; installed with apt-get (as root) when missing."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("installing wrk with apt-get ...", flush=True)
        quiet = {"stdout": subprocess.DEVNULL, "timeout": 600}
        subprocess.run(["apt-get", "update", "-qq"], check=True, **quiet)  # type: ignore[call-overload]
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, env=env, **quiet)  # type: ignore[call-overload]
        found = shutil.which("wrk")
        if found:
            return found
    raise SystemExit("wrk is needed: apt-get install wrk (Debian/Ubuntu) or brew install wrk")


@dataclass(frozen=True, slots=True)
class WrkResult:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    non_2xx: int
    socket_errors: int
    nulls: int  # responses whose body was exactly `null` (GET /task on an empty queue)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds


_LUA = r"""
wrk.method = "%(method)s"
wrk.headers["Content-Type"] = "application/json"
%(body)s
local threads = {}
function setup(thread) table.insert(threads, thread) end
nulls = 0
%(response)s
function done(summary, latency, requests)
  local n = 0
  for _, t in ipairs(threads) do n = n + (t:get("nulls") or 0) end
  local e = summary.errors
  io.write(string.format(
    "WRKJSON {\"requests\":%%d,\"duration_us\":%%d,\"p50\":%%d,\"p99\":%%d,\"max\":%%d," ..
    "\"status\":%%d,\"socket\":%%d,\"nulls\":%%d}\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency.max, e.status, e.connect + e.read + e.write + e.timeout, n))
end
"""

_COUNT_NULLS = """
function response(status, headers, body)
  if body == "null" then nulls = nulls + 1 end
end
"""


def wrk(
    url: str,
    *,
    method: str = "GET",
    body: Any = None,
    threads: int = 1,
    connections: int = 32,
    seconds: float = 8.0,
    warmup: float = 2.0,
    count_nulls: bool = False,
) -> WrkResult:
    """Run wrk against ``url`` (after a warm-up run of ``warmup`` seconds); parse its figures."""
    binary = ensure_wrk()
    text = None if body is None else (body if isinstance(body, str) else json.dumps(body))
    if text is not None and "]==]" in text:
        raise ValueError("body may not contain ]==]")
    script = _LUA % {
        "method": method,
        "body": "" if text is None else f"wrk.body = [==[{text}]==]",
        "response": _COUNT_NULLS if count_nulls else "",
    }
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    try:
        base = [binary, f"-t{threads}", f"-c{connections}", "--timeout", "10s", "-s", handle.name]
        if warmup > 0:
            _run_wrk([*base, f"-d{max(1, round(warmup))}s", url], warmup)
        return _run_wrk([*base, f"-d{max(1, round(seconds))}s", url], seconds)
    finally:
        os.unlink(handle.name)


def _run_wrk(command: list[str], seconds: float) -> WrkResult:
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    for line in done.stdout.splitlines():
        if line.startswith("WRKJSON "):
            f = json.loads(line[len("WRKJSON ") :])
            return WrkResult(
                requests=f["requests"],
                seconds=f["duration_us"] / 1e6,
                p50_ms=f["p50"] / 1000,
                p99_ms=f["p99"] / 1000,
                max_ms=f["max"] / 1000,
                non_2xx=f["status"],
                socket_errors=f["socket"],
                nulls=f["nulls"],
            )
    raise RuntimeError(f"wrk gave no figures:\n{done.stdout}\n{done.stderr}")


# -- tables ----------------------------------------------------------------------------------


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain fixed-width table: first column left-aligned, the others right-aligned."""
    cells = [[str(h) for h in headers], *[[_cell(v) for v in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: list[str]) -> str:
        parts = [row[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)
        ]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(cells[0]), rule, *(line(r) for r in cells[1:])])


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def target(value: float, goal: float, higher_is_better: bool = True) -> str:
    met = value >= goal if higher_is_better else value <= goal
    return f"{'meets' if met else 'MISSES'} target {'>=' if higher_is_better else '<='} {goal:g}"
