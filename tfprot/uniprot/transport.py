"""GET one UniProt URL, body included, and retry until its body passes a check.

The wire is :mod:`requests` (one :class:`requests.Session` per client: keep-alive between pages,
gzip, proxies from the environment, streamed bodies); when to try again and how long to wait is
urllib3's ``Retry``, set up by :class:`~tfprot.uniprot.retry.RetryPolicy`.

The retried unit is the whole exchange *and* the check of its body, not only the part urllib3
sees: a body that breaks off mid-way (``IncompleteRead``, a chunked body that ends early), a page
cut short behind a correct ``Content-Length``, or an HTML error page served with status 200 must
be fetched again, and urllib3 retries only up to the response headers. So the session's adapter
makes one attempt per call (requests' default) and :meth:`Transport.get` runs the ``Retry``
itself, over connection errors, timeouts, retryable statuses and failed checks alike: one count,
one log line per retry, one bound on attempts.

>>> with Transport(timeout=5.0, retry=RetryPolicy(), user_agent="tfprot-doctest") as transport:
...     transport.session.headers["User-Agent"]
'tfprot-doctest'
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import requests
from urllib3.exceptions import IncompleteRead, MaxRetryError
from urllib3.response import BaseHTTPResponse
from urllib3.util import Retry

from tfprot.errors import UniProtError
from tfprot.uniprot.pages import MalformedPageError
from tfprot.uniprot.retry import RetryPolicy

__all__ = ["Transport", "progress_bar"]

logger = logging.getLogger(__name__)

_CHUNK = 1 << 16
_T = TypeVar("_T")
_RETRIED = (
    requests.ConnectionError,  # refused, reset, dropped; connect and read timeouts
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,  # the body broke off mid-way
    requests.exceptions.ContentDecodingError,  # a gzip body cut short
)

Check = Callable[[bytes, Mapping[str, str]], _T]
"""Turns a body and its headers into a value; raises MalformedPageError to have it fetched again."""


class _AttemptFailedError(Exception):
    """One attempt failed in a way worth another: what went wrong, and the response if any."""

    def __init__(
        self, problem: str, status: int | None = None, response: BaseHTTPResponse | None = None
    ) -> None:
        super().__init__(problem)
        self.status = status
        self.response = response


class Transport:
    """GETs with retries over one :class:`requests.Session`; close it (or use ``with``) when done.

    Args:
        timeout: seconds a connection or a read may stall before the attempt counts as failed.
        retry: how often and how long to retry.
        user_agent: the ``User-Agent`` header.
    """

    def __init__(self, *, timeout: float, retry: RetryPolicy, user_agent: str) -> None:
        self.timeout = timeout
        self.retry = retry
        self.session = requests.Session()
        self.session.headers["User-Agent"] = user_agent

    def close(self) -> None:
        """Close the session's pooled connections."""
        self.session.close()

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(self, url: str, check: Check[_T], *, progress: bool | None = False) -> _T:
        """``check(body, headers)`` of the first attempt whose body passes it.

        Args:
            url: what to GET.
            check: see :data:`Check`; a ``UniProtError`` it raises ends the download at once.
            progress: a byte progress bar on stderr (``None``: when stderr is a terminal).

        Raises:
            UniProtError: a status that is not worth retrying (e.g. 400), or every attempt
                failed; the message names the URL and the last problem.
        """
        retry = self.retry.start()
        while True:
            try:
                return self._attempt(url, check, retry, progress)
            except _AttemptFailedError as failure:
                try:
                    retry = retry.increment("GET", url, error=failure)
                except MaxRetryError:
                    raise UniProtError(
                        f"{url}: failed after {self.retry.max_retries + 1} attempts; the last: "
                        f"{failure}. Check the network (or the server in $TFPROT_UNIPROT_URL) and "
                        "try again later; pages already saved in the cache are kept and the "
                        "download resumes from them.",
                        url=url,
                        status=failure.status,
                    ) from failure
                delay = self.retry.delay(retry, failure.response)
                logger.warning(
                    "%s: %s; retry %d of %d in %.3g s.",
                    url,
                    failure,
                    len(retry.history),
                    self.retry.max_retries,
                    delay,
                )
                self.retry.sleep(delay)

    def _attempt(self, url: str, check: Check[_T], retry: Retry, progress: bool | None) -> _T:
        status = None
        try:
            with self.session.get(url, stream=True, timeout=self.timeout) as response:
                status = response.status_code
                if status >= 400:
                    _refuse(url, response, retry)
                return check(_read_body(response, progress), response.headers)
        except MalformedPageError as error:
            raise _AttemptFailedError(f"HTTP {status} but {error}", status) from error
        except _RETRIED as error:
            raise _AttemptFailedError(_describe(error)) from error
        except requests.RequestException as error:  # e.g. too many redirects: not retried
            raise UniProtError(f"{url}: {error}.", url=url, status=status) from error


def _refuse(url: str, response: requests.Response, retry: Retry) -> None:
    """Raise for an error status: :class:`_AttemptFailedError` if worth another attempt (the
    ``Retry`` says so), else :class:`UniProtError` with UniProt's message and advice."""
    status = response.status_code
    problem = f"HTTP {status} {response.reason}{_server_message(response)}"
    has_retry_after = "Retry-After" in response.headers
    if retry.is_retry("GET", status, has_retry_after=has_retry_after):
        raise _AttemptFailedError(problem, status, response.raw)
    raise UniProtError(f"{url}: {problem}. {_advice(status)}", url=url, status=status)


def _read_body(response: requests.Response, progress: bool | None) -> bytes:
    """The whole body; urllib3 raises if it ends before its ``Content-Length``."""
    length = response.headers.get("Content-Length")
    total = int(length) if length and length.isdigit() else None
    bar = progress_bar(progress, total, 0, unit="B") if progress is not False else None
    chunks = []
    try:
        for chunk in response.iter_content(_CHUNK):
            chunks.append(chunk)
            if bar is not None:
                bar.update(response.raw.tell() - bar.n)  # bytes on the wire (before gunzip)
    finally:
        if bar is not None:
            bar.close()
    return b"".join(chunks)


def _describe(error: requests.RequestException) -> str:
    """What went wrong on the wire, e.g. ``connection error: RemoteDisconnected: ...``."""
    cause: BaseException = error
    while cause.__cause__ or cause.__context__:
        cause = cause.__cause__ or cause.__context__
        if isinstance(cause, IncompleteRead) and isinstance(cause.expected, int):
            received = cause.partial
            return f"the connection closed after {received} of {received + cause.expected} bytes"
    if isinstance(error, requests.exceptions.ChunkedEncodingError):  # the body broke off
        return f"connection error: IncompleteRead: the body broke off ({error})"
    if isinstance(error, requests.exceptions.ContentDecodingError):
        return f"a body that does not decode ({error})"
    return f"connection error: {type(cause).__name__}: {str(cause) or type(error).__name__}"


def _server_message(response: requests.Response) -> str:
    """UniProt's own explanation from an error body (JSON ``messages`` or text), shortened."""
    try:  # read whole, so that the connection is kept for the next attempt
        body = response.content[:4096].decode("utf-8", "replace").strip()
    except requests.RequestException:  # the body is only a courtesy
        return ""
    if not body:
        return ""
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    messages = data.get("messages") if isinstance(data, dict) else None
    if messages:
        body = "; ".join(str(message) for message in messages)
    return f" ({' '.join(body.split())[:300]})"


def _advice(status: int) -> str:
    if status == 400:
        return "Check the query syntax and field names (https://www.uniprot.org/help/query-fields)."
    if status in (401, 403):
        return "The server refused access; check $TFPROT_UNIPROT_URL."
    if status == 404:
        return "No such endpoint; check the base URL ($TFPROT_UNIPROT_URL)."
    return "This is not retried."


def progress_bar(progress: bool | None, total: int | None, initial: int, unit: str) -> Any:
    """A tqdm bar on stderr, or ``None``; ``progress=None``: only when stderr is a terminal."""
    if progress is None:
        isatty = getattr(sys.stderr, "isatty", None)
        progress = bool(isatty and isatty())
    if not progress:
        return None
    from tqdm import tqdm

    scale = {"unit_scale": True, "unit_divisor": 1024} if unit == "B" else {}
    return tqdm(
        total=total,
        initial=initial,
        unit=f" {unit}" if unit != "B" else unit,
        desc="UniProt",
        file=sys.stderr,
        **scale,
    )
