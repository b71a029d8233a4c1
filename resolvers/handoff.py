"""Hand-off: a publish claims its task for a push subscriber waiting on this node, in the same
store write that inserts it, and hands it over; the subscriber then pushes it without a claim
of its own.

The claim is the one the subscriber would have made (tasks.claim_request: its lanes, oldest
ready task first, paused queues skipped), made earlier. While it waits, a subscriber stands an
Offer for its free slots. A publish reserves slots before it writes, so that two publishes (or
a publish and the subscriber's own claim) never take more than the prefetch between them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from resolvers.models import Task, Worker


@dataclass(eq=False, slots=True)
class Offer:
    """A push subscriber's free slots, open to this node's publishes while it waits."""

    worker: Worker
    free: int = 0
    # Slots reserved by publishes still writing: neither offered again nor claimed by the
    # subscriber until those publishes settle.
    reserved: int = 0
    handed: list[Task] = field(default_factory=list)
    closed: bool = False
    # Wakes the subscriber when a publish hands it tasks (set by its wake-up: see
    # app/notify.py): it alone is woken for them, nobody else on the lane.
    wake: Callable[[], object] | None = None

    @property
    def pending(self) -> int:
        """Slots taken by publishes: reserved, or handed and not yet withdrawn."""
        return self.reserved + len(self.handed)

    def stand(self, free: int) -> None:
        """Open ``free`` slots, less those pending (the subscriber is about to wait)."""
        self.free = max(free - self.pending, 0)

    def withdraw(self) -> list[Task]:
        """Close the offer while the subscriber runs; the tasks handed to it meanwhile."""
        self.free = 0
        handed, self.handed = self.handed, []
        return handed

    def reserve(self, wanted: int) -> int:
        """Take up to ``wanted`` of the free slots for a publish; how many it got."""
        taken = min(wanted, self.free)
        self.free -= taken
        self.reserved += taken
        return taken

    def settle(self, reserved: int, claimed: list[Task]) -> bool:
        """The publish's write is done: ``claimed`` (at most ``reserved``) are the
        subscriber's now. False if the subscriber has gone: the caller gives them back."""
        self.reserved -= reserved
        if self.closed:
            return False
        self.handed.extend(claimed)
        if claimed and self.wake is not None:
            self.wake()
        return True

    def close(self) -> list[Task]:
        """The subscription ended: no more hand-offs; the tasks handed and not taken."""
        self.closed = True
        return self.withdraw()
