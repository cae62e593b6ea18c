"""When and how long to wait before asking UniProt again.

Retried: connection errors (refused, reset, dropped mid-body, timeouts), HTTP 429 and 5xx, and
pages that arrive truncated or malformed. The wait doubles from ``initial_delay`` up to
``max_delay`` (with a little jitter so that parallel jobs spread out), except after a response
that says ``Retry-After``: then exactly that long (capped at ``max_retry_after``).

>>> policy = RetryPolicy(initial_delay=1.0, max_delay=5.0, jitter=0.0)
>>> [policy.delay(attempt) for attempt in range(5)]
[1.0, 2.0, 4.0, 5.0, 5.0]
>>> policy.delay(0, retry_after=7.0)
7.0
>>> parse_retry_after("120"), parse_retry_after("soon")
(120.0, None)
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone

from tfprot.errors import DataFormatError

__all__ = ["RETRY_STATUSES", "RetryPolicy", "parse_retry_after"]

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
"""HTTP statuses worth asking again: timeout, too many requests, server-side errors."""


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry a failed request.

    Attributes:
        max_retries: retries after the first attempt (so ``max_retries + 1`` requests at most).
        initial_delay: seconds before the first retry; doubled for each further one.
        max_delay: cap of the doubling back-off, in seconds.
        max_retry_after: cap of a server's ``Retry-After``, in seconds.
        jitter: the back-off is multiplied by a random factor in ``[1, 1 + jitter]``.
        sleep: the function that waits (``time.sleep``); tests pass a recorder.
    """

    max_retries: int = 6
    initial_delay: float = 1.0
    max_delay: float = 60.0
    max_retry_after: float = 600.0
    jitter: float = 0.1
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise DataFormatError(f"max_retries must be >= 0, got {self.max_retries}.")
        for name in ("initial_delay", "max_delay", "max_retry_after", "jitter"):
            if getattr(self, name) < 0:
                raise DataFormatError(f"{name} must be >= 0, got {getattr(self, name)}.")

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number ``attempt + 1`` (``attempt`` counts from 0)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_retry_after)
        backoff = min(self.initial_delay * 2.0**attempt, self.max_delay)
        if self.jitter:
            backoff *= 1.0 + self.jitter * random.random()
        return backoff


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header: a number of seconds or an HTTP date.

    >>> from datetime import datetime, timezone
    >>> parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT",
    ...                   now=datetime(2015, 10, 21, 7, 28, 0, tzinfo=timezone.utc))
    30.0
    """
    if value is None:
        return None
    value = value.strip()
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    now = now or datetime.now(timezone.utc)
    return max((when - now).total_seconds(), 0.0)
