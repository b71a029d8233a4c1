"""Run every benchmark in turn: `python -m bench [--quick] [--only publish,latency]` (or
`make bench`, `make bench BENCH_ARGS=--quick`). Each prints its own table; all figures come
from this one run on this machine, so read the ratios rather than the absolute numbers.

bench.publish measures the ceiling (bench.ceiling) itself, just before the node, and
bench.memory reuses bench.claim_depth's measure on its own 10k and 1M stores, so neither
ceiling nor claim_depth runs again on its own here (`python -m bench.ceiling`,
`python -m bench.claim_depth` do).
"""

from __future__ import annotations

import argparse
import os
import platform
import runpy
import subprocess
import sys
import time

BENCHMARKS = [
    "publish",
    "client_publish",
    "end_to_end",
    "latency",
    "long_poll",
    "follow_ups",
    "task_waits",
    "memory",
    "stores",
    "counts",
    "push_scale",
    "flow_limits",
]
EVERY = [*BENCHMARKS, "ceiling", "claim_depth"]


def machine() -> str:
    memory = ""
    try:
        with open("/proc/meminfo") as handle:
            total_kb = int(handle.readline().split()[1])
        memory = f", {total_kb / 1024 / 1024:.1f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    cpu = platform.processor() or platform.machine()
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=5).stdout
        cpu = next(
            (x.split(":", 1)[1].strip() for x in lscpu.splitlines() if x.startswith("Model name")),
            cpu,
        )
    except (OSError, subprocess.SubprocessError):
        pass
    return (
        f"{os.cpu_count()} CPUs ({cpu}){memory}; Python {platform.python_version()}; "
        f"load average {os.getloadavg()[0]:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="shorter runs, smaller counts")
    parser.add_argument("--only", default="", help=f"comma-separated, of: {', '.join(EVERY)}")
    args = parser.parse_args()
    names = [n.strip() for n in args.only.split(",") if n.strip()] or BENCHMARKS
    unknown = sorted(set(names) - set(EVERY))
    if unknown:
        parser.error(f"unknown benchmarks {unknown}; choose from {EVERY}")
    print(f"CouchQueue benchmarks{' (--quick)' if args.quick else ''}: {machine()}", flush=True)
    started = time.monotonic()
    for name in names:
        print(f"\n== bench.{name} ==", flush=True)
        began = time.monotonic()
        sys.argv = [f"bench.{name}", *(["--quick"] if args.quick else [])]
        runpy.run_module(f"bench.{name}", run_name="__main__", alter_sys=True)
        print(f"({time.monotonic() - began:.0f} s)", flush=True)
    print(f"\nall benchmarks: {time.monotonic() - started:.0f} s", flush=True)


main()
