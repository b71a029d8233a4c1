"""Publish throughput of a real node against the ceiling, measured in one run with wrk.

A `python -m app serve` node over a temporary SQLite file, one queue with interest '*':
REST `PUT /task` and GraphQL `publishTask` (POST /graphql, fixed query and variables), each
compared with the bare Starlette + SQLite ceiling (bench/ceiling.py) running beside it,
measured in alternating rounds.

    python -m bench.publish [--quick] [--profile] [-t 2] [-c 32]

--profile also samples the node with py-spy during extra REST and GraphQL runs and prints where
the time goes (py-spy is installed into the venv if missing).
"""

from __future__ import annotations

import argparse
import os
import statistics
from pathlib import Path

from bench import ceiling
from bench.profiling import Profiler
from bench.support import (
    PUBLISH_BODY,
    Process,
    WrkResult,
    is_quick,
    node,
    setup_queue,
    table,
    target,
    temp_dir,
    wrk,
)

GRAPHQL_PUBLISH = {
    "query": "mutation Publish($input: PublishTaskInput!) { publishTask(input: $input) "
    "{ eventId discarded tasks { taskId queue } } }",
    "variables": {"input": PUBLISH_BODY},
}


TARGETS = (
    # name, path, method, body
    ("ceiling: Starlette + 1 SQLite insert", "/task", "PUT", PUBLISH_BODY),
    ("REST PUT /task", "/task", "PUT", PUBLISH_BODY),
    ("GraphQL publishTask", "/graphql", "POST", GRAPHQL_PUBLISH),
)


def run(
    *,
    threads: int,
    connections: int,
    seconds: float,
    warmup: float,
    rounds: int,
    profile: float,
    gil: bool = False,
) -> None:
    """Both servers run side by side; after a warm-up of each, ``rounds`` rounds each measure
    the ceiling, REST and GraphQL in turn for seconds / rounds. Ratios are taken within a
    round (neighbouring measurements, so a machine whose load changes skews them less) and the
    median round is reported."""
    load = os.getloadavg()[0]
    results: dict[str, list[WrkResult]] = {name: [] for name, *_ in TARGETS}
    hot = []
    with (
        temp_dir("publish") as folder,
        ceiling.server(folder) as ceil,
        node(folder / "node.db", folder / "node.log") as server,
    ):
        setup_queue(server.url)
        urls = [ceil.url, server.url, server.url]
        for (_, path, method, body), base in zip(TARGETS, urls, strict=True):
            wrk(
                base + path,
                method=method,
                body=body,
                threads=threads,
                connections=connections,
                seconds=warmup,
                warmup=0,
            )
        for _ in range(rounds):
            for (name, path, method, body), base in zip(TARGETS, urls, strict=True):
                results[name].append(
                    wrk(
                        base + path,
                        method=method,
                        body=body,
                        threads=threads,
                        connections=connections,
                        seconds=seconds / rounds,
                        warmup=0,
                    )
                )
        rss = server.rss_mb()
        if profile:
            for name, path, method, body in TARGETS[1:]:
                found = profile_load(server, folder, profile, path, method, body, connections, gil)
                hot.append(f"\n-- profile of the node under {name} --\n{found}")

    ceil_runs, rest_runs, gql_runs = (results[name] for name, *_ in TARGETS)
    vs_ceiling = {
        name: [r.rps / c.rps for r, c in zip(runs, ceil_runs, strict=True)]
        for name, runs in results.items()
    }
    print(
        f"wrk -t{threads} -c{connections}, {rounds} rounds of {seconds / rounds:g} s each "
        f"(after a {warmup:g} s warm-up), medians; load average before: {load:.2f}"
    )
    rows = []
    for name, runs in results.items():
        ratios = vs_ceiling[name]
        note = "-"
        if name.startswith("REST"):
            note = target(statistics.median(ratios), 0.8)
        spread = f"{min(ratios):.2f}-{max(ratios):.2f}"
        rows.append(
            [
                name,
                statistics.median(r.rps for r in runs),
                statistics.median(r.p50_ms for r in runs),
                statistics.median(r.p99_ms for r in runs),
                sum(r.non_2xx + r.socket_errors for r in runs),
                statistics.median(ratios),
                spread,
                note,
            ]
        )
    headers = ["publish", "req/s", "p50 ms", "p99 ms", "errors", "vs ceiling", "rounds", "note"]
    print(table(headers, rows))
    per_round = [g.rps / r.rps for g, r in zip(gql_runs, rest_runs, strict=True)]
    ratio = statistics.median(per_round)
    print(
        f"GraphQL / REST publish: {ratio:.2f}, rounds {min(per_round):.2f}-{max(per_round):.2f} "
        f"({target(ratio, 0.3)})"
    )
    print(f"node RSS after the runs: {rss:.0f} MB")
    for summary in hot:
        print(summary)


# -- profile -----------------------------------------------------------------------------------


def profile_load(
    server: Process,
    folder: Path,
    seconds: float,
    path: str,
    method: str,
    body: object,
    connections: int,
    gil: bool = False,
) -> str:
    """Sample the node with py-spy while wrk sends requests; a summary of the hot spots."""
    out = folder / f"profile-{path.strip('/')}{'-gil' if gil else ''}.txt"
    with Profiler(server.pid, out, gil=gil) as profiler:
        wrk(
            server.url + path,
            method=method,
            body=body,
            threads=1,
            connections=connections,
            seconds=seconds,
            warmup=0,
        )
    return profiler.summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--profile", action="store_true", help="py-spy the node (extra runs)")
    parser.add_argument("--gil", action="store_true", help="profile: GIL-holding samples only")
    parser.add_argument("-t", "--threads", type=int, default=2)
    parser.add_argument("-c", "--connections", type=int, default=32)
    args = parser.parse_args()
    seconds, warmup, rounds = (4.0, 1.0, 2) if is_quick() else (9.0, 2.0, 3)
    run(
        threads=args.threads,
        connections=args.connections,
        seconds=seconds,
        warmup=warmup,
        rounds=rounds,
        profile=8.0 if args.profile else 0.0,
        gil=args.gil,
    )


if __name__ == "__main__":
    main()
