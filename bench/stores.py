"""SQLite beside Couchbase: REST publish throughput and end-to-end push throughput, one node
over each store, measured in the same run.

The Couchbase figures are those of tests/couchbase_node — the small single-process KV node the
test suite starts so that the real SDK can be exercised here — not of a Couchbase cluster:
they show what the store's extra round trips cost, not what a real deployment does.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

from bench.end_to_end import QUEUE
from bench.support import HOST, PUBLISH_BODY, Http, Process, fill, table, temp_dir, wrk
from tests.couchbase_node.launcher import running_node

USER, PASSWORD, BUCKET = "bench", "bench-password", "bench"


def serve(store_url: str, folder: Path, name: str) -> Process:
    command = [sys.executable, "-m", "app", "serve", "--host", HOST, "--port", "{port}"]
    command += ["--store", store_url]
    env = {"COUCHQUEUE_COUCHBASE_USER": USER, "COUCHQUEUE_COUCHBASE_PASSWORD": PASSWORD}
    return Process(command, folder / f"{name}.log").start(env=env)


def end_to_end(url: str, count: int) -> float:
    """Tasks per second a couchqueue_client push worker drains, publish to complete."""
    Http(url).call("PUT", "/interest", {"queue": QUEUE, "interests": "*"})
    fill(url, count)
    command = [sys.executable, "-m", "bench.end_to_end", "--child", "client push"]
    command += ["--url", url, "--count", str(count)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    line = next((x for x in done.stdout.splitlines() if x.startswith("RESULT ")), None)
    if line is None:
        raise RuntimeError(f"worker failed:\n{done.stdout}\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(line[len("RESULT ") :])
    return count / result["handled"]


def run(seconds: float, count: int) -> None:
    load = os.getloadavg()[0]
    rows = []
    with (
        temp_dir("stores") as folder,
        running_node(bucket=BUCKET, user=USER, password=PASSWORD) as port,
    ):
        stores = {
            "sqlite": f"sqlite:///{folder / 'bench.db'}",
            "couchbase (test node)": f"couchbase://127.0.0.1:{port}/{BUCKET}?prefix=b{uuid.uuid4().hex[:8]}",
        }
        for name, store_url in stores.items():
            server = serve(store_url, folder, name.split()[0])
            try:
                Http(server.url).call("PUT", "/interest", {"queue": "publish", "interests": "*"})
                published = wrk(
                    server.url + "/task",
                    method="PUT",
                    body=PUBLISH_BODY,
                    threads=2,
                    connections=16,
                    seconds=seconds,
                    warmup=1.0,
                )
                rows.append(
                    [
                        name,
                        published.rps,
                        published.p50_ms,
                        published.p99_ms,
                        end_to_end(server.url, count),
                    ]
                )
            finally:
                server.stop()
    print(
        f"one node per store, wrk -t2 -c16 for {seconds:g} s; {count:,} tasks end to end; "
        f"load average before: {load:.2f}"
    )
    print(table(["store", "publish req/s", "p50 ms", "p99 ms", "push tasks/s"], rows))
    print("couchbase figures: the test node of tests/couchbase_node, not a Couchbase cluster")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    run(seconds=3.0 if args.quick else 6.0, count=300 if args.quick else 1000)


if __name__ == "__main__":
    main()
