"""One API, two transports: every scenario test runs through REST and through GraphQL.

Both clients answer in the REST reply shapes, so a test body is written once; errors raise
ApiError with the code, the parameter named and (for REST) the HTTP status.
"""

from __future__ import annotations

from typing import Any

import httpx

TASK_FIELDS = (
    "taskId eventId queue workerId publisher data runAt scope singularlyEnqueue singularlyRun "
    "state attempts createdAt startedAt finishedAt leaseUntil failReason failures { reason at } "
    "result progress parentTaskId"
)
SCHEDULE_FIELDS = (
    "name cron timezone publisher data scope singularlyEnqueue singularlyRun uniqueKey enabled "
    "nextRunAt lastRunAt createdAt"
)
SETTINGS_FIELDS = "leaseSeconds maxDeliveries retry { limit delays base factor max jitter }"
STATS_FIELDS = "queue minute published started completed failed retried leaseExpired"
QUEUE_FIELDS = (
    "name exists length paused workers interests latencySeconds "
    "counts { scheduled queued started completed failed }"
)


class ApiError(Exception):
    def __init__(self, code: str, param: str | None, status: int, message: str) -> None:
        super().__init__(f"{status} {code} ({param}): {message}")
        self.code, self.param, self.status, self.message = code, param, status, message


def _flatten_queue(queue: dict[str, Any]) -> dict[str, Any]:
    counts = queue.pop("counts")
    return {**queue, **counts}


ARGUMENT_TYPES = {
    "taskId": "ID",
    "queue": "String",
    "publisher": "String",
    "reason": "String",
    "since": "Float",
    "until": "Float",
    "first": "Int",
    "after": "String",
}


def operation(kind: str, field: str, arguments: dict[str, Any], selection: str = "") -> str:
    """A GraphQL operation passing each argument as a variable of its declared type."""
    declared = ", ".join(f"${k}: {ARGUMENT_TYPES[k]}" for k in arguments)
    passed = ", ".join(f"{k}: ${k}" for k in arguments)
    head = f"{kind}({declared})" if arguments else kind
    call = f"{field}({passed})" if arguments else field
    return f"{head} {{ {call} {selection} }}"


class AdminOperations:
    """Operations the seed's REST API has no route for: both clients send them as GraphQL."""

    http: httpx.AsyncClient

    async def graphql(self, query: str, **variables: Any) -> Any:
        reply = await self.http.post("/graphql", json={"query": query, "variables": variables})
        body = reply.json()
        if body.get("errors"):
            error = body["errors"][0]
            extensions = error.get("extensions") or {}
            code = extensions.get("code", "NO_CODE")
            raise ApiError(code, extensions.get("param"), reply.status_code, error["message"])
        assert reply.status_code == 200, body
        return body["data"]

    async def configure_queue(self, name: str, **settings: Any) -> dict[str, Any]:
        names = {
            "leaseSeconds": "Float",
            "maxDeliveries": "Int",
            "retryLimit": "Int",
            "retryDelays": "[Float!]",
            "backoffBase": "Float",
            "backoffFactor": "Float",
            "backoffMax": "Float",
            "backoffJitter": "Float",
        }
        declared = "".join(f", ${k}: {names[k]}" for k in settings)
        passed = "".join(f", {k}: ${k}" for k in settings)
        q = (
            f"mutation($name: String!{declared}) {{ configureQueue(name: $name{passed}) "
            f"{{ name paused settings {{ {SETTINGS_FIELDS} }} }} }}"
        )
        return (await self.graphql(q, name=name, **settings))["configureQueue"]

    async def pause(self, name: str) -> dict[str, Any]:
        q = "mutation($n: String!) { pauseQueue(name: $n) { name paused } }"
        return (await self.graphql(q, n=name))["pauseQueue"]

    async def resume(self, name: str) -> dict[str, Any]:
        q = "mutation($n: String!) { resumeQueue(name: $n) { name paused } }"
        return (await self.graphql(q, n=name))["resumeQueue"]

    async def retry_failed(self, **where: Any) -> int:
        return await self._failed_action("retryFailed", where)

    async def remove_failed(self, **where: Any) -> int:
        return await self._failed_action("removeFailed", where)

    async def _failed_action(self, name: str, where: dict[str, Any]) -> int:
        return (await self.graphql(operation("mutation", name, where), **where))[name]

    async def failed_where(self, **where: Any) -> list[dict[str, Any]]:
        q = operation("query", "failedTasks", where, f"{{ tasks {{ {TASK_FIELDS} }} }}")
        return (await self.graphql(q, **where))["failedTasks"]["tasks"]

    async def create_schedule(self, **schedule: Any) -> dict[str, Any]:
        q = (
            "mutation($input: ScheduleInput!) { createSchedule(input: $input) "
            f"{{ {SCHEDULE_FIELDS} }} }}"
        )
        return (await self.graphql(q, input=schedule))["createSchedule"]

    async def schedules(self) -> list[dict[str, Any]]:
        return (await self.graphql(f"{{ schedules {{ {SCHEDULE_FIELDS} }} }}"))["schedules"]

    async def set_schedule_enabled(self, name: str, enabled: bool) -> dict[str, Any]:
        q = (
            "mutation($n: String!, $e: Boolean!) { setScheduleEnabled(name: $n, enabled: $e) "
            f"{{ {SCHEDULE_FIELDS} }} }}"
        )
        return (await self.graphql(q, n=name, e=enabled))["setScheduleEnabled"]

    async def delete_schedule(self, name: str) -> bool:
        q = "mutation($n: String!) { deleteSchedule(name: $n) }"
        return (await self.graphql(q, n=name))["deleteSchedule"]

    async def stats(self, **where: Any) -> list[dict[str, Any]]:
        q = operation("query", "stats", where, f"{{ {STATS_FIELDS} }}")
        return (await self.graphql(q, **where))["stats"]

    async def worker_detail(self, worker_id: str) -> dict[str, Any]:
        selection = f"{{ workerId lastSeen tasks {{ {TASK_FIELDS} }} }}"
        q = f"query($id: ID!) {{ worker(id: $id) {selection} }}"
        return (await self.graphql(q, id=worker_id))["worker"]


class RestApi(AdminOperations):
    transport = "rest"

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def heartbeat(self, worker_id: str, task_ids: list[str] | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"workerId": worker_id}
        if task_ids is not None:
            body["taskIds"] = task_ids
        return await self.call("PUT", "/worker/heartbeat", json=body)

    async def publish_many(self, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return await self.call("PUT", "/tasks", json=events)

    async def report_many(self, worker_id: str, reports: list[dict[str, Any]]) -> list[Any]:
        return await self.call("POST", "/tasks", json={"workerId": worker_id, "reports": reports})

    async def call(self, method: str, path: str, **kw: Any) -> Any:
        reply = await self.http.request(method, path, **kw)
        body = reply.json()
        if reply.status_code >= 400:
            error = body["error"]
            raise ApiError(error["code"], error.get("param"), reply.status_code, error["message"])
        return body

    async def set_interests(self, queue: str, interests: Any) -> dict[str, Any]:
        return await self.call("PUT", "/interest", json={"queue": queue, "interests": interests})

    async def delete_interests(self, queue: str) -> int:
        return (await self.call("DELETE", "/interest", params={"queue": queue}))["deleted"]

    async def register_worker(self, queues: list[str], name: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"queues": queues}
        if name is not None:
            body["name"] = name
        return await self.call("PUT", "/worker", json=body)

    async def delete_worker(self, worker_id: str) -> int:
        return (await self.call("DELETE", "/worker", params={"workerId": worker_id}))["deleted"]

    async def delete_workers(self, queue: str) -> int:
        return (await self.call("DELETE", "/worker", params={"queue": queue}))["deleted"]

    async def publish(self, publisher: str, data: Any, **options: Any) -> dict[str, Any]:
        return await self.call(
            "PUT", "/task", json={"publisher": publisher, "data": data, **options}
        )

    async def claim(self, worker_id: str) -> dict[str, Any] | None:
        return await self.call("GET", "/task", params={"workerId": worker_id})

    async def claim_waiting(self, worker_id: str, wait: Any) -> dict[str, Any] | None:
        params = {"workerId": worker_id, "waitSeconds": wait}
        return await self.call("GET", "/task", params=params)

    async def complete(self, worker_id: str, task_id: str, **options: Any) -> dict[str, Any]:
        body = {"workerId": worker_id, "taskId": task_id, "state": "complete", **options}
        return await self.call("POST", "/task", json=body)

    async def fail(
        self, worker_id: str, task_id: str, reason: str | None = None, **options: Any
    ) -> dict[str, Any]:
        body = {"workerId": worker_id, "taskId": task_id, "state": "fail", **options}
        if reason is not None:
            body["failReason"] = reason
        return await self.call("POST", "/task", json=body)

    async def delete_tasks(self, queue: str | None = None, worker_id: str | None = None) -> int:
        params = {k: v for k, v in (("queue", queue), ("workerId", worker_id)) if v is not None}
        return (await self.call("DELETE", "/task", params=params))["deleted"]

    async def delete_queue(self, queue: str) -> int:
        return (await self.call("DELETE", "/queue", params={"queue": queue}))["tasks"]

    async def status(self, **options: str) -> dict[str, Any]:
        return await self.call("GET", "/status", params=options)

    async def task(self, task_id: str) -> dict[str, Any]:
        return (await self.status(task=task_id))["task"]

    async def queue(self, name: str) -> dict[str, Any]:
        found = (await self.status(queue=name))["queue"]
        return {k: v for k, v in found.items() if k != "settings"}

    async def queues(self) -> list[dict[str, Any]]:
        return (await self.status(queues=""))["queues"]

    async def workers(self, queue: str | None = None) -> list[dict[str, Any]]:
        found = (await self.status(workers=queue or ""))["workers"]
        return [{k: w[k] for k in ("workerId", "name", "queues")} for w in found]

    async def interests(self, queue: str | None = None) -> dict[str, Any]:
        return (await self.status(interests=queue or ""))["interests"]

    async def failed(self, queue: str | None = None) -> list[dict[str, Any]]:
        return (await self.status(failedQueue=queue or ""))["failedQueue"]["tasks"]

    async def worker_queue(self, worker_id: str) -> int:
        return (await self.status(workerQueue=worker_id))["workerQueue"]["length"]

    async def summary(self) -> dict[str, Any]:
        return await self.status()


class GraphQLApi(AdminOperations):
    transport = "graphql"

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def call(self, query: str, **variables: Any) -> Any:
        return await self.graphql(query, **variables)

    async def publish_many(self, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        q = (
            "mutation($in: [PublishTaskInput!]!) { publishTasks(inputs: $in) { "
            "result { eventId discarded tasks { taskId queue workerId state } "
            "skipped { queue workerId reason } } error { code message param } } }"
        )
        outcomes = (await self.call(q, **{"in": events}))["publishTasks"]
        return [o["result"] if o["error"] is None else {"error": o["error"]} for o in outcomes]

    async def report_many(self, worker_id: str, reports: list[dict[str, Any]]) -> list[Any]:
        """Complete or fail several tasks: one mutation per state, answers in request order."""
        answers: dict[int, Any] = {}
        for state, field in (("complete", "completeTasks"), ("fail", "failTasks")):
            picked = [(i, r) for i, r in enumerate(reports) if r["state"] == state]
            if not picked:
                continue
            selection = f"{{ task {{ {TASK_FIELDS} }} error {{ code message param }} }}"
            if state == "complete" and any("result" in r or "publish" in r for _, r in picked):
                q = (
                    f"mutation($w: ID!, $c: [CompletionInput!]!) {{ {field}(workerId: $w, "
                    f"completions: $c) {selection} }}"
                )
                keys = ("taskId", "result", "publish", "reEnqueue")
                completions = [{k: r[k] for k in keys if k in r} for _, r in picked]
                found = await self.call(q, w=worker_id, c=completions)
            elif state == "complete":
                q = (
                    f"mutation($w: ID!, $t: [ID!]!) {{ {field}(workerId: $w, taskIds: $t) "
                    f"{selection} }}"
                )
                found = await self.call(q, w=worker_id, t=[r["taskId"] for _, r in picked])
            else:
                q = (
                    f"mutation($w: ID!, $f: [FailureInput!]!) {{ {field}(workerId: $w, "
                    f"failures: $f) {selection} }}"
                )
                failures = [
                    {
                        "taskId": r["taskId"],
                        "reason": r.get("failReason"),
                        "reEnqueue": r.get("reEnqueue"),
                    }
                    for _, r in picked
                ]
                found = await self.call(q, w=worker_id, f=failures)
            for (i, _), o in zip(picked, found[field], strict=True):
                answers[i] = o["task"] if o["error"] is None else {"error": o["error"]}
        return [answers[i] for i in range(len(reports))]

    async def heartbeat(self, worker_id: str, task_ids: list[str] | None = None) -> dict[str, Any]:
        q = (
            "mutation($w: ID!, $t: [ID!]) "
            "{ heartbeat(workerId: $w, taskIds: $t) { workerId lastSeen } }"
        )
        return (await self.call(q, w=worker_id, t=task_ids))["heartbeat"]

    async def set_interests(self, queue: str, interests: Any) -> dict[str, Any]:
        q = (
            "mutation($q: String!, $i: JSON!) "
            "{ setInterests(queue: $q, interests: $i) { name interests } }"
        )
        found = (await self.call(q, q=queue, i=interests))["setInterests"]
        return {"queue": found["name"], "interests": found["interests"]}

    async def delete_interests(self, queue: str) -> int:
        q = "mutation($q: String!) { deleteInterests(queue: $q) }"
        return (await self.call(q, q=queue))["deleteInterests"]

    async def register_worker(self, queues: list[str], name: str | None = None) -> dict[str, Any]:
        q = (
            "mutation($q: [String!]!, $n: String) "
            "{ registerWorker(queues: $q, name: $n) { workerId queues name } }"
        )
        return (await self.call(q, q=queues, n=name))["registerWorker"]

    async def delete_worker(self, worker_id: str) -> int:
        q = "mutation($id: ID!) { deleteWorker(id: $id) }"
        return (await self.call(q, id=worker_id))["deleteWorker"]

    async def delete_workers(self, queue: str) -> int:
        q = "mutation($q: String!) { deleteWorkers(queue: $q) }"
        return (await self.call(q, q=queue))["deleteWorkers"]

    async def publish(self, publisher: str, data: Any, **options: Any) -> dict[str, Any]:
        q = (
            "mutation($input: PublishTaskInput!) { publishTask(input: $input) { eventId discarded "
            "tasks { taskId queue workerId state } skipped { queue workerId reason } } }"
        )
        payload = {"publisher": publisher, "data": data, **options}
        return (await self.call(q, input=payload))["publishTask"]

    async def claim(self, worker_id: str) -> dict[str, Any] | None:
        q = f"mutation($w: ID!) {{ claimTask(workerId: $w) {{ {TASK_FIELDS} }} }}"
        return (await self.call(q, w=worker_id))["claimTask"]

    async def claim_waiting(self, worker_id: str, wait: Any) -> dict[str, Any] | None:
        q = (
            "mutation($w: ID!, $s: Float) { claimTask(workerId: $w, waitSeconds: $s) "
            f"{{ {TASK_FIELDS} }} }}"
        )
        return (await self.call(q, w=worker_id, s=wait))["claimTask"]

    async def complete(self, worker_id: str, task_id: str, **options: Any) -> dict[str, Any]:
        q = (
            "mutation($w: ID!, $t: ID!, $r: Boolean, $result: JSON, "
            "$publish: [PublishTaskInput!]) { completeTask(workerId: $w, taskId: $t, "
            f"reEnqueue: $r, result: $result, publish: $publish) {{ {TASK_FIELDS} }} }}"
        )
        found = await self.call(
            q,
            w=worker_id,
            t=task_id,
            r=options.get("reEnqueue"),
            result=options.get("result"),
            publish=options.get("publish"),
        )
        return found["completeTask"]

    async def fail(
        self, worker_id: str, task_id: str, reason: str | None = None, **options: Any
    ) -> dict[str, Any]:
        q = (
            "mutation($w: ID!, $t: ID!, $why: String, $r: Boolean) { failTask(workerId: $w, "
            f"taskId: $t, reason: $why, reEnqueue: $r) {{ {TASK_FIELDS} }} }}"
        )
        found = await self.call(q, w=worker_id, t=task_id, why=reason, r=options.get("reEnqueue"))
        return found["failTask"]

    async def delete_tasks(self, queue: str | None = None, worker_id: str | None = None) -> int:
        q = "mutation($q: String, $w: ID) { deleteTasks(queue: $q, workerId: $w) }"
        return (await self.call(q, q=queue, w=worker_id))["deleteTasks"]

    async def delete_queue(self, queue: str) -> int:
        q = "mutation($q: String!) { deleteQueue(name: $q) }"
        return (await self.call(q, q=queue))["deleteQueue"]

    async def task(self, task_id: str) -> dict[str, Any]:
        q = f"query($id: ID!) {{ task(id: $id) {{ {TASK_FIELDS} }} }}"
        return (await self.call(q, id=task_id))["task"]

    async def queue(self, name: str) -> dict[str, Any]:
        q = f"query($n: String!) {{ queue(name: $n) {{ {QUEUE_FIELDS} }} }}"
        return _flatten_queue((await self.call(q, n=name))["queue"])

    async def queues(self) -> list[dict[str, Any]]:
        q = f"{{ queues {{ {QUEUE_FIELDS} }} }}"
        return [_flatten_queue(x) for x in (await self.call(q))["queues"]]

    async def workers(self, queue: str | None = None) -> list[dict[str, Any]]:
        q = "query($q: String) { workers(queue: $q) { workerId name queues } }"
        return (await self.call(q, q=queue))["workers"]

    async def interests(self, queue: str | None = None) -> dict[str, Any]:
        q = "query($q: String) { interests(queue: $q) { queue interests } }"
        return {x["queue"]: x["interests"] for x in (await self.call(q, q=queue))["interests"]}

    async def failed(self, queue: str | None = None) -> list[dict[str, Any]]:
        q = f"query($q: String) {{ failedTasks(queue: $q) {{ tasks {{ {TASK_FIELDS} }} }} }}"
        return (await self.call(q, q=queue))["failedTasks"]["tasks"]

    async def worker_queue(self, worker_id: str) -> int:
        q = "query($w: ID!) { workerQueue(workerId: $w) { length } }"
        return (await self.call(q, w=worker_id))["workerQueue"]["length"]

    async def summary(self) -> dict[str, Any]:
        q = "{ status { queues workers counts { scheduled queued started completed failed } } }"
        found = (await self.call(q))["status"]
        return {"queues": found["queues"], "workers": found["workers"], "tasks": found["counts"]}


Api = RestApi | GraphQLApi
