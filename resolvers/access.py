"""Who may do what: roles, the callers that hold them, and the one table of which operation
needs which role.

Operations are named by their GraphQL coordinates (``Mutation.publishTask``), the API's full
and stable set of names; each REST route maps to one of them (app/auth.py), and a resource that
GraphQL has no field for has a name of its own (``metrics``). A name missing from the table
needs ``admin``: a new operation is closed until it is given a role.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Role(StrEnum):
    """What a token may do. A token may hold several; ``admin`` may do everything."""

    PUBLISHER = "publisher"
    WORKER = "worker"
    VIEWER = "viewer"
    ADMIN = "admin"


@dataclass(slots=True)
class ApiToken:
    """A bearer token as stored: the SHA-256 of its secret, never the secret itself."""

    name: str
    secret_hash: str
    roles: list[str]
    created_at: float
    last_used_at: float | None = None


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling, once auth is on: the token's name and roles. A caller with no name and
    no role is a connection that has not shown a token yet (a websocket before its
    connection_init)."""

    name: str | None
    roles: frozenset[Role] = field(default_factory=frozenset)

    @property
    def is_admin(self) -> bool:
        return Role.ADMIN in self.roles


NOBODY = Caller(name=None)

_VIEWER_QUERIES = (
    "task",
    "tasks",
    "searchTasks",
    "failedTasks",
    "queues",
    "queue",
    "workers",
    "worker",
    "interests",
    "schedules",
    "stats",
    "statsTotals",
    "status",
    "workerQueue",
)
_WORKER_MUTATIONS = (
    "registerWorker",
    "heartbeat",
    "deleteWorker",
    "claimTask",
    "completeTask",
    "failTask",
    "completeTasks",
    "failTasks",
    "reportProgress",
)
_ADMIN_MUTATIONS = (
    "deleteWorkers",
    "deleteTasks",
    "setInterests",
    "deleteInterests",
    "deleteQueue",
    "runTaskNow",
    "deleteTask",
    "configureQueue",
    "pauseQueue",
    "resumeQueue",
    "retryFailed",
    "removeFailed",
    "createSchedule",
    "setScheduleEnabled",
    "deleteSchedule",
    "deleteSchedules",
    "createToken",
    "revokeToken",
)

# The role table: the one role (besides admin) that allows each operation.
OPERATION_ROLES: dict[str, Role] = {
    "Mutation.publishTask": Role.PUBLISHER,
    "Mutation.publishTasks": Role.PUBLISHER,
    **{f"Mutation.{name}": Role.WORKER for name in _WORKER_MUTATIONS},
    "Subscription.tasks": Role.WORKER,
    "Subscription.taskBatches": Role.WORKER,
    **{f"Query.{name}": Role.VIEWER for name in _VIEWER_QUERIES},
    "Subscription.events": Role.VIEWER,
    # Waiting for a task's outcome reads the task, as Query.task does.
    "Subscription.taskUpdates": Role.VIEWER,
    "metrics": Role.VIEWER,
    **{f"Mutation.{name}": Role.ADMIN for name in _ADMIN_MUTATIONS},
    "Query.tokens": Role.ADMIN,
}


def required_role(operation: str) -> Role:
    """The role an operation needs (admin for an operation the table does not name)."""
    return OPERATION_ROLES.get(operation, Role.ADMIN)


def allowed(caller: Caller, operation: str) -> bool:
    """Whether the caller's roles allow the operation."""
    return caller.is_admin or required_role(operation) in caller.roles


def parse_roles(values: list[str]) -> frozenset[Role]:
    """Stored role names as Roles; a name this server does not know is ignored (fail closed)."""
    known = {role.value for role in Role}
    return frozenset(Role(v) for v in values if v in known)
