"""Push wake-ups and the live event feed of one node, and the watcher that brings other
nodes' writes in through the store's change stamps."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator

from app.setups import settled
from resolvers.context import Context
from resolvers.handoff import Offer
from resolvers.models import CHANGED, WORKER_LANE_PREFIX, Event

OFFERS_PER_LANE = 64


class Alarm:
    """One push subscriber's wake-up. A bare future and a timer rather than an Event under
    wait_for: a ring then resumes the subscriber in one turn of the loop, not three.

    A subscriber is rung directly when chosen to take a task (or handed one by a publish, or
    one of its tasks finished). A lane's change that rings nobody still counts for it if it
    was busy meanwhile (between two waits) and has free slots: its next wait then returns at
    once, so a task published while it ran is never missed."""

    def __init__(self, notifier: LocalNotifier, worker_id: str, lanes: list[str]) -> None:
        self.worker_id = worker_id
        self.lanes = lanes
        self._notifier = notifier
        self._offer: Offer | None = None
        self._rung = False
        self._waiter: asyncio.Future[None] | None = None
        self._seen = notifier.marks(lanes)
        # Woken for a task of its lanes and not back in wait() yet: if the subscription ends
        # now, the ring goes on to another subscriber (see LocalNotifier.subscribe).
        self.owes = False

    @property
    def offer(self) -> Offer | None:
        """The subscriber's hand-off offer: a publish that hands it tasks rings it."""
        return self._offer

    @offer.setter
    def offer(self, offer: Offer | None) -> None:
        self._offer = offer
        if offer is not None:
            offer.wake = self.ring

    @property
    def free(self) -> int:
        """Free slots it stands for (1 without an offer: it would look)."""
        return 1 if self._offer is None else self._offer.free

    def ring(self) -> bool:
        """Wake the subscriber; whether it was waiting (rather than busy)."""
        self._rung = True
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)
            self._notifier.woken += 1
            self._notifier.busy(self)
            return True
        return False

    @property
    def waiting(self) -> bool:
        """Asleep in wait(), and not yet rung."""
        return self._waiter is not None and not self._waiter.done()

    async def wait(self, at_most: float) -> None:
        """Until rung (or at once if rung, or a lane changed while it had free slots, since
        the last wait), or ``at_most`` seconds."""
        notifier = self._notifier
        self.owes = False
        settled()
        missed = self.free > 0 and notifier.marks(self.lanes) != self._seen
        if not self._rung and not missed:
            loop = asyncio.get_running_loop()
            self._waiter = waiter = loop.create_future()
            timer = loop.call_later(max(at_most, 0.0), _settle, waiter)
            idle = self.free > 0
            if idle:
                notifier.idle(self)
            try:
                await waiter
            finally:
                timer.cancel()
                self._waiter = None
                if idle:
                    notifier.busy(self)
        self._rung = False
        self._seen = notifier.marks(self.lanes)


def _settle(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class LocalNotifier:
    """resolvers.context.Notifier for this node's subscribers.

    No thundering herd: a lane's change wakes, per task it gained, one subscriber waiting on
    it with free slots (the one waiting longest), not all of them; one that then finds more
    ready tasks than it can take passes the ring on (resolvers.push)."""

    def __init__(self) -> None:
        self._by_lane: defaultdict[str, set[Alarm]] = defaultdict(set)
        self._by_worker: defaultdict[str, set[Alarm]] = defaultdict(set)
        # Per lane, the subscribers asleep with free slots, longest waiting first.
        self._idle: defaultdict[str, dict[Alarm, None]] = defaultdict(dict)
        # Per watched lane, how many changes it has had (see Alarm.wait).
        self._changes: dict[str, int] = {}
        # Subscribers woken while they waited, since the node started: wake-ups, counted.
        self.woken = 0

    def lanes_changed(self, lanes: Iterable[str]) -> int:
        """Each occurrence of a lane is a task it may have gained: wake one slot's worth of
        its idle subscribers for each (a lane named once wakes one). How many woke."""
        woken = 0
        for lane, tasks in Counter(lanes).items():
            if lane not in self._by_lane:
                continue
            self._changes[lane] += 1
            idle = self._idle.get(lane)
            while tasks > 0 and idle:
                alarm = next(iter(idle))
                tasks -= max(alarm.free, 1)
                if alarm.ring():
                    woken += 1
                    alarm.owes = True
                # A ring took it out of every lane's idle set (and this lane's, if it was
                # the last); one that was not waiting any more leaves by hand.
                idle.pop(alarm, None)
        return woken

    def worker_changed(self, worker_id: str) -> None:
        for alarm in self._by_worker.get(worker_id, ()):
            alarm.ring()

    def offers(self, lane: str) -> list[Offer]:
        """The open offers of the lane's idle subscribers, longest waiting first; at most
        OFFERS_PER_LANE: a publish of more tasks wakes the others to claim for themselves,
        and one of one task does not pay for a list of every subscriber."""
        open_offers = (
            alarm.offer
            for alarm in self._idle.get(lane, ())
            if alarm.waiting and alarm.offer is not None and alarm.offer.free > 0
        )
        return list(itertools.islice(open_offers, OFFERS_PER_LANE))

    @contextlib.contextmanager
    def subscribe(self, worker_id: str, lanes: list[str]) -> Iterator[Alarm]:
        for lane in lanes:
            self._changes.setdefault(lane, 0)
        alarm = Alarm(self, worker_id, lanes)
        self._by_worker[worker_id].add(alarm)
        for lane in lanes:
            self._by_lane[lane].add(alarm)
        try:
            yield alarm
        finally:
            self.busy(alarm)
            _discard(self._by_worker, worker_id, alarm)
            for lane in lanes:
                _discard(self._by_lane, lane, alarm)
                if lane not in self._by_lane:
                    self._changes.pop(lane, None)
            if alarm.owes:
                # Woken for a task it may not have taken (it left, or a long-poll claim took
                # one of another lane): wake another in its place.
                self.lanes_changed(lanes)

    def marks(self, lanes: list[str]) -> list[int]:
        """How many changes each of these lanes has had (see Alarm.wait)."""
        return [self._changes.get(lane, 0) for lane in lanes]

    def idle(self, alarm: Alarm) -> None:
        """The subscriber waits with free slots: a change of its lanes may wake it."""
        for lane in alarm.lanes:
            self._idle[lane][alarm] = None

    def busy(self, alarm: Alarm) -> None:
        """The subscriber no longer waits with free slots."""
        for lane in alarm.lanes:
            idle = self._idle.get(lane)
            if idle is not None:
                idle.pop(alarm, None)
                if not idle:
                    del self._idle[lane]

    def idle_on(self, lane: str) -> int:
        """How many subscribers of the lane wait with free slots."""
        return len(self._idle.get(lane, ()))

    def watched_lanes(self) -> list[str]:
        return list(self._by_lane)

    def subscribers(self) -> int:
        return sum(len(alarms) for alarms in self._by_worker.values())

    def subscribed(self, worker_id: str) -> bool:
        return worker_id in self._by_worker

    def ring_all(self) -> None:
        for alarms in self._by_worker.values():
            for alarm in alarms:
                alarm.ring()


def _discard(index: defaultdict[str, set[Alarm]], key: str, alarm: Alarm) -> None:
    alarms = index.get(key)
    if alarms is not None:
        alarms.discard(alarm)
        if not alarms:
            del index[key]


class LocalEvents:
    """resolvers.context.EventSink: fans events out to this node's listeners. A listener that
    falls behind loses its oldest events rather than slowing the engine down."""

    def __init__(
        self, backlog: int = 1000, taps: list[Callable[[Event], None]] | None = None
    ) -> None:
        self._listeners: set[asyncio.Queue[Event]] = set()
        self._backlog = backlog
        self._taps = taps or []

    def emit(self, event: Event) -> None:
        for tap in self._taps:
            tap(event)
        for stream in self._listeners:
            if stream.full():
                stream.get_nowait()
            stream.put_nowait(event)

    @contextlib.contextmanager
    def listen(self) -> Iterator[asyncio.Queue[Event]]:
        stream: asyncio.Queue[Event] = asyncio.Queue(self._backlog)
        self._listeners.add(stream)
        settled()
        try:
            yield stream
        finally:
            self._listeners.discard(stream)

    def listeners(self) -> int:
        return len(self._listeners)


class ChangeWatcher:
    """Polls the store's change stamps of the lanes this node's subscribers wait on, and
    wakes them (and tells event listeners) when another node's write may concern them.

    A changed lane wakes one of its waiting subscribers (who passes the ring on if it finds
    more than it can take: resolvers.push), and only if the lane holds a waiting task: a
    change that was this node's own publish, already taken by the subscriber it woke, wakes
    nobody. A lane seen for the first time wakes one too: its subscriber may have looked just
    before a write the baseline already includes.

    Listeners are told "changed" with the queue whose stamp changed when the store's stamps
    tell lanes apart; otherwise (one coarse stamp: which queue changed is unknown, and it may
    well be this node's own write) with no queue, which only unfiltered feeds receive (see
    resolvers.push.follow_events). A lane's first stamp is a baseline, not a change."""

    def __init__(self, notifier: LocalNotifier, events: LocalEvents) -> None:
        self._notifier = notifier
        self._events = events
        self._seen: dict[str, int] = {}

    async def __call__(self, ctx: Context) -> int:
        lanes = self._notifier.watched_lanes()
        if not lanes and not self._events.listeners():
            self._seen.clear()
            return 0
        if not lanes:
            lanes = list((await ctx.queue_cache.current(ctx.store)).queues)
        stamps = await ctx.store.change_stamps(lanes)
        if stamps == self._seen:  # idle: one comparison in C, not a loop over the lanes
            return 0
        changed = [lane for lane, stamp in stamps.items() if self._seen.get(lane) != stamp]
        seen_before = [lane for lane in changed if lane in self._seen]
        self._seen = stamps
        if changed:
            self._notifier.lanes_changed(await _with_tasks(ctx, changed))
        now = ctx.clock()
        for queue in _changed_queues(seen_before, ctx.store.change_stamps_per_lane):
            self._events.emit(Event(kind=CHANGED, queue=queue, at=now))
        return len(changed)


async def _with_tasks(ctx: Context, lanes: list[str]) -> list[str]:
    """Those of the lanes that hold a waiting task (ready or delayed): one probe of them all
    first (thousands of lanes seen for the first time as subscribers connect are empty), then
    one per lane."""
    if len(lanes) > 1 and await ctx.store.earliest_run_at(lanes) is None:
        return []
    return [lane for lane in lanes if await ctx.store.earliest_run_at([lane]) is not None]


def _changed_queues(lanes: list[str], per_lane: bool) -> list[str | None]:
    """The queues to tell listeners about for these changed lanes; None: some unknown one
    (a worker's own lane, or a coarse stamp)."""
    if not lanes:
        return []
    if not per_lane:
        return [None]
    queues: list[str | None] = []
    queues.extend(sorted({lane for lane in lanes if lane[0] != WORKER_LANE_PREFIX}))
    if any(lane[0] == WORKER_LANE_PREFIX for lane in lanes):
        queues.append(None)
    return queues
