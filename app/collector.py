"""The garbage collector of a serving node (``couchqueue serve`` only: a process-wide choice).

Thousands of push workers connecting at once grow the heap by a million or more objects in
seconds (each subscription's socket, protocol, task and generator frames), and CPython's
default thresholds then run a full collection every time the long-lived objects have grown by
a quarter: each one walks every object, and at 1,000 subscribers they stopped the event loop
for 100 to 500 ms, several times while the workers connected (a /healthz probe answered in
hundreds of milliseconds; bench.push_scale). Two changes:

- What exists once the app is built (modules, the GraphQL schema, compiled rules) lives as
  long as the process: ``gc.freeze`` moves it out of every later collection.
- The youngest generation is collected after YOUNG (2,000) allocations instead of 700, and a
  full collection is considered after FULL_AFTER (100) collections of the middle generation
  instead of 10: connecting 3,000 workers then runs about one full collection instead of a
  dozen, and long-lived cyclic garbage (a closed connection's objects) waits longer for its
  collection (at most about 2,000 x 10 x 100 allocations). Measured with 3,000 workers
  connecting: the worst /healthz 1,006 ms -> 142 ms, connecting 19.4 s -> 13.5 s (700 and 100:
  410 ms, 10.3 s; a busy machine, one run each).
"""

from __future__ import annotations

import gc

YOUNG = 2000
FULL_AFTER = 100


def tune_collector() -> None:
    """Freeze what exists now, and make full collections rarer (see the module's docstring)."""
    gc.collect()
    gc.freeze()
    middle = gc.get_threshold()[1]
    gc.set_threshold(YOUNG, middle, FULL_AFTER)
