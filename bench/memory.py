"""Memory with a deep queue, and claim cost against depth.

Two stores are filled directly through the SQLite store (app/store/sqlite.py's insert_tasks,
20,000 a transaction, bench/claim_depth.py's fill) in a separate process before a node starts:
10,000 and 1,000,000 queued tasks. On each, a `python -m app serve` node is started and we read
its RSS (VmRSS of /proc/PID/status), then claim over HTTP with wrk (GET /task?workerId=W, a
claim per request); both nodes run side by side and are measured in alternating rounds. On
the deep one, 100,000 more tasks are then published through the node (PUT /tasks, 1000 a
request), to see what publishing itself keeps in memory. Finally claim_depth's own measure
(sequential claims through the store, no HTTP) runs on both files, also in alternating rounds.

    python -m bench.memory [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass

from bench import claim_depth
from bench.support import (
    Http,
    WrkResult,
    fill,
    is_quick,
    node,
    table,
    target,
    temp_dir,
    wrk,
)

QUEUE = "q"  # claim_depth's queue


@dataclass(frozen=True, slots=True)
class Depth:
    depth: int
    rss_start: float
    rss_claims: float
    published: str | None
    rss_published: float | None
    peak: float
    wal_mb: float
    claims: list[WrkResult]


def child_prepare(url: str, depth: int) -> float:
    started = time.perf_counter()
    command = [sys.executable, "-m", "bench.memory", "--prepare", url, str(depth)]
    subprocess.run(command, check=True, timeout=900)
    return time.perf_counter() - started


def child_claim_rate(url: str, claims: int) -> float:
    command = [sys.executable, "-m", "bench.memory", "--claim-rate", url, str(claims)]
    done = subprocess.run(command, check=True, timeout=300, capture_output=True, text=True)
    return float(done.stdout.strip().splitlines()[-1])


def run(shallow: int, deep: int, extra: int, seconds: float, warmup: float, rounds: int) -> None:
    """Both nodes run side by side; their claim rates are measured in alternating rounds, so
    that a change in the machine's load skews the ratio less."""
    load = os.getloadavg()[0]
    notes = []
    depths = (shallow, deep)
    with contextlib.ExitStack() as stack:
        folder = stack.enter_context(temp_dir("memory"))
        urls = {}
        for depth in depths:
            urls[depth] = f"sqlite:///{folder / f'depth-{depth}.db'}"
            took = child_prepare(urls[depth], depth)
            notes.append(f"{depth:,} tasks written through the store in {took:.0f} s")
        servers = {
            d: stack.enter_context(node(folder / f"depth-{d}.db", folder / f"node-{d}.log"))
            for d in depths
        }
        time.sleep(1.0)  # background duties have run once
        rss_start = {d: servers[d].rss_mb() for d in depths}
        claim_urls = {}
        for depth, server in servers.items():
            http = Http(server.url)
            worker = http.call("PUT", "/worker", {"queues": [QUEUE], "name": "bench"})
            http.close()
            claim_urls[depth] = f"{server.url}/task?workerId={worker['workerId']}"
            wrk(claim_urls[depth], connections=32, seconds=warmup, warmup=0)
        claims: dict[int, list[WrkResult]] = {d: [] for d in depths}
        for _ in range(rounds):
            for depth in depths:
                claims[depth].append(
                    wrk(
                        claim_urls[depth],
                        connections=32,
                        seconds=seconds / rounds,
                        warmup=0,
                        count_nulls=True,
                    )
                )
        rss_claims = {d: servers[d].rss_mb() for d in depths}
        fill_seconds = fill(servers[deep].url, extra) if extra else 0.0
        rss_published = servers[deep].rss_mb()
        rows = []
        for depth in depths:
            wal = folder / f"depth-{depth}.db-wal"
            rows.append(
                Depth(
                    depth,
                    rss_start[depth],
                    rss_claims[depth],
                    f"+{extra:,} in {fill_seconds:.0f} s" if depth == deep and extra else None,
                    rss_published if depth == deep and extra else None,
                    servers[depth].rss_mb("VmHWM"),
                    wal.stat().st_size / 1e6 if wal.exists() else 0.0,
                    claims[depth],
                )
            )
        for server in servers.values():
            server.stop()
        store: dict[int, list[float]] = {d: [] for d in depths}
        for _ in range(rounds):
            for depth in depths:
                store[depth].append(child_claim_rate(urls[depth], 1000))
        store_rates = {d: statistics.median(store[d]) for d in depths}

    print(f"load average before: {load:.2f}; " + "; ".join(notes))
    headers = ["queued tasks", "RSS at start MB", "RSS after claims MB", "published via HTTP"]
    headers += ["RSS after MB", "peak RSS MB", "WAL file MB"]
    memory_rows = [
        [
            x.depth,
            x.rss_start,
            x.rss_claims,
            x.published or "-",
            x.rss_published or "-",
            x.peak,
            x.wal_mb,
        ]
        for x in rows
    ]
    print(table(headers, memory_rows))
    worst = max(x.peak for x in rows)
    print(f"node peak RSS with {deep:,}+ queued: {worst:.0f} MB ({target(worst, 150, False)})")
    print()
    print(
        f"claims: wrk -t1 -c32 GET /task?workerId=W, {rounds} alternating rounds of "
        f"{seconds / rounds:g} s per node (after a {warmup:g} s warm-up), medians; store: "
        f"{rounds} rounds of 1,000 sequential claims through the store, no HTTP (claim_depth)"
    )
    claim_rows = []
    for x in rows:
        nulls = sum(c.nulls for c in x.claims)
        dry = f" ({nulls:,} found it empty)" if nulls else ""
        errors = sum(c.non_2xx + c.socket_errors for c in x.claims)
        claim_rows.append(
            [
                x.depth,
                f"{statistics.median(c.rps for c in x.claims):,.0f}{dry}",
                statistics.median(c.p50_ms for c in x.claims),
                statistics.median(c.p99_ms for c in x.claims),
                errors,
                store_rates[x.depth],
            ]
        )
    headers = ["queued tasks", "HTTP claims/s", "p50 ms", "p99 ms", "errors", "store claims/s"]
    print(table(headers, claim_rows))
    per_round = [
        d.rps / s.rps if s.rps else 0.0 for s, d in zip(rows[0].claims, rows[1].claims, strict=True)
    ]
    http_ratio = statistics.median(per_round)
    store_ratio = store_rates[deep] / store_rates[shallow]
    print(
        f"claim rate at {deep:,} / at {shallow:,} queued: HTTP {http_ratio:.2f} "
        f"(rounds {min(per_round):.2f}-{max(per_round):.2f}), store {store_ratio:.2f} "
        "(1.0 = flat)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--deep", type=int)
    parser.add_argument("--prepare", nargs=2, metavar=("URL", "DEPTH"))
    parser.add_argument("--claim-rate", nargs=2, metavar=("URL", "CLAIMS"))
    args = parser.parse_args()
    if args.prepare:
        asyncio.run(claim_depth.prepare(args.prepare[0], int(args.prepare[1])))
        return
    if args.claim_rate:
        print(asyncio.run(claim_depth.claim_rate(args.claim_rate[0], int(args.claim_rate[1]))))
        return
    quick = is_quick()
    deep = args.deep or (200_000 if quick else 1_000_000)
    extra = 20_000 if quick else 100_000
    seconds, warmup, rounds = (2.0, 1.0, 2) if quick else (3.0, 1.0, 3)
    run(10_000, deep, extra, seconds, warmup, rounds)


if __name__ == "__main__":
    main()
