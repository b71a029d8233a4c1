"""Exponential backoff at the far end of what a queue's settings allow."""

from __future__ import annotations

import pytest

from resolvers.models import RetryPolicy
from resolvers.retry import MAX_RETRIES, delay_before_retry


@pytest.mark.parametrize("factor", [2.0, 3.0, 100.0])
def test_backoff_after_the_most_retries_a_queue_allows(factor: float) -> None:
    """Settings the API accepts (backoffFactor up to 100, retryLimit up to 1000): the delay
    is the cap, not an OverflowError from factor ** n, which failed the report."""
    policy = RetryPolicy(limit=MAX_RETRIES, base=15.0, factor=factor, max=3600.0, jitter=0.0)
    assert delay_before_retry(policy, MAX_RETRIES + 1, 0.5) == 3600.0
