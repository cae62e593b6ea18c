"""Download UniProtKB query results, robust to the network and reproducible offline.

Two endpoints of the UniProt REST API (https://rest.uniprot.org):

- ``search`` (the default): pages of up to 500 records, followed through the
  ``Link: <...>; rel="next"`` header. Each page is checked before it is kept (see
  :mod:`tfprot.uniprot.pages`): a page that is cut off, malformed, or holds the wrong number of
  records is fetched again, never half-parsed. With the cache on, every page is saved as it
  arrives, so a download that fails part-way resumes from the last complete page on the next run.
- ``stream``: the whole result in one response, gzip-compressed by default; one request, but an
  interrupted stream starts over.

Requests go through :mod:`requests` (:class:`~tfprot.uniprot.transport.Transport`): connection
errors, timeouts, HTTP 429 and 5xx and failed page checks are retried by urllib3's ``Retry`` with
exponential back-off, honouring ``Retry-After`` (:class:`~tfprot.uniprot.retry.RetryPolicy`). The
number of records received must equal the ``x-total-results`` header. Whatever still fails raises
:class:`UniProtError`, naming the URL and the HTTP status (or the connection error).

Finished downloads are cached (:mod:`tfprot.uniprot.cache`) under a key of the whole request, so a
second run needs no network; ``refresh=True`` downloads again.

>>> with UniProtClient(ClientConfig(base_url="http://127.0.0.1:9", timeout=5.0)) as client:
...     client.config.user_agent.startswith("tfprot/")
True

Typical use (it needs the network, or a server at ``$TFPROT_UNIPROT_URL``)::

    result = fetch("reviewed:true AND organism_id:9606 AND length:[80 TO 500]",
                   ["accession", "sequence", "cc_subcellular_location"])
    result.rows()[0]  # {'Entry': 'A0A087X1C5', 'Sequence': 'MGLEALVPLAMIV...', ...}
"""

from __future__ import annotations

import importlib.metadata
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import requests

from tfprot.errors import DataFormatError, UniProtError
from tfprot.uniprot.cache import CacheEntry, ResultCache
from tfprot.uniprot.download import Download, ResultChangedError
from tfprot.uniprot.request import MAX_PAGE_SIZE, UniProtRequest, base_url
from tfprot.uniprot.result import UniProtResult
from tfprot.uniprot.retry import RetryPolicy
from tfprot.uniprot.transport import Transport, progress_bar

__all__ = [
    "DEFAULT_FIELDS",
    "ClientConfig",
    "UniProtClient",
    "UniProtError",
    "UniProtResult",
    "fetch",
]

logger = logging.getLogger(__name__)

DEFAULT_FIELDS = ("accession", "sequence")
METHODS = ("search", "stream")


def _default_user_agent() -> str:
    try:
        version = importlib.metadata.version("tfprot")
    except importlib.metadata.PackageNotFoundError:  # run from a source tree
        version = "unknown"
    return (
        f"tfprot/{version} (protein language model fine-tuning; "
        f"python-requests/{requests.__version__})"
    )


@dataclass(frozen=True)
class ClientConfig:
    """How the client talks to UniProt.

    Attributes:
        base_url: REST server; ``None``: ``$TFPROT_UNIPROT_URL`` or ``https://rest.uniprot.org``.
        timeout: seconds a connection or read may stall before it counts as failed (and retried).
        retry: retries and back-off (:class:`~tfprot.uniprot.retry.RetryPolicy`).
        page_size: records per ``search`` page (1 to 500).
        user_agent: the ``User-Agent`` header; names tfprot and its version by default.
    """

    base_url: str | None = None
    timeout: float = 60.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    page_size: int = MAX_PAGE_SIZE
    user_agent: str = field(default_factory=_default_user_agent)

    def __post_init__(self) -> None:
        if not isinstance(self.timeout, (int, float)) or self.timeout <= 0:
            raise DataFormatError(f"timeout must be > 0 seconds, got {self.timeout!r}.")
        if not isinstance(self.page_size, int) or not 1 <= self.page_size <= MAX_PAGE_SIZE:
            raise DataFormatError(
                f"page_size {self.page_size!r} is out of range; expected 1 to {MAX_PAGE_SIZE}."
            )


class UniProtClient:
    """A UniProtKB REST client with retries, checks and a local cache.

    It holds one HTTP session (keep-alive between pages): close it, or use it in a ``with``.

    Args:
        config: connection settings (:class:`ClientConfig`).
        cache_dir: cache folder; ``None``: the default (see :mod:`tfprot.uniprot.cache`).
        cache: ``False`` to neither read nor write the cache.
    """

    def __init__(
        self,
        config: ClientConfig | None = None,
        *,
        cache_dir: str | Path | None = None,
        cache: bool = True,
    ) -> None:
        self.config = config or ClientConfig()
        self.base_url = base_url(self.config.base_url)
        self.cache = ResultCache(cache_dir) if cache else None
        self.transport = Transport(
            timeout=self.config.timeout, retry=self.config.retry, user_agent=self.config.user_agent
        )

    def close(self) -> None:
        """Close the HTTP session."""
        self.transport.close()

    def __enter__(self) -> UniProtClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def fetch(
        self,
        query: str,
        fields: Sequence[str] | str | None = DEFAULT_FIELDS,
        *,
        format: str = "tsv",
        release: str | None = None,
        method: str = "search",
        compressed: bool = True,
        refresh: bool = False,
        progress: bool | None = None,
    ) -> UniProtResult:
        """Download (or read from the cache) every record of ``query``.

        Args:
            query: UniProt query, e.g. ``'reviewed:true AND organism_id:9606'``.
            fields: return fields (TSV columns); ignored for ``format='fasta'``.
            format: ``'tsv'`` or ``'fasta'``.
            release: demand this UniProt release (e.g. ``'2025_01'``); part of the cache key.
            method: ``'search'`` (paginated, resumable) or ``'stream'`` (one response).
            compressed: ask ``stream`` for gzip.
            refresh: download again even if the cache has the result.
            progress: a progress bar on stderr; ``None``: when stderr is a terminal.

        Returns:
            The result; :meth:`UniProtResult.rows` or a labeler turn it into records.

        Raises:
            UniProtError: the server could not be reached or kept failing after the retries, it
                refused the request (e.g. HTTP 400 for a bad query), the release differs from
                ``release``, or the record count differs from ``x-total-results``.
        """
        if method not in METHODS:
            raise DataFormatError(f"Unknown method {method!r}. Expect 'search' or 'stream'.")
        request = UniProtRequest(
            query,
            () if format == "fasta" and fields == DEFAULT_FIELDS else fields or (),
            format=format,
            release=release,
            base_url=self.base_url,
        )
        entry = self.cache.entry(request) if self.cache else None
        if entry is not None and refresh:
            entry.clear()
        elif entry is not None and (cached := _from_cache(entry)) is not None:
            return cached
        for attempt in (1, 2):
            try:
                download = self._download(request, method, compressed, entry, progress)
                break
            except ResultChangedError as error:
                if attempt == 2:
                    raise
                logger.warning("%s; starting the download over.", error)
                if entry is not None:
                    entry.clear_partial()
        fetched = datetime.now(timezone.utc).isoformat(timespec="seconds")
        text, meta = download.text(), {**download.info(), "fetched": fetched, "method": method}
        if entry is not None:
            entry.save(text, meta)
        logger.info("%s: %d records downloaded.", request.describe(), download.received)
        path = entry.result_path if entry is not None else None
        return UniProtResult.from_meta(request, text, meta, from_cache=False, path=path)

    def _download(
        self,
        request: UniProtRequest,
        method: str,
        compressed: bool,
        entry: CacheEntry | None,
        progress: bool | None,
    ) -> Download:
        """Every page of ``request``, checked; search pages saved to ``entry`` as they come."""
        if method == "stream":
            download = Download(request, size=None, next_url=request.stream_url(compressed))
            download.add(*self.transport.get(download.next_url, download.check, progress=progress))
            return download
        resumed = entry.load_partial() if entry is not None else None
        download = (
            Download.resume(request, *resumed)
            if resumed is not None
            else Download(request, self.config.page_size, request.search_url(self.config.page_size))
        )
        bar = progress_bar(progress, download.total, download.received, unit="records")
        try:
            while (url := download.next_url) is not None:
                download.check_bound()
                try:
                    download.add(*self.transport.get(url, download.check))
                except UniProtError as error:
                    download.refused(error)
                    raise
                if entry is not None and download.next_url is not None:
                    entry.save_page(len(download.pages), download.pages[-1], download.partial())
                if bar is not None:
                    bar.total = download.total
                    bar.update(download.received - bar.n)
        finally:
            if bar is not None:
                bar.close()
        return download


def _from_cache(entry: CacheEntry) -> UniProtResult | None:
    cached = entry.load()
    if cached is None:
        return None
    text, meta = cached
    logger.info(
        "%s: %d records from the cache %s (fetched %s).",
        entry.request.describe(),
        meta["records"],
        entry.result_path,
        meta.get("fetched"),
    )
    return UniProtResult.from_meta(
        entry.request, text, meta, from_cache=True, path=entry.result_path
    )


def fetch(
    query: str,
    fields: Sequence[str] | str | None = DEFAULT_FIELDS,
    *,
    base_url: str | None = None,
    cache_dir: str | Path | None = None,
    cache: bool = True,
    config: ClientConfig | None = None,
    **options: Any,
) -> UniProtResult:
    """Download every record of a UniProtKB query (or read it from the cache).

    ``UniProtClient(config, cache_dir=cache_dir, cache=cache).fetch(query, fields, **options)``
    in one call, the session closed afterwards; ``options`` are the keywords of
    :meth:`UniProtClient.fetch` (``format``, ``release``, ``method``, ``compressed``,
    ``refresh``, ``progress``). ``base_url`` overrides ``config.base_url``.
    """
    config = config or ClientConfig()
    if base_url is not None:
        config = replace(config, base_url=base_url)
    with UniProtClient(config, cache_dir=cache_dir, cache=cache) as client:
        return client.fetch(query, fields, **options)
