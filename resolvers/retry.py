"""Retry policies (resque-retry): validation, and the delay before retry n."""

from __future__ import annotations

import math
from typing import Any

from resolvers.errors import InvalidInput
from resolvers.models import RetryPolicy

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


def _number(value: Any, param: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidInput(f"{param} must be a number", param=param)
    if not low <= value <= high:
        raise InvalidInput(f"{param} must be between {low:g} and {high:g}", param=param)
    return float(value)


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
        if isinstance(limit, bool) or not isinstance(limit, int) or not 0 <= limit <= MAX_RETRIES:
            raise InvalidInput(
                f"retryLimit must be an integer from 0 to {MAX_RETRIES}", param="retryLimit"
            )
        result.limit = limit
    if delays is not None:
        if not isinstance(delays, list) or len(delays) > 100:
            raise InvalidInput(
                "retryDelays must be a list of at most 100 numbers", param="retryDelays"
            )
        result.delays = [_number(d, "retryDelays", 0, MAX_DELAY_SECONDS) for d in delays] or None
    if base is not None:
        result.base = _number(base, "backoffBase", 0, MAX_DELAY_SECONDS)
    if factor is not None:
        result.factor = _number(factor, "backoffFactor", 1, 100)
    if max_delay is not None:
        result.max = _number(max_delay, "backoffMax", 0, MAX_DELAY_SECONDS)
    if jitter is not None:
        result.jitter = _number(jitter, "backoffJitter", 0, 1)
    if result.max < result.base:
        raise InvalidInput("backoffMax must be at least backoffBase", param="backoffMax")
    return result
