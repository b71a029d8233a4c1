"""A worker built on couchqueue_client, run as its own process by the tests.

    python -m tests.client.worker_script URL QUEUE MODE CONCURRENCY BEHAVIOUR

BEHAVIOUR: "hang" (handlers never return), "sleep:SECONDS" (return after that long) or "die" (the
process kills itself, SIGKILL, on receiving a task: a task that kills its worker).
Stops gracefully on SIGTERM / SIGINT (Worker.run_forever).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys

from couchqueue_client import Task, Worker


def main(url: str, queue: str, mode: str, concurrency: str, behaviour: str) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")

    async def handler(task: Task) -> None:
        print(f"started {task.task_id}", flush=True)
        if behaviour == "die":
            os.kill(os.getpid(), signal.SIGKILL)
        if behaviour == "hang":
            await asyncio.Event().wait()
        await asyncio.sleep(float(behaviour.removeprefix("sleep:")))

    worker = Worker(
        url,
        [queue],
        handler,
        concurrency=int(concurrency),
        mode="poll" if mode == "poll" else "push",
        heartbeat_interval=0.5,
        poll_interval=0.05,
        max_backoff=0.5,
    )
    worker.run_forever()


if __name__ == "__main__":
    main(*sys.argv[1:])
