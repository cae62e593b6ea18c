"""A real HTTP server on 127.0.0.1 that speaks the parts of the UniProt REST API tfprot uses.

``/uniprotkb/search`` answers TSV or FASTA pages of ``size`` records, with ``Link: <...>;
rel="next"`` cursor headers, ``X-Total-Results`` and ``X-UniProt-Release``;
``/uniprotkb/stream`` answers everything at once, gzip-compressed with ``compressed=true``. Unknown
fields, a missing query or a size over 500 get UniProt's HTTP 400 with a JSON message.

Faults are planned per page (1-based page number for search, ``"stream"`` for stream): each
request for that page takes the next fault of its list, and once the list is used up the page is
served correctly. Every request is logged with its page, fault and headers.
"""

from __future__ import annotations

import gzip
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

# -- what most tests ask, and how they compare ---------------------------------------------

FIELDS = ("accession", "sequence", "cc_subcellular_location")
QUERY = "organism_id:9606 AND reviewed:true AND length:[80 TO 500]"
PAGE_SIZE = 50
PAGES = 10  # the 460 records of the `multiloc` fixture at 50 per page


def expected_rows(entries):
    return [(e["accession"], e["sequence"], e["cc_subcellular_location"]) for e in entries]


def got_rows(result):
    return [(r["Entry"], r["Sequence"], r["Subcellular location [CC]"]) for r in result.rows()]


COLUMNS = {
    "accession": "Entry",
    "id": "Entry Name",
    "length": "Length",
    "sequence": "Sequence",
    "cc_subcellular_location": "Subcellular location [CC]",
    "ft_helix": "Helix",
    "ft_strand": "Beta strand",
    "ft_turn": "Turn",
}

FAULTS = (
    "429",  # Too Many Requests with Retry-After
    "503",  # Service Unavailable
    "reset",  # the connection closes before any response
    "drop",  # Content-Length promised, half the body sent, connection closed
    "drop-chunked",  # chunked body, closed after the first chunk
    "stall",  # no answer for `stall_seconds` (longer than the client's timeout)
    "malformed-row",  # 200, consistent length, one row cut at a tab
    "html",  # 200, an HTML error page instead of TSV
    "short",  # 200, a well-formed page missing its last row
    "gzip-truncated",  # stream: gzip cut off, close-delimited (no Content-Length)
    "new-release",  # the server moves to release `next_release` before answering
)


@dataclass
class Logged:
    """One request as the server saw it."""

    path: str
    params: dict[str, str]
    headers: dict[str, str]
    page: int | str | None
    fault: str | None


@dataclass
class UniProtServer:
    """The server; ``entries`` are dicts of UniProt field → value, served in this order."""

    entries: list[dict[str, str]]
    release: str = "2025_01"
    next_release: str = "2025_02"
    retry_after: str = "1"
    stall_seconds: float = 1.0
    total_override: int | None = None
    gzip_pages: bool = False
    faults: dict[int | str, list[str]] = field(default_factory=dict)
    requests: list[Logged] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> UniProtServer:
        handler = type("Handler", (_Handler,), {"server_state": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> UniProtServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._httpd is not None
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    # -- what tests inspect ------------------------------------------------------------------

    def pages_requested(self) -> list[int | str | None]:
        return [logged.page for logged in self.requests]

    def take_fault(self, page: int | str) -> str | None:
        with self._lock:
            planned = self.faults.get(page)
            return planned.pop(0) if planned else None

    def log(self, logged: Logged) -> None:
        with self._lock:
            self.requests.append(logged)

    # -- content -------------------------------------------------------------------------------

    def render(self, entries: list[dict[str, str]], fields: list[str], format: str) -> str:
        if format == "fasta":
            return "".join(
                f">sp|{e['accession']}|{e.get('id', e['accession'] + '_TEST')} test protein\n"
                + "".join(
                    e["sequence"][i : i + 60] + "\n" for i in range(0, len(e["sequence"]), 60)
                )
                for e in entries
            )
        lines = ["\t".join(COLUMNS[name] for name in fields)]
        lines += ["\t".join(_value(e, name) for name in fields) for e in entries]
        return "\n".join(lines) + "\n"


def _value(entry: dict[str, str], name: str) -> str:
    if name == "length":
        return str(len(entry["sequence"]))
    return entry.get(name, "")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_state: UniProtServer

    def log_message(self, format, *args) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        state = self.server_state
        parts = urlsplit(self.path)
        params = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        headers = {key: value for key, value in self.headers.items()}
        endpoint = parts.path.rstrip("/").rsplit("/", 1)[-1]
        if parts.path not in ("/uniprotkb/search", "/uniprotkb/stream"):
            state.log(Logged(parts.path, params, headers, None, None))
            return self._json(404, {"messages": [f"Resource not found: {parts.path}"]})
        format = params.get("format", "json")
        fields = [f for f in params.get("fields", "").split(",") if f] or ["accession"]
        problem = None
        if not params.get("query"):
            problem = "'query' is a required parameter"
        elif format not in ("tsv", "fasta"):
            problem = f"Invalid format parameter value '{format}'"
        elif any(name not in COLUMNS for name in fields):
            bad = next(name for name in fields if name not in COLUMNS)
            problem = f"Invalid fields parameter value '{bad}'"
        size = int(params.get("size", "25"))
        if size > 500:
            problem = "'size' must be less than or equal to 500"
        if problem:
            state.log(Logged(parts.path, params, headers, None, None))
            return self._json(400, {"url": self.path, "messages": [problem]})

        if endpoint == "search":
            offset = _decode_cursor(params.get("cursor"))
            page: int | str = offset // size + 1
            chosen = state.entries[offset : offset + size]
            next_offset = offset + size if offset + size < len(state.entries) else None
        else:
            page, chosen, next_offset = "stream", state.entries, None
        fault = state.take_fault(page)
        state.log(Logged(parts.path, params, headers, page, fault))
        if fault == "new-release":
            state.release = state.next_release
            fault = None

        text = state.render(chosen, fields, format)
        reply = {
            "Content-Type": f"text/plain; format={format}",
            "X-Total-Results": str(state.total_override or len(state.entries)),
            "X-UniProt-Release": state.release,
            "X-UniProt-Release-Date": "05-February-2025",
        }
        if next_offset is not None:
            link = {**params, "cursor": _encode_cursor(next_offset), "size": str(size)}
            reply["Link"] = f'<{state.url}{parts.path}?{urlencode(link)}>; rel="next"'
        body = text.encode("utf-8")
        if endpoint == "stream" and params.get("compressed") == "true":
            body = gzip.compress(body)
            reply["Content-Type"] = "application/x-gzip"
        elif state.gzip_pages and "gzip" in headers.get("Accept-Encoding", ""):
            body = gzip.compress(body)
            reply["Content-Encoding"] = "gzip"
        self._send(fault, body, reply, format)

    # -- responses, correct and faulty ----------------------------------------------------------

    def _send(self, fault: str | None, body: bytes, reply: dict[str, str], format: str) -> None:
        state = self.server_state
        if fault == "429":
            return self._text(429, "Too many requests", {"Retry-After": state.retry_after})
        if fault == "503":
            return self._text(503, "Service Unavailable")
        if fault == "reset":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return None
        if fault == "stall":
            time.sleep(state.stall_seconds)
            self.close_connection = True
            return None
        if fault == "html":
            html = b"<html><body><h1>Service temporarily down</h1></body></html>\n"
            return self._raw(200, html, {"Content-Type": "text/html"})
        if fault == "malformed-row":
            text = body.decode("utf-8")
            lines = text.split("\n")
            lines[2] = lines[2].rsplit("\t", 1)[0]
            return self._raw(200, "\n".join(lines).encode("utf-8"), reply)
        if fault == "short":
            text = body.decode("utf-8")
            return self._raw(200, text[: text.rstrip("\n").rfind("\n") + 1].encode("utf-8"), reply)
        if fault == "drop":
            self.send_response(200)
            for key, value in {**reply, "Content-Length": str(len(body))}.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return None
        if fault == "drop-chunked":
            self.send_response(200)
            for key, value in {**reply, "Transfer-Encoding": "chunked"}.items():
                self.send_header(key, value)
            self.end_headers()
            half = body[: len(body) // 2]
            self.wfile.write(f"{len(half):x}\r\n".encode() + half + b"\r\n")
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return None
        if fault == "gzip-truncated":
            self.send_response(200)
            for key, value in {**reply, "Connection": "close"}.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body[: len(body) * 2 // 3])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return None
        assert fault is None, fault
        return self._raw(200, body, reply)

    def _raw(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for key, value in {**headers, "Content-Length": str(len(body))}.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def _text(self, status: int, text: str, headers: dict[str, str] | None = None) -> None:
        self._raw(status, text.encode(), {"Content-Type": "text/plain", **(headers or {})})

    def _json(self, status: int, data: dict) -> None:
        self._raw(status, json.dumps(data).encode(), {"Content-Type": "application/json"})


def _encode_cursor(offset: int) -> str:
    return f"c{offset * 7919 + 13:x}"


def _decode_cursor(cursor: str | None) -> int:
    if not cursor:
        return 0
    return (int(cursor[1:], 16) - 13) // 7919


# -- entries from the real data in ../shared/data ---------------------------------------------


def read_fasta_plain(path: Path) -> list[tuple[str, str, str]]:
    """(id, description, sequence) of each entry: a reader independent of tfprot's."""
    from Bio import SeqIO

    return [
        (r.id, r.description[len(r.id) :].strip(), str(r.seq)) for r in SeqIO.parse(path, "fasta")
    ]


LOCATION_TEXT = {
    "cytoplasmic": "SUBCELLULAR LOCATION: Cytoplasm {ECO:0000305}.",
    "plasma_membrane": (
        "SUBCELLULAR LOCATION: Cell membrane {ECO:0000305}; Multi-pass membrane protein "
        "{ECO:0000305}."
    ),
}


def multiloc_entries(shared_data: Path, per_class: int) -> list[dict[str, str]]:
    """The first ``per_class`` cytoplasmic and plasma-membrane MultiLoc proteins, by accession.

    Each gets its real accession and sequence, and a UniProt-style location comment of its
    MultiLoc class (kept in ``_class`` for the tests' reference).
    """
    entries = []
    for name in ("cytoplasmic", "plasma_membrane"):
        for accession, _, sequence in read_fasta_plain(shared_data / "multiloc" / f"{name}.fasta")[
            :per_class
        ]:
            entries.append(
                {
                    "accession": accession,
                    "sequence": sequence,
                    "cc_subcellular_location": LOCATION_TEXT[name],
                    "_class": name,
                }
            )
    return sorted(entries, key=lambda e: e["accession"])


def flip_entries(shared_data: Path, count: int) -> list[dict[str, str]]:
    """The first ``count`` FLIP secondary-structure chains, their H and E runs as UniProt features.

    ``_labels`` keeps FLIP's per-residue string as the tests' reference.
    """
    folder = shared_data / "flip_secondary_structure"
    sequences = {i: s for i, _, s in read_fasta_plain(folder / "sequences.fasta")}
    entries = []
    for chain, _, labels in read_fasta_plain(folder / "sampled.fasta")[:count]:
        sequence = sequences[chain]
        assert len(sequence) == len(labels)
        entries.append(
            {
                "accession": chain,
                "sequence": sequence,
                "ft_helix": _features("HELIX", labels, "H"),
                "ft_strand": _features("STRAND", labels, "E"),
                "ft_turn": "",
                "_labels": labels,
            }
        )
    return entries


def _features(kind: str, labels: str, letter: str) -> str:
    """UniProt feature text for each run of ``letter``: 1-based, inclusive ends."""
    features = []
    position = 0
    while position < len(labels):
        if labels[position] != letter:
            position += 1
            continue
        run_end = position
        while run_end + 1 < len(labels) and labels[run_end + 1] == letter:
            run_end += 1
        features.append(f'{kind} {position + 1}..{run_end + 1}; /evidence="ECO:0007829|PDB:TEST"')
        position = run_end + 1
    return "; ".join(features)
