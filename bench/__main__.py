"""Run every benchmark in turn: `python -m bench` (or `make bench`)."""

from __future__ import annotations

import runpy
import sys

BENCHMARKS = ["bench.claim_depth"]

for name in BENCHMARKS:
    print(f"\n== {name} ==", flush=True)
    sys.argv = [name]
    runpy.run_module(name, run_name="__main__")
