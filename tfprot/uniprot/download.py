"""One download under way: the pages kept so far, and the checks each new response must pass.

A response is checked against what the download already holds before it is kept: its body (see
:mod:`tfprot.uniprot.pages`), its record count against the page size and ``x-total-results``,
its release against the one asked for and the one of the first page. :meth:`Download.check`
changes nothing, so it can run inside the retry loop (a :class:`MalformedPageError` has the page
fetched again); :meth:`Download.add` keeps the page once it passed.

>>> from tfprot.uniprot.request import UniProtRequest
>>> download = Download(UniProtRequest("x", ("accession", "sequence")), size=2, next_url="u1")
>>> headers = {"X-Total-Results": "3", "Link": '<u2>; rel="next"'}
>>> download.add(*download.check(b"Entry\\tSequence\\nP1\\tMKT\\nP2\\tGW\\n", headers))
>>> download.add(*download.check(b"Entry\\tSequence\\nP3\\tAY\\n", {"X-Total-Results": "3"}))
>>> download.received, download.next_url, download.text()
(3, None, 'Entry\\tSequence\\nP1\\tMKT\\nP2\\tGW\\nP3\\tAY\\n')
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tfprot.errors import UniProtError
from tfprot.uniprot.cache import PartialState
from tfprot.uniprot.pages import MalformedPageError, Page, next_link, parse_body
from tfprot.uniprot.request import UniProtRequest

__all__ = ["Download", "ResultChangedError"]

logger = logging.getLogger(__name__)


class ResultChangedError(UniProtError):
    """The result changed while it was being downloaded (a new release): start over."""


@dataclass
class Download:
    """A download under way: the pages kept so far and what the first response said.

    ``size`` is the search page size; ``None`` for a stream (one response, no next link).
    """

    request: UniProtRequest
    size: int | None
    next_url: str | None
    pages: list[str] = field(default_factory=list)
    received: int = 0
    total: int | None = None
    release: str | None = None
    release_date: str | None = None
    header: str | None = None
    resumed_at: int | None = None

    @classmethod
    def resume(cls, request: UniProtRequest, state: PartialState, pages: list[str]) -> Download:
        logger.info(
            "%s: resuming at page %d (%d of %s records already saved).",
            request.describe(),
            state.pages + 1,
            state.received,
            state.total,
        )
        return cls(
            request,
            size=state.size,
            next_url=state.next_url,
            pages=list(pages),
            received=state.received,
            total=state.total,
            release=state.release,
            header=state.header,
            resumed_at=state.pages,
        )

    # -- one response -------------------------------------------------------------------------

    def check_bound(self) -> None:
        """Refuse to follow more next links than ``x-total-results`` can fill."""
        if self.size is None or self.total is None:
            return
        if len(self.pages) > math.ceil(self.total / self.size) + 1:
            raise UniProtError(
                f"{self.next_url}: more pages than {self.total} records at {self.size} per page "
                "can fill; the server's next links do not end.",
                url=self.next_url,
            )

    def check(self, body: bytes, headers: Mapping[str, str]) -> tuple[Page, str | None, Any]:
        """Check a response against the download so far (inside the retry loop: a
        :class:`MalformedPageError` has the page fetched again). Changes nothing."""
        url = self.next_url
        content_type = (headers.get("Content-Type") or "").lower()
        if "html" in content_type or "json" in content_type:
            raise MalformedPageError(
                f"a {content_type} body where {self.request.format} was asked for"
            )
        page = parse_body(body, self.request.format, self.request.fields, header=self.header)
        next_url = next_link(headers.get("Link")) if self.size is not None else None
        if next_url is not None and next_url == url:
            raise UniProtError(f"{url}: the next link points to the same page.", url=url)
        self._check_release(headers.get("X-UniProt-Release"))
        self._check_count(page, next_url, _int(headers.get("X-Total-Results")))
        return page, next_url, headers

    def _check_release(self, release: str | None) -> None:
        wanted = self.request.release
        if wanted and release and release != wanted:
            raise UniProtError(
                f"{self.request.describe()}: the server serves UniProt release {release}, not "
                f"{wanted}. UniProt's REST API serves only its current release: use a cached "
                "download of that release, or drop release= to take the current one.",
                status=200,
            )
        if wanted and not release:
            logger.warning(
                "%s: the server does not say its release; release=%r cannot be checked.",
                self.request.describe(),
                wanted,
            )
        if self.release is not None and release and release != self.release:
            raise ResultChangedError(
                f"{self.request.describe()}: UniProt release changed from {self.release} to "
                f"{release} during the download"
            )

    def _check_count(self, page: Page, next_url: str | None, total: int | None) -> None:
        if self.total is not None and total is not None and total != self.total:
            raise ResultChangedError(
                f"{self.request.describe()}: x-total-results changed from {self.total} to {total} "
                "during the download"
            )
        expected = self.total if self.total is not None else total
        so_far = self.received + page.count
        if next_url is not None and page.count != self.size:
            raise MalformedPageError(
                f"a page with a next link holds {page.count} records, not the page size {self.size}"
            )
        if expected is not None and next_url is None and so_far != expected:
            raise MalformedPageError(
                f"{so_far} records in all, but x-total-results says {expected}"
            )
        if expected is not None and next_url is not None and so_far >= expected:
            raise MalformedPageError(
                f"{so_far} records so far and more pages to come, but x-total-results says "
                f"{expected}"
            )

    def add(self, page: Page, next_url: str | None, headers: Mapping[str, str]) -> None:
        """Keep a checked page and move on to ``next_url``."""
        self.pages.append(page.rows)
        self.received += page.count
        self.header = self.header or page.header
        if self.total is None:
            self.total = _int(headers.get("X-Total-Results"))
        self.release = self.release or headers.get("X-UniProt-Release")
        self.release_date = self.release_date or headers.get("X-UniProt-Release-Date")
        self.next_url = next_url

    def refused(self, error: UniProtError) -> None:
        """Raise :class:`ResultChangedError` if the server refused the cursor saved by a run
        before (it expired, or a new release came): the download has to start over."""
        if self.resumed_at == len(self.pages) and error.status in (400, 404, 410):
            raise ResultChangedError(
                f"{error.url}: the saved cursor was refused (HTTP {error.status})",
                url=error.url,
                status=error.status,
            ) from error

    # -- the whole download -------------------------------------------------------------------

    def partial(self) -> PartialState:
        """What the cache keeps to resume from here."""
        assert self.next_url is not None and self.size is not None
        return PartialState(
            self.next_url,
            len(self.pages),
            self.received,
            self.total,
            self.release,
            self.header,
            self.size,
        )

    def text(self) -> str:
        rows = "".join(self.pages)
        return self.header + "\n" + rows if self.header is not None else rows

    def info(self) -> dict[str, Any]:
        """The metadata the cache stores beside the result."""
        if self.total is None:
            logger.warning(
                "%s: the server sent no x-total-results; %d records received, count unchecked.",
                self.request.describe(),
                self.received,
            )
        return {
            "records": self.received,
            "total": self.total,
            "release": self.release,
            "release_date": self.release_date,
            "pages": len(self.pages),
        }


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
