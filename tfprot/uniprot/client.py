"""Download UniProtKB query results, robust to the network and reproducible offline.

Two endpoints of the UniProt REST API (https://rest.uniprot.org):

- ``search`` (the default): pages of up to 500 records, followed through the
  ``Link: <...>; rel="next"`` header. Each page is checked before it is kept (see
  :mod:`tfprot.uniprot.pages`): a page that is cut off, malformed, or holds the wrong number of
  records is fetched again, never half-parsed. With the cache on, every page is saved as it
  arrives, so a download that fails part-way resumes from the last complete page on the next run.
- ``stream``: the whole result in one response, gzip-compressed by default; one request, but an
  interrupted stream starts over.

Connection errors, timeouts, HTTP 429 and 5xx are retried with exponential back-off, honouring
``Retry-After`` (:class:`~tfprot.uniprot.retry.RetryPolicy`). The number of records received must
equal the ``x-total-results`` header. Whatever still fails raises :class:`UniProtError`, naming
the URL and the HTTP status (or the connection error).

Finished downloads are cached (:mod:`tfprot.uniprot.cache`) under a key of the whole request, so a
second run needs no network; ``refresh=True`` downloads again.

>>> client = UniProtClient(ClientConfig(base_url="http://127.0.0.1:9", timeout=5.0))
>>> client.config.user_agent.startswith("tfprot/")
True

Typical use (it needs the network, or a server at ``$TFPROT_UNIPROT_URL``)::

    result = fetch("reviewed:true AND organism_id:9606 AND length:[80 TO 500]",
                   ["accession", "sequence", "cc_subcellular_location"])
    result.rows()[0]  # {'Entry': 'A0A087X1C5', 'Sequence': 'MGLEALVPLAMIV...', ...}
"""

from __future__ import annotations

import http.client
import logging
import math
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

from tfprot.data.records import ProteinRecord, Source
from tfprot.data.sequences import clean_sequence
from tfprot.errors import DataFormatError, UniProtError
from tfprot.uniprot.cache import CacheEntry, PartialState, ResultCache
from tfprot.uniprot.pages import MalformedPageError, Page, next_link, parse_body
from tfprot.uniprot.request import MAX_PAGE_SIZE, UniProtRequest, base_url
from tfprot.uniprot.retry import RETRY_STATUSES, RetryPolicy, parse_retry_after

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
_CHUNK = 1 << 16
_T = TypeVar("_T")


class _ResultChangedError(UniProtError):
    """The result changed while it was being downloaded (a new release): start over."""


def _default_user_agent() -> str:
    from tfprot import __version__

    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    return f"tfprot/{__version__} (protein language model fine-tuning; Python-urllib/{python})"


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
        if self.timeout <= 0:
            raise DataFormatError(f"timeout must be > 0 seconds, got {self.timeout}.")
        if not 1 <= self.page_size <= MAX_PAGE_SIZE:
            raise DataFormatError(
                f"page_size {self.page_size} is out of range; expected 1 to {MAX_PAGE_SIZE}."
            )


@dataclass(frozen=True)
class UniProtResult:
    """The records of one query, as text in UniProt's format, with where they came from.

    Attributes:
        request: what was asked.
        text: the whole result (TSV with one header line, or FASTA).
        count: number of records.
        total: ``x-total-results`` as the server sent it (``None`` if it sent none).
        release: the UniProt release (``X-UniProt-Release``), if the server named it.
        release_date: ``X-UniProt-Release-Date``, if sent.
        from_cache: whether this came from the local cache rather than the network.
        path: the cached file, if the cache is on.
        fetched: when it was downloaded (ISO 8601, UTC).
    """

    request: UniProtRequest
    text: str
    count: int
    total: int | None = None
    release: str | None = None
    release_date: str | None = None
    from_cache: bool = False
    path: Path | None = None
    fetched: str | None = None

    def __len__(self) -> int:
        return self.count

    @property
    def header(self) -> tuple[str, ...]:
        """TSV column names, as UniProt wrote them (``('Entry', 'Sequence', ...)``)."""
        if self.request.format != "tsv" or not self.text:
            return ()
        return tuple(self.text.partition("\n")[0].split("\t"))

    def rows(self) -> list[dict[str, str]]:
        """TSV rows as ``{column name: value}``, in order.

        >>> from tfprot.uniprot.request import UniProtRequest
        >>> result = UniProtResult(UniProtRequest("x", ("accession", "sequence")),
        ...                        "Entry\\tSequence\\nP1\\tMKT\\n", count=1)
        >>> result.rows()
        [{'Entry': 'P1', 'Sequence': 'MKT'}]
        """
        if self.request.format != "tsv":
            raise DataFormatError(f"{self.describe()}: rows() needs format='tsv'; use records().")
        lines = self.text.split("\n")[1:-1]
        header = self.header
        return [dict(zip(header, line.split("\t"), strict=True)) for line in lines]

    def records(self) -> list[ProteinRecord]:
        """Unlabelled, validated records (id = accession), e.g. for prediction or embeddings.

        >>> from tfprot.uniprot.request import UniProtRequest
        >>> result = UniProtResult(UniProtRequest("x", format="fasta"),
        ...                        ">sp|P01308|INS_HUMAN Insulin OS=Homo sapiens\\nMALW\\nLLPL\\n", 1)
        >>> [(r.id, r.sequence, r.description) for r in result.records()]
        [('P01308', 'MALWLLPL', 'INS_HUMAN Insulin OS=Homo sapiens')]
        """
        if self.request.format == "fasta":
            return self._fasta_records()
        from tfprot.uniprot.labelers import column_for

        rows = self.rows()
        if not rows:
            return []
        sequence = column_for(rows[0], "sequence", self.describe())
        identifier = _optional_column(rows[0], ("accession", "id"))
        records = []
        for number, row in enumerate(rows, start=1):
            record_id = row[identifier] if identifier else f"row{number}"
            source = Source(self.describe(), row=number, line=number + 1)
            where = f"{source.describe()}, id {record_id!r}"
            records.append(
                ProteinRecord(
                    id=record_id,
                    sequence=clean_sequence(row[sequence], where=where),
                    source=source,
                )
            )
        return records

    def describe(self) -> str:
        """The request, and the release and cache file when known (for messages)."""
        parts = [self.request.describe()]
        if self.release:
            parts.append(f"release {self.release}")
        return ", ".join(parts)

    def _fasta_records(self) -> list[ProteinRecord]:
        records = []
        header: tuple[str, str, int] | None = None
        body: list[str] = []
        lines = self.text.split("\n")
        for number, line in enumerate([*lines, ">"], start=1):
            if not line.startswith(">"):
                body.append(line)
                continue
            if header is not None:
                record_id, description, line_number = header
                source = Source(self.describe(), line=line_number)
                where = f"{source.describe()}, id {record_id!r}"
                records.append(
                    ProteinRecord(
                        id=record_id,
                        sequence=clean_sequence("".join(body), where=where),
                        description=description,
                        source=source,
                    )
                )
            if number <= len(lines):
                word, _, description = line[1:].partition(" ")
                parts = word.split("|")
                if len(parts) >= 3:  # sp|P01308|INS_HUMAN: the accession, name kept
                    header = (parts[1], f"{parts[2]} {description}".strip(), number)
                else:
                    header = (word, description, number)
                body = []
        return records


def _optional_column(row: dict[str, str], fields: Sequence[str]) -> str | None:
    from tfprot.uniprot.pages import FIELD_COLUMNS

    for name in fields:
        for candidate in (FIELD_COLUMNS.get(name), name):
            if candidate in row:
                return candidate
    return None


class UniProtClient:
    """A UniProtKB REST client with retries, checks and a local cache.

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
        if method not in ("search", "stream"):
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
        elif entry is not None:
            cached = entry.load()
            if cached is not None:
                text, meta = cached
                logger.info(
                    "%s: %d records from the cache %s (fetched %s).",
                    request.describe(),
                    meta["records"],
                    entry.result_path,
                    meta.get("fetched"),
                )
                return UniProtResult(
                    request,
                    text,
                    count=meta["records"],
                    total=meta.get("total"),
                    release=meta.get("release"),
                    release_date=meta.get("release_date"),
                    from_cache=True,
                    path=entry.result_path,
                    fetched=meta.get("fetched"),
                )
        for attempt in (1, 2):
            try:
                if method == "search":
                    text, info = self._search(request, entry, progress)
                else:
                    text, info = self._stream(request, compressed, progress)
                break
            except _ResultChangedError as error:
                if attempt == 2:
                    raise
                logger.warning("%s; starting the download over.", error)
                if entry is not None:
                    entry.clear_partial()
        fetched = datetime.now(timezone.utc).isoformat(timespec="seconds")
        meta = {**info, "fetched": fetched, "method": method}
        if entry is not None:
            entry.save(text, meta)
        logger.info("%s: %d records downloaded.", request.describe(), info["records"])
        return UniProtResult(
            request,
            text,
            count=info["records"],
            total=info["total"],
            release=info["release"],
            release_date=info["release_date"],
            from_cache=False,
            path=entry.result_path if entry is not None else None,
            fetched=fetched,
        )

    # -- search: paginated, resumable ------------------------------------------------------------

    def _search(
        self, request: UniProtRequest, entry: CacheEntry | None, progress: bool | None
    ) -> tuple[str, dict[str, Any]]:
        resumed = entry.load_partial() if entry is not None else None
        if resumed is not None:
            state, pages = resumed
            url: str | None = state.next_url
            received, total, release = state.received, state.total, state.release
            header, size = state.header, state.size
            logger.info(
                "%s: resuming at page %d (%d of %s records already saved).",
                request.describe(),
                state.pages + 1,
                received,
                total,
            )
        else:
            pages, received, total, release, header = [], 0, None, None, None
            size = self.config.page_size
            url = request.search_url(size)
        release_date = None
        bar = _progress_bar(progress, total, received, unit="records")
        try:
            while url is not None:
                if total is not None and len(pages) > math.ceil(total / size) + 1:
                    raise UniProtError(
                        f"{url}: more pages than {total} records at {size} per page can fill; "
                        "the server's next links do not end.",
                        url=url,
                    )
                check = _PageCheck(request, size, received, total, release, header)
                try:
                    page, next_url, headers = self._get(url, check)
                except UniProtError as error:
                    first_after_resume = resumed is not None and len(pages) == state.pages
                    if first_after_resume and error.status in (400, 404, 410):
                        raise _ResultChangedError(
                            f"{url}: the saved cursor was refused (HTTP {error.status})",
                            url=url,
                            status=error.status,
                        ) from error
                    raise
                if next_url == url:
                    raise UniProtError(f"{url}: the next link points to the same page.", url=url)
                pages.append(page.rows)
                received += page.count
                header = header or page.header
                total = total if total is not None else _int(headers.get("X-Total-Results"))
                release = release or headers.get("X-UniProt-Release")
                release_date = release_date or headers.get("X-UniProt-Release-Date")
                if entry is not None and next_url is not None:
                    entry.save_page(
                        len(pages),
                        page.rows,
                        PartialState(next_url, len(pages), received, total, release, header, size),
                    )
                if bar is not None:
                    if bar.total is None and total is not None:
                        bar.total = total
                    bar.update(page.count)
                url = next_url
        finally:
            if bar is not None:
                bar.close()
        if total is None:
            logger.warning(
                "%s: the server sent no x-total-results; %d records received, count unchecked.",
                request.describe(),
                received,
            )
        text = "".join(pages)
        if request.format == "tsv" and header is not None:
            text = header + "\n" + text
        return text, {
            "records": received,
            "total": total,
            "release": release,
            "release_date": release_date,
            "pages": len(pages),
        }

    # -- stream: one response ----------------------------------------------------------------

    def _stream(
        self, request: UniProtRequest, compressed: bool, progress: bool | None
    ) -> tuple[str, dict[str, Any]]:
        url = request.stream_url(compressed)
        check = _PageCheck(request, size=None, received=0, total=None, release=None, header=None)
        page, _, headers = self._get(url, check, progress=progress)
        text = (page.header + "\n" + page.rows) if page.header is not None else page.rows
        total = _int(headers.get("X-Total-Results"))
        if total is None:
            logger.warning(
                "%s: the server sent no x-total-results; %d records received, count unchecked.",
                request.describe(),
                page.count,
            )
        return text, {
            "records": page.count,
            "total": total,
            "release": headers.get("X-UniProt-Release"),
            "release_date": headers.get("X-UniProt-Release-Date"),
            "pages": 1,
        }

    # -- one request, with retries --------------------------------------------------------------

    def _get(
        self,
        url: str,
        check: Callable[[bytes, Any], _T],
        progress: bool | None = False,
    ) -> _T:
        policy = self.config.retry
        attempts = policy.max_retries + 1
        problem, status = "", None
        for attempt in range(attempts):
            retry_after = None
            try:
                request = urllib.request.Request(
                    url,
                    headers={
                        "User-Agent": self.config.user_agent,
                        "Accept-Encoding": "gzip",
                    },
                )
                with urllib.request.urlopen(request, timeout=self.config.timeout) as response:
                    status = response.status
                    body = _read_body(response, progress)
                    return check(body, response.headers)
            except UniProtError:
                raise
            except urllib.error.HTTPError as error:
                status = error.code
                message = _error_message(error)
                if error.code not in RETRY_STATUSES:
                    raise UniProtError(
                        f"{url}: HTTP {error.code} {error.reason}{message}. " + _advice(error.code),
                        url=url,
                        status=error.code,
                    ) from error
                retry_after = parse_retry_after(error.headers.get("Retry-After"))
                problem = f"HTTP {error.code} {error.reason}{message}"
            except MalformedPageError as error:
                problem = f"HTTP {status} but {error}"
            except (http.client.HTTPException, urllib.error.URLError, OSError) as error:
                status = None
                problem = f"connection error: {_reason(error)}"
            if attempt + 1 < attempts:
                delay = policy.delay(attempt, retry_after)
                logger.warning(
                    "%s: %s; retry %d of %d in %.3g s.",
                    url,
                    problem,
                    attempt + 1,
                    policy.max_retries,
                    delay,
                )
                policy.sleep(delay)
        raise UniProtError(
            f"{url}: failed after {attempts} attempts; the last: {problem}. Check the network "
            "(or the server in $TFPROT_UNIPROT_URL) and try again later; pages already saved in "
            "the cache are kept and the download resumes from them.",
            url=url,
            status=status,
        )


class _PageCheck:
    """Checks one response inside the retry loop: a failing page is fetched again."""

    def __init__(
        self,
        request: UniProtRequest,
        size: int | None,
        received: int,
        total: int | None,
        release: str | None,
        header: str | None,
    ) -> None:
        self.request, self.size, self.received = request, size, received
        self.total, self.release, self.header = total, release, header

    def __call__(self, body: bytes, headers: Any) -> tuple[Page, str | None, Any]:
        content_type = (headers.get("Content-Type") or "").lower()
        if "html" in content_type or "json" in content_type:
            raise MalformedPageError(
                f"a {content_type} body where {self.request.format} was asked for"
            )
        page = parse_body(body, self.request.format, self.request.fields, header=self.header)
        url = next_link(headers.get("Link")) if self.size is not None else None
        total = _int(headers.get("X-Total-Results"))
        release = headers.get("X-UniProt-Release")
        if self.request.release and release and release != self.request.release:
            raise UniProtError(
                f"{self.request.describe()}: the server serves UniProt release {release}, not "
                f"{self.request.release}. UniProt's REST API serves only its current release: "
                "use a cached download of that release, or drop release= to take the current one.",
                status=200,
            )
        if self.request.release and not release:
            logger.warning(
                "%s: the server does not say its release; release=%r cannot be checked.",
                self.request.describe(),
                self.request.release,
            )
        if self.total is not None and total is not None and total != self.total:
            raise _ResultChangedError(
                f"{self.request.describe()}: x-total-results changed from {self.total} to {total} "
                "during the download"
            )
        if self.release is not None and release and release != self.release:
            raise _ResultChangedError(
                f"{self.request.describe()}: UniProt release changed from {self.release} to "
                f"{release} during the download"
            )
        expected_total = self.total if self.total is not None else total
        so_far = self.received + page.count
        if url is not None and self.size is not None and page.count != self.size:
            raise MalformedPageError(
                f"a page with a next link holds {page.count} records, not the page size {self.size}"
            )
        if expected_total is not None:
            if url is None and so_far != expected_total:
                raise MalformedPageError(
                    f"{so_far} records in all, but x-total-results says {expected_total}"
                )
            if url is not None and so_far >= expected_total:
                raise MalformedPageError(
                    f"{so_far} records so far and more pages to come, but x-total-results says "
                    f"{expected_total}"
                )
        return page, url, headers


def _read_body(response: Any, progress: bool | None) -> bytes:
    """Read the whole body; a body shorter than its Content-Length is a cut-off page."""
    length = _int(response.headers.get("Content-Length"))
    bar = _progress_bar(progress, length, 0, unit="B") if progress is not False else None
    chunks = []
    received = 0
    try:
        while True:
            chunk = response.read(_CHUNK)
            if not chunk:
                break
            chunks.append(chunk)
            received += len(chunk)
            if bar is not None:
                bar.update(len(chunk))
    finally:
        if bar is not None:
            bar.close()
    if length is not None and received != length:
        raise MalformedPageError(f"the connection closed after {received} of {length} bytes")
    return b"".join(chunks)


def _progress_bar(progress: bool | None, total: int | None, initial: int, unit: str):
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


def _error_message(error: urllib.error.HTTPError) -> str:
    """UniProt's own explanation from an error body (JSON ``messages`` or text), shortened."""
    try:
        body = error.read(4096).decode("utf-8", "replace").strip()
    except Exception:  # the body is only a courtesy
        return ""
    if not body:
        return ""
    try:
        import json

        data = json.loads(body)
        messages = data.get("messages") if isinstance(data, dict) else None
        if messages:
            body = "; ".join(str(message) for message in messages)
    except ValueError:
        pass
    return f" ({' '.join(body.split())[:300]})"


def _advice(status: int) -> str:
    if status == 400:
        return "Check the query syntax and field names (https://www.uniprot.org/help/query-fields)."
    if status in (401, 403):
        return "The server refused access; check $TFPROT_UNIPROT_URL."
    if status == 404:
        return "No such endpoint; check the base URL ($TFPROT_UNIPROT_URL)."
    return "This is not retried."


def _reason(error: BaseException) -> str:
    reason = getattr(error, "reason", None)
    text = str(reason if reason is not None else error) or type(error).__name__
    return f"{type(reason if reason is not None else error).__name__}: {text}"


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def fetch(
    query: str,
    fields: Sequence[str] | str | None = DEFAULT_FIELDS,
    *,
    format: str = "tsv",
    release: str | None = None,
    method: str = "search",
    compressed: bool = True,
    base_url: str | None = None,
    cache_dir: str | Path | None = None,
    cache: bool = True,
    refresh: bool = False,
    progress: bool | None = None,
    config: ClientConfig | None = None,
) -> UniProtResult:
    """Download every record of a UniProtKB query (or read it from the cache).

    A shortcut for ``UniProtClient(config, cache_dir=..., cache=...).fetch(...)``; see
    :meth:`UniProtClient.fetch` for the arguments. ``base_url`` overrides ``config.base_url``.
    """
    config = config or ClientConfig()
    if base_url is not None:
        from dataclasses import replace

        config = replace(config, base_url=base_url)
    client = UniProtClient(config, cache_dir=cache_dir, cache=cache)
    return client.fetch(
        query,
        fields,
        format=format,
        release=release,
        method=method,
        compressed=compressed,
        refresh=refresh,
        progress=progress,
    )
