"""Back-off and Retry-After arithmetic."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from tfprot.errors import TfprotError
from tfprot.uniprot.retry import RetryPolicy, parse_retry_after


def test_backoff_doubles_up_to_the_cap():
    policy = RetryPolicy(initial_delay=0.5, max_delay=3.0, jitter=0.0)
    assert [policy.delay(n) for n in range(6)] == [0.5, 1.0, 2.0, 3.0, 3.0, 3.0]


def test_jitter_stays_within_bounds():
    policy = RetryPolicy(initial_delay=1.0, jitter=0.25)
    delays = [policy.delay(1) for _ in range(200)]
    assert all(2.0 <= d <= 2.5 for d in delays) and len(set(delays)) > 1


def test_retry_after_wins_and_is_capped():
    policy = RetryPolicy(initial_delay=10.0, max_retry_after=30.0)
    assert policy.delay(3, retry_after=2.0) == 2.0
    assert policy.delay(0, retry_after=3600.0) == 30.0


def test_parse_retry_after():
    now = datetime(2025, 2, 5, 12, 0, 0, tzinfo=timezone.utc)
    assert parse_retry_after("5", now) == 5.0
    assert parse_retry_after(" 2.5 ", now) == 2.5
    assert parse_retry_after("Wed, 05 Feb 2025 12:01:00 GMT", now) == 60.0
    assert parse_retry_after("Wed, 05 Feb 2025 11:00:00 GMT", now) == 0.0  # in the past
    assert parse_retry_after("tomorrow", now) is None
    assert parse_retry_after(None, now) is None


def test_bad_policy():
    with pytest.raises(TfprotError, match="max_retries must be >= 0"):
        RetryPolicy(max_retries=-1)
