"""A local cache of UniProt downloads, so that repeated runs (and tests) work offline.

Each request (:meth:`UniProtRequest.key`: query, fields, format, release, server) has a folder:

- ``result.tsv`` / ``result.fasta`` and ``meta.json`` (record count, UniProt release, when): the
  finished download, each written atomically, the result first, so a ``meta.json`` always
  describes a whole result;
- ``partial/``: the pages of an unfinished search download (``page-000001.txt``...) and
  ``state.json`` (the cursor URL of the next page, records so far), each page written before the
  state that counts it. A download that stopped part-way resumes from the last complete page.

The folder is ``cache_dir`` if given, else ``$TFPROT_CACHE/uniprot``, else
``$XDG_CACHE_HOME/tfprot/uniprot`` (``~/.cache/tfprot/uniprot``).

>>> import tempfile
>>> from tfprot.uniprot.request import UniProtRequest
>>> entry = ResultCache(tempfile.mkdtemp()).entry(
...     UniProtRequest("gene:INS", ("accession", "sequence"), base_url="http://127.0.0.1:1"))
>>> entry.load() is None
True
>>> entry.save("Entry\\tSequence\\nP01308\\tMALWMR\\n", {"records": 1, "release": "2025_01"})
>>> text, meta = entry.load()
>>> meta["records"], meta["release"]
(1, '2025_01')
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tfprot._io import write_text_atomic
from tfprot.uniprot.pages import MalformedPageError, parse_body
from tfprot.uniprot.request import UniProtRequest

__all__ = ["CACHE_VARIABLE", "CacheEntry", "PartialState", "ResultCache", "default_cache_dir"]

logger = logging.getLogger(__name__)

CACHE_VARIABLE = "TFPROT_CACHE"


def default_cache_dir() -> Path:
    """``$TFPROT_CACHE/uniprot``, else ``$XDG_CACHE_HOME/tfprot/uniprot`` or ``~/.cache/...``."""
    if os.environ.get(CACHE_VARIABLE):
        return Path(os.environ[CACHE_VARIABLE]) / "uniprot"
    xdg = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(xdg) / "tfprot" / "uniprot"


@dataclass(frozen=True)
class PartialState:
    """Where an unfinished paginated download stands.

    Attributes:
        next_url: the cursor URL of the first page not yet saved.
        pages: pages saved so far (``page-000001.txt`` to ``page-<pages>.txt``).
        received: records in those pages.
        total: ``x-total-results`` of the first page.
        release: ``X-UniProt-Release`` of the first page.
        header: the TSV header line (``None`` for FASTA).
        size: the page size asked for.
    """

    next_url: str
    pages: int
    received: int
    total: int | None
    release: str | None
    header: str | None
    size: int


class ResultCache:
    """The cache folder; :meth:`entry` gives the place of one request."""

    def __init__(self, root: str | os.PathLike | None = None) -> None:
        self.root = Path(root) if root is not None else default_cache_dir()

    def entry(self, request: UniProtRequest) -> CacheEntry:
        return CacheEntry(self.root / request.key(), request)


class CacheEntry:
    """The cached result (and unfinished download) of one request."""

    def __init__(self, folder: Path, request: UniProtRequest) -> None:
        self.folder = folder
        self.request = request

    @property
    def result_path(self) -> Path:
        return self.folder / f"result.{self.request.format}"

    @property
    def meta_path(self) -> Path:
        return self.folder / "meta.json"

    @property
    def partial_folder(self) -> Path:
        return self.folder / "partial"

    # -- finished results ------------------------------------------------------------------

    def load(self) -> tuple[str, dict[str, Any]] | None:
        """The cached text and metadata, or ``None`` if absent or damaged (then logged)."""
        if not (self.meta_path.exists() and self.result_path.exists()):
            return None
        try:
            meta = json.loads(self.meta_path.read_text(encoding="utf-8"))
            text = self.result_path.read_text(encoding="utf-8")
            page = parse_body(text.encode("utf-8"), self.request.format, self.request.fields)
        except (OSError, ValueError, MalformedPageError) as error:
            logger.warning("%s: damaged cache entry (%s); downloading again.", self.folder, error)
            return None
        if meta.get("request") not in (None, self.request.to_dict()) or page.count != meta.get(
            "records"
        ):
            logger.warning(
                "%s: cache entry holds %d records, its metadata says %s; downloading again.",
                self.folder,
                page.count,
                meta.get("records"),
            )
            return None
        return text, meta

    def save(self, text: str, meta: dict[str, Any]) -> None:
        """Store a finished result (atomically) and drop the unfinished pages."""
        self.folder.mkdir(parents=True, exist_ok=True)
        write_text_atomic(self.result_path, text)
        write_text_atomic(
            self.meta_path,
            json.dumps({"request": self.request.to_dict(), **meta}, indent=2) + "\n",
        )
        self.clear_partial()

    def clear(self) -> None:
        """Forget this request's result and pages."""
        for path in (self.meta_path, self.result_path):
            path.unlink(missing_ok=True)
        self.clear_partial()

    # -- unfinished downloads ----------------------------------------------------------------

    def page_path(self, index: int) -> Path:
        return self.partial_folder / f"page-{index:06d}.txt"

    def save_page(self, index: int, rows: str, state: PartialState) -> None:
        """Store page ``index`` (1-based), then the state that counts it; both atomically."""
        write_text_atomic(self.page_path(index), rows)
        write_text_atomic(
            self.partial_folder / "state.json", json.dumps(asdict(state), indent=2) + "\n"
        )

    def load_partial(self) -> tuple[PartialState, list[str]] | None:
        """The state and saved pages of an unfinished download, or ``None``.

        The pages are recounted; an inconsistent set is discarded (and logged), never trusted.
        """
        state_path = self.partial_folder / "state.json"
        if not state_path.exists():
            return None
        try:
            state = PartialState(**json.loads(state_path.read_text(encoding="utf-8")))
            pages = [
                self.page_path(index).read_text(encoding="utf-8")
                for index in range(1, state.pages + 1)
            ]
            count = sum(
                parse_body(
                    ((state.header + "\n") if state.header else "").encode() + page.encode(),
                    self.request.format,
                    self.request.fields,
                ).count
                for page in pages
            )
        except (OSError, ValueError, TypeError, MalformedPageError) as error:
            logger.warning("%s: unusable partial download (%s); starting over.", self.folder, error)
            self.clear_partial()
            return None
        if count != state.received:
            logger.warning(
                "%s: partial download holds %d records, its state says %d; starting over.",
                self.folder,
                count,
                state.received,
            )
            self.clear_partial()
            return None
        return state, pages

    def clear_partial(self) -> None:
        if self.partial_folder.exists():
            shutil.rmtree(self.partial_folder)
