"""The Store protocol: the engine's one, narrow port to storage.

Every queue rule lives in resolvers/; a store only keeps data and offers the few atomic steps the
rules cannot do safely from outside (a claim, a uniqueness check, a compare-and-set). Each step is
designed to be doable with Couchbase key-value operations and CAS as well as with SQL: see
docs/stores.md for how each backend does each method.

Conventions for every method:
- Times are unix seconds (float) passed in by the caller; a store never reads a clock, so rules
  stay testable with an injected one.
- A store raises only :class:`resolvers.errors.CouchQueueError` subclasses (StoreUnavailable for
  driver failures); its driver's exceptions never escape.
- "Atomic" means: no other caller, in this process or any other process sharing the store, sees
  the step half done, and two concurrent steps never both succeed where one excludes the other.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from resolvers.access import ApiToken
from resolvers.models import (
    ClaimRequest,
    Interests,
    Queue,
    QueueLimits,
    QueueSettings,
    Replaced,
    Schedule,
    StatsRow,
    Task,
    TaskChange,
    TaskCounts,
    TaskFilter,
    TaskPage,
    Worker,
)


class Store(Protocol):
    # Whether change_stamps tells lanes apart (a lane's stamp changes only with writes that may
    # concern it, or with a queue record) rather than one coarse stamp for every lane.
    change_stamps_per_lane: bool

    # -- lifecycle ---------------------------------------------------------------------------

    async def close(self) -> None:
        """Release connections and stop background threads. Committed writes stay committed."""

    async def ping(self) -> None:
        """Return if the store answers a trivial read; raise StoreUnavailable otherwise."""

    async def ready(self, thorough: bool = False) -> None:
        """Return if the store can take a write now; raise StoreUnavailable otherwise (a
        StoreNotReady naming the reason and the store when it is known). A real, tiny write
        (a health record only this method touches), not a guess. ``thorough`` also checks the
        stored data's integrity where the backend can, which may take time proportional to
        the store's size: callers bound how often they ask for it."""

    # -- queues and interests ----------------------------------------------------------------

    async def queues_version(self) -> int:
        """A stamp that changes whenever any queue record changes (interests, paused, settings,
        creation, deletion).

        Once a write that changes a queue has returned, every later call, from any process
        sharing the store, returns the new stamp. Cheap: engines call it on every publish and
        claim to know whether their cached copy of the queues is still current.
        """

    async def list_queues(self) -> list[Queue]:
        """Every queue record, ordered by name. Consistent with the stamp read before it or a
        later one."""

    async def put_interests(
        self, name: str, interests: Interests, now: float, settings: QueueSettings
    ) -> Queue:
        """Replace the queue's interests, creating the queue (created_at=now, with ``settings``:
        the server's defaults) if it does not exist; an existing queue keeps its settings.
        Atomic, and changes queues_version. Returns the record written."""

    async def clear_interests(self, name: str) -> bool:
        """Set the queue's interests to none (the queue stays). False if the queue does not
        exist or had none. Changes queues_version when it changes anything."""

    async def update_queue(
        self, name: str, *, paused: bool | None = None, settings: QueueSettings | None = None
    ) -> Queue | None:
        """Change the given fields of an existing queue atomically; None if it does not exist.
        Changes queues_version."""

    async def delete_queue(self, name: str) -> int | None:
        """Delete the queue record with its interests, and the queue's waiting (queued or
        scheduled) and failed tasks; started and completed tasks stay until finished or purged.
        Returns how many tasks were removed, or None if the queue did not exist. The record goes
        first, so a publish never adds to a queue past its deletion; changes queues_version."""

    # -- workers -----------------------------------------------------------------------------

    async def add_worker(self, worker: Worker) -> None:
        """Record a new worker. Its id is new (the engine makes it), so this never overwrites."""

    async def get_worker(self, worker_id: str) -> Worker | None:
        """The worker, or None if it was never registered or has been deleted."""

    async def list_workers(self, queue: str | None = None) -> list[Worker]:
        """Workers registered on ``queue`` (any of their queues), or all; by registration time."""

    async def touch_worker(
        self,
        worker_id: str,
        now: float,
        lease_seconds: dict[str, float],
        default_lease: float,
        task_ids: Sequence[str] | None = None,
    ) -> bool:
        """A sign of life: set the worker's last_seen to now, and extend to now +
        lease_seconds.get(queue, default_lease) the lease of the STARTED tasks it holds among
        ``task_ids`` (every task it holds if None; none if empty). False if the worker is gone.
        Each task's extension is atomic with respect to claims, reports and the lease reaper."""

    async def delete_workers(self, worker_ids: Sequence[str]) -> int:
        """Delete these worker records; how many existed. Once this returns, get_worker of each
        returns None in every process. Their tasks are not touched (see release_tasks)."""

    # -- tasks -------------------------------------------------------------------------------

    async def insert_tasks(self, tasks: Sequence[Task]) -> list[bool]:
        """Write new tasks (state QUEUED), assigning each ``seq`` (publish order, increasing) and
        ``version``; returns, per task, True if written, False if skipped.

        A task with ``singularly_enqueue`` is skipped when its lane already holds a QUEUED task
        with the same ``identity``; the check and the write are one atomic step, across
        processes. Every task is written whole or not at all. SQLite writes the whole list in
        one transaction; other backends may write task by task.
        """

    async def get_task(self, task_id: str) -> Task | None:
        """The task as last written, or None."""

    async def get_tasks(self, task_ids: Sequence[str]) -> dict[str, Task]:
        """The tasks of these ids that exist, as last written, by id."""

    async def claim_task(self, request: ClaimRequest) -> Task | None:
        """Atomically take the next ready task for a worker, or return None.

        Lanes are tried in the order given; within a lane, QUEUED tasks with run_at <= now are
        taken oldest first by (run_at, seq), skipping tasks whose queue is in ``skip_queues`` and
        ``singularly_run`` tasks while another STARTED singularly_run task of the same lane holds
        the same identity. The task taken becomes STARTED with worker_id, started_at=now and
        lease_until=now + lease_seconds.get(queue, default_lease_seconds), version changed.
        Two concurrent claims, in any processes, never take the same task.

        ``limits`` (flow limits per queue) are part of the same atomic step, across every
        process: a queue with ``max_started`` is skipped while that many of its tasks (in any
        lane) are STARTED, one with ``rate_limit`` once that many of its tasks were claimed in
        the rate window holding ``now`` (QueueLimits.window); the queues skipped for a limit
        are named in ``request.held_back``, with the limit. A slot is freed when its task
        leaves STARTED by any write (report, release, lease expiry, deletion), and a task of a
        queue with ``max_started`` leaving STARTED changes the queue's lane stamp
        (change_stamps). A claim the caller abandons may use up a rate token it did not take.
        """

    async def claim_tasks(self, request: ClaimRequest, limit: int) -> list[Task]:
        """Up to ``limit`` claims as by claim_task, made together (a push subscription filling
        its free slots): the tasks that as many claim_task calls would take, fewer (or none)
        when fewer are ready. SQLite takes them in one transaction, in claim order."""

    async def insert_and_claim(
        self, tasks: Sequence[Task], claims: Sequence[tuple[ClaimRequest, int]]
    ) -> tuple[list[bool], list[list[Task]]]:
        """insert_tasks, then claim_tasks for each (request, limit) in order, the claims seeing
        the new tasks: a publish handing its task to a waiting push subscriber. Returns
        insert_tasks' answer and each claim's tasks. SQLite makes it one transaction."""

    async def started_task_ids(self, worker_id: str, task_ids: Sequence[str]) -> set[str]:
        """Those of ``task_ids`` that are STARTED and held by ``worker_id`` now."""

    async def replace_task(
        self, task: Task, expected_version: int, also_insert: Sequence[Task] = ()
    ) -> Replaced:
        """Compare-and-set: write ``task`` (every mutable field) if the stored copy still has
        ``expected_version`` (WRITTEN); return CONFLICT, writing nothing, if it changed or is
        gone.

        A ``singularly_enqueue`` task going back to QUEUED in a lane that already holds a
        waiting (QUEUED) task with the same identity is deleted instead, in the same atomic
        step, and DROPPED is returned: the waiting copy stands for the work, as a duplicate
        publish is skipped. The caller tells its client so; nothing else is lost.

        ``also_insert`` are new tasks written with it (as by insert_tasks, uniqueness included;
        one whose id exists already is skipped), only if it is written: each written one gets
        its ``seq``, a skipped one keeps seq 0. A backend that cannot make both one step
        writes them first, so a crash between leaves them written ahead at worst, never a
        lost task; a completion's follow-ups (and reEnqueue's fresh copy) have ids derived
        from the completed task's, so a retry finds them in place and duplicates none
        (docs/stores.md). A task returned to QUEUED is claimable again.
        """

    async def replace_tasks(self, changes: Sequence[TaskChange]) -> list[Replaced]:
        """Several replace_task calls made together (a batch of reports), each its own
        compare-and-set, in order; per change, what replace_task would answer. SQLite commits
        them in one transaction."""

    async def release_tasks(
        self, worker_id: str, now: float, task_ids: Sequence[str] | None = None
    ) -> list[Task]:
        """Return every STARTED task held by the worker (or only those of ``task_ids``) to
        QUEUED (worker_id cleared, attempts unchanged), atomically per task; returns the tasks
        released, as written."""

    async def change_stamps(self, lanes: Sequence[str]) -> dict[str, int]:
        """Per lane, a number that changes whenever a write may have made a task of the lane
        claimable (a task inserted or returned to the queue, a queue resumed), from any
        process. It may also change when nothing relevant did (a coarse stamp is allowed);
        it never stays the same across a relevant change. Cheap: nodes poll it often. See
        change_stamps_per_lane: only then does a lane's change tell which queue changed."""

    async def earliest_run_at(self, lanes: Sequence[str]) -> float | None:
        """The smallest run_at among QUEUED tasks of these lanes, or None if there are none:
        when an idle push subscriber should look again for delayed tasks, and, when it is
        past, since when a queue's oldest ready task has waited (its latency). An index probe
        per lane, cheap whatever the lanes' depth."""

    async def claims_in_window(self, queue: str, limits: QueueLimits, now: float) -> int:
        """How many claims of the queue its rate limit counted in the window holding ``now``
        (0 without a rate limit): what status and /metrics show."""

    async def expired_tasks(self, now: float, limit: int) -> list[Task]:
        """Up to ``limit`` STARTED tasks whose lease_until <= now, oldest lease first. A plain
        read: the caller moves each on with replace_task, whose CAS settles races between
        nodes."""

    async def delete_tasks(self, where: TaskFilter) -> int:
        """Delete the matching tasks whose state is in ``where.states`` (required); how many."""

    async def take_turn(self, duty: str, seconds: float) -> bool:
        """Whether this node does the cluster's pass of a periodic ``duty`` now: at most one
        node in ``seconds`` is told yes (a node that dies during its pass is replaced once
        they are over). A store one node uses alone always says yes."""

    async def list_tasks(self, where: TaskFilter, first: int, after: str | None) -> TaskPage:
        """Matching tasks in publish order, at most ``first``, starting after the cursor.
        Paging stays cheap however long the queue is (keyset, not offset)."""

    async def count_tasks(self, where: TaskFilter, now: float) -> TaskCounts:
        """How many matching tasks are in each state; QUEUED ones with run_at > now count as
        scheduled.

        For a filter by queue, lane and states only (what status, /metrics and the dashboard
        ask on every request), the answer comes from counters kept with every write, never
        from reading the queue's tasks: it costs the same at a million waiting tasks as at ten.
        Exact as long as no crash left a backend's counters behind (see docs/stores.md for
        each backend's repair). Any other filter may read every matching task."""

    # -- schedules ---------------------------------------------------------------------------

    async def put_schedule(self, schedule: Schedule) -> Schedule:
        """Create or replace the schedule of that name; returns it with its new version."""

    async def list_schedules(self) -> list[Schedule]:
        """Every schedule, by name."""

    async def replace_schedule(self, schedule: Schedule, expected_version: int) -> bool:
        """Compare-and-set, as replace_task: False, writing nothing, if the stored version is
        not ``expected_version``. This is what makes a tick fire once across nodes."""

    async def delete_schedule(self, name: str) -> bool:
        """Delete the schedule; False if there was none."""

    # -- statistics --------------------------------------------------------------------------

    async def add_stats(self, rows: Sequence[StatsRow]) -> None:
        """Add each row's counts to the stored counts of its (queue, minute), creating it.
        Additive, so every node can flush its own counts. Atomic per row."""

    async def list_stats(self, queue: str | None, since: float, until: float) -> list[StatsRow]:
        """Rows with since <= minute < until, of one queue or all, by minute then queue."""

    async def delete_stats_before(self, minute: float) -> int:
        """Delete rows older than ``minute``; how many."""

    # -- tokens ------------------------------------------------------------------------------

    async def add_token(self, token: ApiToken) -> bool:
        """Record a new token; False, writing nothing, if a token of that name exists. The
        check and the write are one atomic step, across processes."""

    async def list_tokens(self) -> list[ApiToken]:
        """Every token, by name. Once add_token or delete_token has returned, every later call,
        from any process sharing the store, sees the change."""

    async def delete_token(self, name: str) -> bool:
        """Delete the token of that name; False if there was none."""

    async def token_used(self, name: str, at: float) -> None:
        """Record that the token was used at ``at`` (its last_used_at; nothing if the token is
        gone). Callers throttle this: it is a write."""
