"""RetryPolicy → urllib3's Retry: back-off arithmetic, Retry-After, which statuses, how many."""

from __future__ import annotations

import email.utils
import time

import pytest
from urllib3 import HTTPResponse
from urllib3.exceptions import MaxRetryError

from tfprot.errors import TfprotError
from tfprot.uniprot.retry import RetryPolicy

URL = "http://127.0.0.1:1/uniprotkb/search"


def delays(policy: RetryPolicy, failures: int, response=None) -> list[float]:
    retry, waits = policy.start(), []
    for _ in range(failures):
        retry = retry.increment("GET", URL)
        waits.append(policy.delay(retry, response))
    return waits


def answer(**headers: str) -> HTTPResponse:
    return HTTPResponse(body=b"", headers=headers, status=503)


def test_backoff_doubles_from_the_first_retry_up_to_the_cap():
    policy = RetryPolicy(initial_delay=0.5, max_delay=3.0, jitter=0.0, max_retries=6)
    assert delays(policy, 6) == [0.5, 1.0, 2.0, 3.0, 3.0, 3.0]


def test_jitter_adds_up_to_its_seconds():
    policy = RetryPolicy(initial_delay=1.0, jitter=0.25, max_retries=2)
    firsts, seconds = zip(*(delays(policy, 2) for _ in range(200)), strict=True)
    assert all(1.0 <= d <= 1.25 for d in firsts) and len(set(firsts)) > 1
    assert all(2.0 <= d <= 2.25 for d in seconds) and len(set(seconds)) > 1


def test_retry_after_wins_and_is_capped():
    policy = RetryPolicy(initial_delay=10.0, max_retry_after=30.0, jitter=0.0)
    assert delays(policy, 2, answer(**{"Retry-After": "2"})) == [2.0, 2.0]
    assert delays(policy, 1, answer(**{"Retry-After": "3600"})) == [30.0]
    assert delays(policy, 1, answer(**{"Retry-After": "0"})) == [0.0]
    soon = email.utils.formatdate(time.time() + 20, usegmt=True)  # an HTTP date
    [wait] = delays(policy, 1, answer(**{"Retry-After": soon}))
    assert 18.0 <= wait <= 20.0
    # not a number of seconds nor a date, or no header: the back-off
    assert delays(policy, 1, answer(**{"Retry-After": "soon"})) == [10.0]
    assert delays(policy, 1, answer()) == [10.0]


@pytest.mark.parametrize(
    ("status", "headers", "retried"),
    [
        (503, {}, True),
        (429, {}, True),
        (408, {}, True),
        (500, {}, True),
        (400, {}, False),
        (404, {}, False),
        (413, {}, False),
        (413, {"Retry-After": "1"}, True),  # urllib3: 413 says when to come back
    ],
)
def test_which_statuses_are_retried(status, headers, retried):
    retry = RetryPolicy().start()
    assert retry.is_retry("GET", status, has_retry_after=bool(headers)) is retried


def test_max_retries_counts_retries_after_the_first_attempt():
    policy = RetryPolicy(max_retries=2)
    retry = policy.start()
    retry = retry.increment("GET", URL).increment("GET", URL)  # attempts 1 and 2 failed
    with pytest.raises(MaxRetryError):
        retry.increment("GET", URL)  # attempt 3 failed: no retry left
    with pytest.raises(MaxRetryError):
        RetryPolicy(max_retries=0).start().increment("GET", URL)


@pytest.mark.parametrize(
    ("option", "value"),
    [("max_retries", -1), ("max_retries", 1.5), ("jitter", -0.1), ("initial_delay", "1")],
)
def test_bad_policy(option, value):
    with pytest.raises(TfprotError, match=option):
        RetryPolicy(**{option: value})
