"""Every REST route and every GraphQL operation, called by every role, by no token and by a
revoked one: the answer each gets, and that a refused call changed nothing.

The tables are generated from the app's routes list, the schema (introspection) and the role
table in resolvers/access.py: a route or field without a role entry, or without a sample call
here, fails."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from starlette.routing import Mount, Route

from app.asgi import create_app
from app.auth import ROUTE_OPERATIONS, is_open, route_operation
from resolvers.access import OPERATION_ROLES, Role, required_role
from tests.auth.conftest import CALLERS, World

W, T = "$worker", "$task"  # stand for the seeded worker's and task's ids

# One call per REST route: (method, path, query parameters).
REST_CALLS: dict[tuple[str, str], dict[str, Any]] = {
    ("PUT", "/task"): {"publisher": "p", "data": '{"n": 2}'},
    ("GET", "/task"): {"workerId": W},
    ("GET", "/task/result"): {"taskId": T},
    ("POST", "/task"): {"workerId": W, "taskId": T, "state": "complete"},
    ("DELETE", "/task"): {"queue": "q"},
    ("PUT", "/tasks"): {"tasks": '[{"publisher": "p", "data": {}}]'},
    ("POST", "/tasks"): {
        "workerId": W,
        "reports": json.dumps([{"taskId": "x", "state": "complete"}]),
    },
    ("PUT", "/worker"): {"queues": '["q"]'},
    ("DELETE", "/worker"): {"workerId": W},
    ("PUT", "/worker/heartbeat"): {"workerId": W},
    ("PUT", "/task/progress"): {"workerId": W, "taskId": T, "progress": "1"},
    ("PUT", "/interest"): {"queue": "q2", "interests": "*"},
    ("DELETE", "/interest"): {"queue": "q"},
    ("DELETE", "/queue"): {"queue": "q"},
    ("GET", "/status"): {},
    ("GET", "/metrics"): {},
    ("GET", "/"): {},
    ("GET", "/dashboard"): {},
    ("GET", "/dashboard/"): {},
    ("GET", "/dashboard/session"): {},
    ("POST", "/dashboard/session"): {},
    ("DELETE", "/dashboard/session"): {},
    ("GET", "/graphiql/"): {},
    ("GET", "/healthz"): {},
    ("GET", "/readyz"): {},
}

# What the routes open to all answer these calls, when not 200: the dashboard's redirects, and
# its sign-in routes (tests/auth/test_sessions.py), which no caller here has a cookie for and
# which refuse a POST without this server's Origin.
OPEN_ANSWERS: dict[tuple[str, str], int] = {
    ("GET", "/"): 307,
    ("GET", "/dashboard"): 307,
    ("GET", "/dashboard/session"): 401,
    ("POST", "/dashboard/session"): 403,
    ("GET", "/graphiql/"): 404,  # a folder of scripts, without an index
}

# One operation per root field.
GRAPHQL_CALLS: dict[str, str] = {
    "Query.tokens": "{ tokens { name } }",
    "Query.task": f'{{ task(id: "{T}") {{ taskId }} }}',
    "Query.tasks": "{ tasks { tasks { taskId } } }",
    "Query.searchTasks": '{ searchTasks(field: "n", value: "1") { tasks { taskId } } }',
    "Query.failedTasks": "{ failedTasks { tasks { taskId } } }",
    "Query.queues": "{ queues { name } }",
    "Query.queue": '{ queue(name: "q") { name } }',
    "Query.workers": "{ workers { workerId } }",
    "Query.worker": f'{{ worker(id: "{W}") {{ workerId }} }}',
    "Query.interests": "{ interests { queue } }",
    "Query.schedules": "{ schedules { name } }",
    "Query.stats": "{ stats { queue } }",
    "Query.statsTotals": "{ statsTotals { processed } }",
    "Query.status": "{ status { queues } }",
    "Query.workerQueue": f'{{ workerQueue(workerId: "{W}") {{ length }} }}',
    "Mutation.publishTask": 'mutation { publishTask(input: {publisher: "p", data: {n: 2}}) '
    "{ eventId } }",
    "Mutation.publishTasks": 'mutation { publishTasks(inputs: [{publisher: "p", data: {}}]) '
    "{ error { code } } }",
    "Mutation.completeTasks": f'mutation {{ completeTasks(workerId: "{W}", taskIds: ["x"]) '
    "{ error { code } } }",
    "Mutation.failTasks": f'mutation {{ failTasks(workerId: "{W}", failures: '
    '[{taskId: "x", reason: "r"}]) { error { code } } }',
    "Mutation.runTaskNow": f'mutation {{ runTaskNow(id: "{T}") {{ taskId }} }}',
    "Mutation.deleteTask": f'mutation {{ deleteTask(id: "{T}") }}',
    "Mutation.configureQueue": 'mutation { configureQueue(name: "q", leaseSeconds: 5) { name } }',
    "Mutation.pauseQueue": 'mutation { pauseQueue(name: "q") { name } }',
    "Mutation.resumeQueue": 'mutation { resumeQueue(name: "q") { name } }',
    "Mutation.retryFailed": 'mutation { retryFailed(queue: "q") }',
    "Mutation.removeFailed": 'mutation { removeFailed(queue: "q") }',
    "Mutation.createSchedule": 'mutation { createSchedule(input: {name: "s", cron: "* * * * *", '
    'publisher: "p", data: {}}) { name } }',
    "Mutation.setScheduleEnabled": 'mutation { setScheduleEnabled(name: "s", enabled: false) '
    "{ name } }",
    "Mutation.deleteSchedule": 'mutation { deleteSchedule(name: "s") }',
    "Mutation.deleteSchedules": 'mutation { deleteSchedules(names: ["s"]) }',
    "Mutation.createToken": 'mutation { createToken(name: "new", roles: ["viewer"]) { secret } }',
    "Mutation.revokeToken": 'mutation { revokeToken(name: "publisher") }',
    "Mutation.registerWorker": 'mutation { registerWorker(queues: ["q"]) { workerId } }',
    "Mutation.heartbeat": f'mutation {{ heartbeat(workerId: "{W}") {{ workerId }} }}',
    "Mutation.deleteWorker": f'mutation {{ deleteWorker(id: "{W}") }}',
    "Mutation.deleteWorkers": 'mutation { deleteWorkers(queue: "q") }',
    "Mutation.claimTask": f'mutation {{ claimTask(workerId: "{W}") {{ taskId }} }}',
    "Mutation.completeTask": f'mutation {{ completeTask(workerId: "{W}", taskId: "{T}") '
    "{ taskId } }",
    "Mutation.reportProgress": f'mutation {{ reportProgress(workerId: "{W}", taskId: "{T}", '
    "progress: 1) { taskId } }",
    "Mutation.failTask": f'mutation {{ failTask(workerId: "{W}", taskId: "{T}") {{ taskId }} }}',
    "Mutation.deleteTasks": 'mutation { deleteTasks(queue: "q") }',
    "Mutation.setInterests": 'mutation { setInterests(queue: "q2", interests: "*") { name } }',
    "Mutation.deleteInterests": 'mutation { deleteInterests(queue: "q") }',
    "Mutation.deleteQueue": 'mutation { deleteQueue(name: "q") }',
    "Subscription.tasks": f'subscription {{ tasks(workerId: "{W}") {{ taskId }} }}',
    "Subscription.taskBatches": f'subscription {{ taskBatches(workerId: "{W}") {{ taskId }} }}',
    "Subscription.events": "subscription { events { kind } }",
    "Subscription.taskUpdates": f'subscription {{ taskUpdates(taskId: "{T}") {{ taskId }} }}',
}

# Deprecated fields too: they still run, so they need a role like any other.
INTROSPECTION = (
    "{ __schema { queryType { fields(includeDeprecated: true) { name } } "
    "mutationType { fields(includeDeprecated: true) { name } } "
    "subscriptionType { fields(includeDeprecated: true) { name } } } }"
)


def app_routes() -> set[tuple[str, str]]:
    """(method, path) of every route the app serves (a mount: its index)."""
    found: set[tuple[str, str]] = set()
    for route in create_app().routes:
        if isinstance(route, Mount):
            found.add(("GET", route.path + "/"))
        elif isinstance(route, Route):
            found.update((m, route.path) for m in route.methods or () if m != "HEAD")
    return found


def test_every_route_has_a_role_and_a_call() -> None:
    routes = app_routes()
    rest = {r for r in routes if r[1] != "/graphql"}
    assert rest == set(REST_CALLS)
    for method, path in routes - {(m, p) for m, p in routes if is_open(p)}:
        assert (method, path) in ROUTE_OPERATIONS or route_operation(method, path), path
    named = {op for op in ROUTE_OPERATIONS.values() if op is not None}
    assert named <= set(OPERATION_ROLES)


async def test_every_graphql_field_has_a_role_and_a_call(world: World) -> None:
    reply = await world.graphql("admin", INTROSPECTION)
    schema = reply.json()["data"]["__schema"]
    fields = {
        f"{kind}.{field['name']}"
        for kind, key in (
            ("Query", "queryType"),
            ("Mutation", "mutationType"),
            ("Subscription", "subscriptionType"),
        )
        for field in schema[key]["fields"]
    }
    assert fields == set(GRAPHQL_CALLS)
    graphql_roles = {op for op in OPERATION_ROLES if "." in op}
    assert fields == graphql_roles


def _fill(text: str, world: World) -> str:
    return text.replace(W, world.worker_id).replace(T, world.task_id)


def _expect(caller: str, operation: str | None) -> str:
    if operation is None:
        return "open"
    if caller in ("none", "revoked"):
        return "401"
    if caller == Role.ADMIN or required_role(operation) == caller:
        return "allowed"
    return "403"


@pytest.mark.parametrize("route", sorted(REST_CALLS), ids=lambda r: f"{r[0]} {r[1]}")
async def test_rest_route_by_role(world: World, route: tuple[str, str]) -> None:
    method, path = route
    operation = None if is_open(path) else route_operation(method, path)
    params = {k: _fill(v, world) for k, v in REST_CALLS[route].items()}
    expected = {caller: _expect(caller, operation) for caller in CALLERS}
    callers = sorted(CALLERS, key=lambda c: expected[c] == "allowed")
    async with httpx.AsyncClient(base_url=world.server.http_url, timeout=10) as client:
        for caller in callers:
            before = await world.snapshot()
            reply = await client.request(method, path, params=params, headers=world.headers(caller))
            outcome = expected[caller]
            if outcome == "open":
                assert reply.status_code == OPEN_ANSWERS.get(route, 200), (caller, reply.text)
                continue
            if outcome == "allowed":
                assert reply.status_code not in (401, 403, 429), (caller, reply.text)
                continue
            code = {"401": "UNAUTHENTICATED", "403": "FORBIDDEN"}[outcome]
            assert reply.status_code == int(outcome), (caller, reply.text)
            assert reply.json()["error"]["code"] == code
            assert reply.json()["error"]["message"]
            assert await world.snapshot() == before, caller


@pytest.mark.parametrize(
    "operation", sorted(k for k in GRAPHQL_CALLS if not k.startswith("Subscription."))
)
async def test_graphql_field_by_role(world: World, operation: str) -> None:
    query = _fill(GRAPHQL_CALLS[operation], world)
    expected = {caller: _expect(caller, operation) for caller in CALLERS}
    for caller in sorted(CALLERS, key=lambda c: expected[c] == "allowed"):
        before = await world.snapshot()
        reply = await world.graphql(caller, query)
        outcome = expected[caller]
        codes = [e["extensions"]["code"] for e in reply.json().get("errors") or []]
        if outcome == "allowed":
            assert reply.status_code == 200, (caller, reply.text)
            assert not {"FORBIDDEN", "UNAUTHENTICATED"} & set(codes), (caller, reply.text)
            continue
        if outcome == "401":
            assert reply.status_code == 401, (caller, reply.text)
            assert codes == ["UNAUTHENTICATED"]
        else:
            assert reply.status_code == 200, (caller, reply.text)
            assert codes == ["FORBIDDEN"], (caller, reply.text)
        assert await world.snapshot() == before, caller


@pytest.mark.parametrize("operation", sorted(k for k in GRAPHQL_CALLS if k.startswith("Sub")))
async def test_subscription_by_role(world: World, operation: str) -> None:
    query = _fill(GRAPHQL_CALLS[operation], world)
    for caller in CALLERS:
        expected = _expect(caller, operation)
        before = await world.snapshot()
        socket = await world.socket(caller)
        try:
            if expected == "401":
                reply = json.loads(await asyncio.wait_for(socket.recv(), 5))
                raise AssertionError(f"{caller}: expected a 4403 close, got {reply}")
        except Exception as exc:  # the close, as websockets reports it
            assert getattr(exc, "rcvd", None) is not None and exc.rcvd.code == 4403, exc  # type: ignore[attr-defined]
            await socket.close()
            assert await world.snapshot() == before
            continue
        try:
            ack = json.loads(await asyncio.wait_for(socket.recv(), 5))
            assert ack["type"] == "connection_ack", ack
            payload = {"query": query}
            await socket.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
            try:
                message = json.loads(await asyncio.wait_for(socket.recv(), 0.5))
            except TimeoutError:
                message = {"type": "quiet"}
            if expected == "403":
                assert message["type"] in ("error", "next"), (caller, message)
                errors = (
                    message["payload"]
                    if message["type"] == "error"
                    else (message["payload"].get("errors") or [])
                )
                assert [e["extensions"]["code"] for e in errors] == ["FORBIDDEN"], message
                assert await world.snapshot() == before, caller
            else:
                assert "FORBIDDEN" not in json.dumps(message), (caller, message)
        finally:
            await socket.close()
