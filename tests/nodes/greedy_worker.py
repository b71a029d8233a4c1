"""A worker that takes tasks and never finishes them: run it, then kill -9 it.

    python tests/nodes/greedy_worker.py URL QUEUE COUNT [DEADLINE_SECONDS]

Registers on QUEUE, claims COUNT tasks with GET /task (polling while there are none), prints
one JSON line {"workerId": ..., "tasks": [...]} and then sleeps until killed. Exits with status
2 if it could not claim COUNT tasks before the deadline.
"""

from __future__ import annotations

import json
import sys
import time

import httpx


def main(url: str, queue: str, count: int, deadline_seconds: float = 20.0) -> int:
    deadline = time.monotonic() + deadline_seconds
    with httpx.Client(base_url=url, timeout=10) as client:
        reply = client.put("/worker", json={"queues": [queue]})
        reply.raise_for_status()
        worker_id = reply.json()["workerId"]
        claimed: list[dict[str, object]] = []
        while len(claimed) < count:
            if time.monotonic() > deadline:
                print(json.dumps({"error": f"claimed only {len(claimed)} of {count}"}), flush=True)
                return 2
            reply = client.get("/task", params={"workerId": worker_id})
            reply.raise_for_status()
            task = reply.json()
            if task is None:
                time.sleep(0.05)
                continue
            claimed.append({"taskId": task["taskId"], "attempts": task["attempts"]})
    print(json.dumps({"workerId": worker_id, "tasks": claimed}), flush=True)
    while True:  # "working" forever, until SIGKILL
        time.sleep(3600)


if __name__ == "__main__":
    args = sys.argv[1:]
    sys.exit(main(args[0], args[1], int(args[2]), *(float(a) for a in args[3:4])))
