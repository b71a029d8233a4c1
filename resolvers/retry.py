"""Retry policies (resque-retry): validation, and the delay before retry n."""

from __future__ import annotations

from typing import Any

from resolvers.errors import InvalidInput
from resolvers.models import RetryPolicy
from resolvers.validation import number

MAX_DELAY_SECONDS = 30 * 86400.0
MAX_RETRIES = 1000


def delay_before_retry(policy: RetryPolicy, retry: int, random_unit: float) -> float:
    """Seconds to wait before retry number ``retry`` (1-based); ``random_unit`` in [0, 1)."""
    if policy.delays:
        return policy.delays[min(retry, len(policy.delays)) - 1]
    try:
        backoff = min(policy.max, policy.base * policy.factor ** (retry - 1))
    except OverflowError:  # factor ** n past a float, after hundreds of retries
        backoff = policy.max
    return max(0.0, backoff * (1 + policy.jitter * (2 * random_unit - 1)))


def updated_policy(
    policy: RetryPolicy,
    *,
    limit: Any = None,
    delays: Any = None,
    base: Any = None,
    factor: Any = None,
    max_delay: Any = None,
    jitter: Any = None,
) -> RetryPolicy:
    """``policy`` with the given fields changed, each checked; an empty delays list clears
    the list (exponential backoff again)."""
    result = RetryPolicy(**{f: getattr(policy, f) for f in RetryPolicy.__slots__})
    if limit is not None:
        wanted = f"an integer from 0 to {MAX_RETRIES}"
        limit = number(
            limit, "retryLimit", 0, MAX_RETRIES, integer=True, kind=wanted, bounds=wanted
        )
        result.limit = int(limit)
    if delays is not None:
        if not isinstance(delays, list) or len(delays) > 100:
            raise InvalidInput(
                "retryDelays must be a list of at most 100 numbers", param="retryDelays"
            )
        result.delays = [number(d, "retryDelays", 0, MAX_DELAY_SECONDS) for d in delays] or None
    if base is not None:
        result.base = number(base, "backoffBase", 0, MAX_DELAY_SECONDS)
    if factor is not None:
        result.factor = number(factor, "backoffFactor", 1, 100)
    if max_delay is not None:
        result.max = number(max_delay, "backoffMax", 0, MAX_DELAY_SECONDS)
    if jitter is not None:
        result.jitter = number(jitter, "backoffJitter", 0, 1)
    if result.max < result.base:
        raise InvalidInput("backoffMax must be at least backoffBase", param="backoffMax")
    return result
