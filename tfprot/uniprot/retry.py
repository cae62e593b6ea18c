"""When and how long to wait before asking UniProt again: settings for urllib3's ``Retry``.

:class:`RetryPolicy` holds tfprot's settings; :meth:`RetryPolicy.start` turns them into a
:class:`urllib3.util.Retry`, which counts the attempts, knows which HTTP statuses are worth asking
again (:data:`RETRY_STATUSES`, and 413/429/503 that carry ``Retry-After``), reads ``Retry-After``
(seconds or an HTTP date) and computes the back-off. The wait doubles from ``initial_delay`` up to
``max_delay``, plus up to ``jitter`` seconds at random so that parallel jobs spread out, except
after a response that says ``Retry-After``: then that long (capped at ``max_retry_after``).

>>> policy = RetryPolicy(initial_delay=1.0, max_delay=5.0, jitter=0.0)
>>> retry, delays = policy.start(), []
>>> for _ in range(5):
...     retry = retry.increment("GET", "https://rest.uniprot.org/uniprotkb/search")
...     delays.append(policy.delay(retry))
>>> delays
[1.0, 2.0, 4.0, 5.0, 5.0]
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from urllib3.exceptions import InvalidHeader
from urllib3.response import BaseHTTPResponse
from urllib3.util import Retry

from tfprot.errors import DataFormatError

__all__ = ["RETRY_STATUSES", "RetryPolicy"]

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
"""HTTP statuses worth asking again: timeout, too many requests, server-side errors."""


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry a failed request.

    Attributes:
        max_retries: retries after the first attempt (so ``max_retries + 1`` requests at most).
        initial_delay: seconds before the first retry; doubled for each further one.
        max_delay: cap of the doubling back-off, in seconds (jitter included).
        max_retry_after: cap of a server's ``Retry-After``, in seconds.
        jitter: up to this many seconds, drawn at random, are added to each back-off.
        sleep: the function that waits (``time.sleep``); tests pass a recorder.
    """

    max_retries: int = 6
    initial_delay: float = 1.0
    max_delay: float = 60.0
    max_retry_after: float = 600.0
    jitter: float = 1.0
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False, repr=False)

    def __post_init__(self) -> None:
        for name in ("max_retries", "initial_delay", "max_delay", "max_retry_after", "jitter"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise DataFormatError(f"{name} must be a number >= 0, got {value!r}.")
        if not isinstance(self.max_retries, int):
            raise DataFormatError(f"max_retries must be a whole number, got {self.max_retries!r}.")

    def start(self) -> Retry:
        """A fresh :class:`urllib3.util.Retry` for one request (``increment`` gives the next)."""
        return _Retry(
            total=self.max_retries,
            status_forcelist=RETRY_STATUSES,
            backoff_factor=self.initial_delay,
            backoff_max=self.max_delay,
            backoff_jitter=self.jitter,
        )

    def delay(self, retry: Retry, response: BaseHTTPResponse | None = None) -> float:
        """Seconds to wait before the next attempt, after ``retry.increment(...)``.

        ``Retry-After`` of ``response`` if it has a valid one (capped at ``max_retry_after``),
        else the back-off of the failures so far.
        """
        try:
            after = retry.get_retry_after(response) if response is not None else None
        except InvalidHeader:  # neither seconds nor a date: back off instead
            after = None
        if after is not None:
            return min(float(after), self.max_retry_after)
        return retry.get_backoff_time()


class _Retry(Retry):
    """urllib3's ``Retry``, except that the first retry waits ``backoff_factor`` too.

    urllib3 waits ``backoff_factor * 2 ** (n - 1)`` before retry ``n >= 2`` and nothing before the
    first; a server that has just answered 503 deserves a pause, so retry 1 waits
    ``backoff_factor`` (and the waits double from there: 1, 2, 4... times ``backoff_factor``).
    """

    def get_backoff_time(self) -> float:
        if len(self.history) != 1:
            return super().get_backoff_time()
        first = self.backoff_factor + random.random() * self.backoff_jitter
        return float(min(self.backoff_max, first))
