"""What is asked of UniProt: the query, fields, format and release, and the URLs that ask it.

The base URL comes from the argument, else the environment variable ``TFPROT_UNIPROT_URL``, else
``https://rest.uniprot.org``.

>>> request = UniProtRequest("reviewed:true AND organism_id:9606",
...                          ("accession", "sequence"), base_url="https://rest.uniprot.org")
>>> request.search_url(size=500)
'https://rest.uniprot.org/uniprotkb/search?query=reviewed%3Atrue+AND+organism_id%3A9606&format=tsv&fields=accession%2Csequence&size=500'
>>> request.stream_url(compressed=True)
'https://rest.uniprot.org/uniprotkb/stream?query=reviewed%3Atrue+AND+organism_id%3A9606&format=tsv&fields=accession%2Csequence&compressed=true'
>>> request.key() == UniProtRequest("reviewed:true AND organism_id:9606",
...     ["accession", "sequence"], base_url="https://rest.uniprot.org/").key()
True
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from tfprot.errors import DataFormatError
from tfprot.uniprot.pages import FORMATS

__all__ = ["DEFAULT_BASE_URL", "MAX_PAGE_SIZE", "URL_VARIABLE", "UniProtRequest", "base_url"]

DEFAULT_BASE_URL = "https://rest.uniprot.org"
URL_VARIABLE = "TFPROT_UNIPROT_URL"
MAX_PAGE_SIZE = 500
"""The largest ``size`` UniProt's search endpoint accepts."""


def base_url(url: str | None = None) -> str:
    """The UniProt REST base URL: ``url``, else ``$TFPROT_UNIPROT_URL``, else the public one.

    >>> base_url("http://127.0.0.1:8080/")
    'http://127.0.0.1:8080'
    """
    chosen = url or os.environ.get(URL_VARIABLE) or DEFAULT_BASE_URL
    parts = urlsplit(chosen)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise DataFormatError(
            f"UniProt base URL {chosen!r} is not an http(s) URL; expected e.g. {DEFAULT_BASE_URL!r} "
            f"(from the base_url argument or ${URL_VARIABLE})."
        )
    return chosen.rstrip("/")


@dataclass(frozen=True)
class UniProtRequest:
    """One UniProtKB query: everything that decides the records that come back.

    Attributes:
        query: UniProt query syntax, e.g. ``'reviewed:true AND organism_id:9606'``.
        fields: return fields (TSV columns), e.g. ``('accession', 'sequence')``; FASTA takes none.
        format: ``'tsv'`` or ``'fasta'``.
        release: a UniProt release such as ``'2025_01'``: the download fails unless the server
            serves it, and the cache keeps it apart from other releases.
        base_url: the REST server (see :func:`base_url`).
    """

    query: str
    fields: tuple[str, ...] = ()
    format: str = "tsv"
    release: str | None = None
    base_url: str = DEFAULT_BASE_URL

    def __post_init__(self) -> None:
        object.__setattr__(self, "fields", _fields(self.fields))
        object.__setattr__(self, "base_url", base_url(self.base_url))
        if not isinstance(self.query, str) or not self.query.strip():
            raise DataFormatError(
                f"UniProt query {self.query!r} is empty; give a query such as "
                "'reviewed:true AND organism_id:9606' ('*' for everything)."
            )
        if self.format not in FORMATS:
            raise DataFormatError(
                f"Unknown UniProt format {self.format!r}. Expect one of {FORMATS}."
            )
        if self.format == "tsv" and not self.fields:
            raise DataFormatError(
                "A TSV download needs fields, e.g. fields=('accession', 'sequence'); see "
                "https://rest.uniprot.org/configure/uniprotkb/result-fields for their names."
            )
        if self.format == "fasta" and self.fields:
            raise DataFormatError(
                f"FASTA has no columns: drop fields={list(self.fields)} or use format='tsv'."
            )

    def params(self) -> dict[str, str]:
        """The query parameters shared by ``search`` and ``stream``."""
        params = {"query": self.query, "format": self.format}
        if self.fields:
            params["fields"] = ",".join(self.fields)
        return params

    def search_url(self, size: int = MAX_PAGE_SIZE) -> str:
        """URL of the first page of the paginated ``search`` endpoint."""
        if not 1 <= int(size) <= MAX_PAGE_SIZE:
            raise DataFormatError(
                f"UniProt page size {size} is out of range; expected 1 to {MAX_PAGE_SIZE}."
            )
        return f"{self.base_url}/uniprotkb/search?{urlencode({**self.params(), 'size': int(size)})}"

    def stream_url(self, compressed: bool = True) -> str:
        """URL of the one-shot ``stream`` endpoint (gzip-compressed if ``compressed``)."""
        params = self.params()
        if compressed:
            params["compressed"] = "true"
        return f"{self.base_url}/uniprotkb/stream?{urlencode(params)}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (what the cache stores beside a result)."""
        return {
            "base_url": self.base_url,
            "query": self.query,
            "fields": list(self.fields),
            "format": self.format,
            "release": self.release,
        }

    def key(self) -> str:
        """Cache key: a hash of the whole request (query, fields, format, release, server)."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]

    def describe(self) -> str:
        """Short description for messages, e.g. ``"UniProt query 'x' (tsv)"``."""
        release = f", release {self.release}" if self.release else ""
        return f"UniProt query {self.query!r} ({self.format}{release})"


def _fields(fields: Sequence[str] | str | None) -> tuple[str, ...]:
    if fields is None:
        return ()
    if isinstance(fields, str):
        fields = fields.split(",")
    cleaned = tuple(str(name).strip() for name in fields if str(name).strip())
    duplicates = sorted({name for name in cleaned if cleaned.count(name) > 1})
    if duplicates:
        raise DataFormatError(f"UniProt fields {duplicates} are given twice in {list(cleaned)}.")
    return cleaned
