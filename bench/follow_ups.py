"""A pipeline step's hand-over, measured in one run on one SQLite node (issue 16): claim and
complete a task, sequentially over keep-alive HTTP,

plain       POST /task state=complete
follow-up   POST /task state=complete with result and publish=[one event] (the next step's
            task written in the completion's transaction)
two calls   POST /task state=complete, then PUT /task of the next step's event (what a worker
            did before: a gap between the two where a crash loses the next step)

Rounds alternate (one task of each kind per round), so the machine's load falls on all three
alike. Ratios: follow-up / plain (what the follow-up costs a completion) and follow-up /
two calls (target >= 1: one request instead of two).

  python -m bench.follow_ups [--quick] [--count N]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from bench.support import Http, is_quick, node, table, target, temp_dir

NEXT = {"publisher": "bench", "data": {"step": 2, "user": 123}}


def run(url: str, count: int) -> dict[str, float]:
    http = Http(url)
    http.call("PUT", "/interest", {"queue": "step1", "interests": {"step": "^1$"}})
    http.call("PUT", "/interest", {"queue": "step2", "interests": {"step": "^2$"}})
    worker = http.call("PUT", "/worker", {"queues": ["step1"], "name": "bench"})["workerId"]
    http.call("PUT", "/tasks", [{"publisher": "bench", "data": {"step": 1}}] * (3 * count + 30))

    def claim() -> str:
        return str(http.call("GET", f"/task?workerId={worker}")["taskId"])

    def plain(task_id: str) -> None:
        http.call("POST", "/task", {"workerId": worker, "taskId": task_id, "state": "complete"})

    def follow_up(task_id: str) -> None:
        body = {"workerId": worker, "taskId": task_id, "state": "complete"}
        http.call("POST", "/task", {**body, "result": {"ok": True}, "publish": [NEXT]})

    def two_calls(task_id: str) -> None:
        plain(task_id)
        http.call("PUT", "/task", NEXT)

    kinds: dict[str, Callable[[str], None]] = {
        "plain": plain,
        "follow-up": follow_up,
        "two calls": two_calls,
    }
    spent = dict.fromkeys(kinds, 0.0)
    for n in range(count + 10):
        for name, complete in kinds.items():
            started = time.perf_counter()
            complete(claim())
            if n >= 10:  # warm-up rounds are not counted
                spent[name] += time.perf_counter() - started
    http.close()
    return {name: count / seconds for name, seconds in spent.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=0, help="tasks of each kind")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    count = args.count or (300 if is_quick() else 1500)
    with temp_dir("follow-ups") as folder, node(folder / "bench.db", folder / "node.log") as server:
        rates = run(server.url, count)
    print(f"\nPipeline hand-over: claim + complete, {count} of each, sequential, one SQLite node")
    print(table(["kind", "claims+completions/s"], [[k, v] for k, v in rates.items()]))
    per_plain = rates["follow-up"] / rates["plain"]
    per_two = rates["follow-up"] / rates["two calls"]
    print(f"follow-up / plain: {per_plain:.2f}")
    print(f"follow-up / two calls: {per_two:.2f} ({target(per_two, 1.0)})")


if __name__ == "__main__":
    main()
