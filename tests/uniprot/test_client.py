"""The UniProt client against a real HTTP server on 127.0.0.1: pagination, faults, errors."""

from __future__ import annotations

import dataclasses
import logging
import time
from urllib.parse import parse_qs, urlsplit

import pytest
from uniprot_server import (
    FIELDS,
    PAGE_SIZE,
    PAGES,
    QUERY,
    UniProtServer,
    expected_rows,
    got_rows,
    read_fasta_plain,
)

from tfprot.errors import TfprotError
from tfprot.uniprot import ClientConfig, RetryPolicy, UniProtClient, UniProtError, fetch


def test_served_sequences_are_the_real_multiloc_ones(shared_data, multiloc):
    real = {
        accession: sequence
        for name in ("cytoplasmic", "plasma_membrane")
        for accession, _, sequence in read_fasta_plain(shared_data / "multiloc" / f"{name}.fasta")
    }
    assert len(multiloc) == 460
    assert all(real[e["accession"]] == e["sequence"] for e in multiloc)


def test_search_follows_every_next_link_in_order(server, config, multiloc):
    result = UniProtClient(config, cache=False).fetch(QUERY, FIELDS, progress=False)
    assert got_rows(result) == expected_rows(multiloc)
    assert (result.count, result.total, result.release) == (460, 460, "2025_01")
    assert result.header == ("Entry", "Sequence", "Subcellular location [CC]")
    assert server.pages_requested() == list(range(1, PAGES + 1))
    first = server.requests[0]
    assert first.params == {
        "query": QUERY,
        "format": "tsv",
        "fields": ",".join(FIELDS),
        "size": str(PAGE_SIZE),
    }
    assert all("cursor" in logged.params for logged in server.requests[1:])
    assert first.headers["User-Agent"].startswith("tfprot/")


PROBLEMS = {  # what the client logs before the retry: it knows what went wrong
    ("429", 3): "HTTP 429 Too Many Requests",
    ("503", 1): "HTTP 503 Service Unavailable",
    ("reset", 5): "connection error: RemoteDisconnected",
    ("drop", 3): "the connection closed after 1",
    ("drop-chunked", 4): "connection error: IncompleteRead",
    ("stall", 2): "timed out",
    ("malformed-row", 3): "line 3 has 2 columns, the header 3",
    ("html", 6): "a text/html body where tsv was asked for",
    ("short", 7): "holds 49 records, not the page size 50",
    ("short", PAGES): "459 records in all, but x-total-results says 460",
    ("drop", PAGES): "the connection closed after",
}


@pytest.mark.parametrize(
    ("fault", "page"),
    [
        ("429", 3),
        ("503", 1),
        ("reset", 5),
        ("drop", 3),
        ("drop-chunked", 4),
        ("stall", 2),
        ("malformed-row", 3),
        ("html", 6),
        ("short", 7),
        ("short", PAGES),  # the last page: only x-total-results can tell
        ("drop", PAGES),
    ],
)
def test_every_record_exactly_once_in_order_under_a_fault(
    server, config, sleeps, multiloc, fault, page, caplog
):
    caplog.set_level(logging.WARNING, logger="tfprot.uniprot.client")
    server.faults = {page: [fault]}
    if fault == "stall":  # the server answers after 4 s; the client gives up waiting after 1 s
        server.stall_seconds, config = 4.0, dataclasses.replace(config, timeout=1.0)
    result = UniProtClient(config, cache=False).fetch(QUERY, FIELDS, progress=False)
    assert got_rows(result) == expected_rows(multiloc)
    requested = server.pages_requested()
    assert requested.count(page) == 2  # refetched once
    assert sorted(set(requested)) == list(range(1, PAGES + 1))
    assert len(requested) == PAGES + 1  # no other page fetched twice
    assert [logged.page for logged in server.requests if logged.fault] == [page]
    # the wait before the retry: Retry-After for 429, else the first back-off step
    assert sleeps.waits == [1.0 if fault == "429" else config.retry.initial_delay]
    [warning] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert page == 1 or f"cursor={server.requests[page - 1].params['cursor']}" in warning
    assert PROBLEMS[fault, page] in warning, warning


def test_several_faults_on_one_page_then_success(server, config, sleeps, multiloc):
    server.faults = {2: ["503", "drop", "html"], 9: ["429"]}
    result = UniProtClient(config, cache=False).fetch(QUERY, FIELDS, progress=False)
    assert got_rows(result) == expected_rows(multiloc)
    assert sleeps.waits == [0.01, 0.02, 0.04, 1.0]  # doubling back-off, then Retry-After


def test_retry_after_is_really_waited(server, multiloc):
    server.faults = {2: ["429"]}
    config = ClientConfig(base_url=server.url, page_size=PAGE_SIZE, timeout=5.0)
    start = time.perf_counter()
    result = UniProtClient(config, cache=False).fetch(QUERY, FIELDS, progress=False)
    assert time.perf_counter() - start >= 1.0  # the server said Retry-After: 1
    assert result.count == len(multiloc)


def test_gzip_encoded_pages(multiloc, sleeps):
    with UniProtServer([dict(e) for e in multiloc], gzip_pages=True) as server:
        config = ClientConfig(
            base_url=server.url,
            page_size=PAGE_SIZE,
            retry=RetryPolicy(initial_delay=0.001, sleep=sleeps),
        )
        server.faults = {3: ["drop"]}
        result = UniProtClient(config, cache=False).fetch(QUERY, FIELDS, progress=False)
    assert got_rows(result) == expected_rows(multiloc)
    assert "gzip" in server.requests[0].headers["Accept-Encoding"]


def test_gives_up_naming_url_and_status(server, config, sleeps):
    server.faults = {4: ["503"] * 10}
    with pytest.raises(UniProtError) as caught:
        UniProtClient(config, cache=False).fetch(QUERY, FIELDS, progress=False)
    error = caught.value
    assert isinstance(error, TfprotError) and isinstance(error, OSError)
    assert error.status == 503
    assert error.url.startswith(f"{server.url}/uniprotkb/search?") and "cursor=" in error.url
    assert error.url in str(error) and "HTTP 503" in str(error) and "4 attempts" in str(error)
    assert server.pages_requested().count(4) == config.retry.max_retries + 1
    assert len(sleeps.waits) == config.retry.max_retries


def test_malformed_every_time_gives_up_with_the_reason(server, config):
    server.faults = {2: ["malformed-row"] * 10}
    with pytest.raises(UniProtError, match=r"HTTP 200 but line 3 has 2 columns, the header 3"):
        UniProtClient(config, cache=False).fetch(QUERY, FIELDS, progress=False)


def test_total_mismatch_is_an_error(multiloc, sleeps):
    with UniProtServer([dict(e) for e in multiloc], total_override=461) as server:
        config = ClientConfig(
            base_url=server.url,
            page_size=PAGE_SIZE,
            retry=RetryPolicy(max_retries=1, initial_delay=0.001, sleep=sleeps),
        )
        with pytest.raises(UniProtError, match="460 records in all, but x-total-results says 461"):
            UniProtClient(config, cache=False).fetch(QUERY, FIELDS, progress=False)


def test_bad_request_is_not_retried_and_says_why(server, config, sleeps):
    with pytest.raises(UniProtError) as caught:
        UniProtClient(config, cache=False).fetch(QUERY, ["accession", "nonsense"], progress=False)
    assert caught.value.status == 400
    assert "HTTP 400" in str(caught.value)
    assert "Invalid fields parameter value 'nonsense'" in str(caught.value)
    assert len(server.requests) == 1 and sleeps.waits == []


def test_connection_refused_is_retried_then_named(sleeps):
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = ClientConfig(
        base_url=f"http://127.0.0.1:{port}",
        retry=RetryPolicy(max_retries=2, initial_delay=0.001, jitter=0.0, sleep=sleeps),
    )
    with pytest.raises(UniProtError) as caught:
        UniProtClient(config, cache=False).fetch(QUERY, FIELDS, progress=False)
    assert caught.value.status is None
    assert f"http://127.0.0.1:{port}/uniprotkb/search?" in str(caught.value)
    assert "connection error" in str(caught.value) and "3 attempts" in str(caught.value)
    assert len(sleeps.waits) == 2


def test_stream_gzip_one_request(server, config, multiloc):
    result = UniProtClient(config, cache=False).fetch(
        QUERY, FIELDS, method="stream", progress=False
    )
    assert got_rows(result) == expected_rows(multiloc)
    assert server.pages_requested() == ["stream"]
    assert server.requests[0].params["compressed"] == "true"
    assert result.total == 460


@pytest.mark.parametrize("fault", ["gzip-truncated", "drop", "503", "reset"])
def test_stream_faults_restart_the_stream(server, config, multiloc, fault):
    server.faults = {"stream": [fault]}
    result = UniProtClient(config, cache=False).fetch(
        QUERY, FIELDS, method="stream", progress=False
    )
    assert got_rows(result) == expected_rows(multiloc)
    assert server.pages_requested() == ["stream", "stream"]


def test_stream_uncompressed(server, config, multiloc):
    result = UniProtClient(config, cache=False).fetch(
        QUERY, FIELDS, method="stream", compressed=False, progress=False
    )
    assert "compressed" not in server.requests[0].params
    assert got_rows(result) == expected_rows(multiloc)


@pytest.mark.parametrize("method", ["search", "stream"])
def test_fasta_records(server, config, multiloc, method):
    result = UniProtClient(config, cache=False).fetch(
        QUERY, format="fasta", method=method, progress=False
    )
    records = result.records()
    assert [(r.id, r.sequence) for r in records] == [
        (e["accession"], e["sequence"]) for e in multiloc
    ]
    assert "fields" not in server.requests[0].params


def test_release_is_checked(server, config):
    client = UniProtClient(config, cache=False)
    assert client.fetch(QUERY, FIELDS, release="2025_01", progress=False).release == "2025_01"
    with pytest.raises(UniProtError, match="serves UniProt release 2025_01, not 2024_06"):
        client.fetch(QUERY, FIELDS, release="2024_06", progress=False)


def test_new_release_mid_download_starts_over(server, config, multiloc):
    server.faults = {4: ["new-release"]}
    result = UniProtClient(config, cache=False).fetch(QUERY, FIELDS, progress=False)
    assert result.release == "2025_02"
    assert got_rows(result) == expected_rows(multiloc)
    assert server.pages_requested() == [1, 2, 3, 4, *range(1, PAGES + 1)]


def test_base_url_from_the_environment(server, monkeypatch, multiloc):
    monkeypatch.setenv("TFPROT_UNIPROT_URL", server.url)
    result = fetch(QUERY, FIELDS, cache=False, progress=False)
    assert result.count == len(multiloc)
    assert result.request.base_url == server.url


def test_progress_bar_counts_records(server, config, capsys):
    UniProtClient(config, cache=False).fetch(QUERY, FIELDS, progress=True)
    bar = capsys.readouterr().err
    assert "460/460" in bar


def test_bad_arguments_fail_before_any_request(server, config):
    client = UniProtClient(config, cache=False)
    with pytest.raises(TfprotError, match="Expect 'search' or 'stream'"):
        client.fetch(QUERY, FIELDS, method="download")
    with pytest.raises(TfprotError, match="empty"):
        client.fetch("  ", FIELDS)
    with pytest.raises(TfprotError, match="needs fields"):
        client.fetch(QUERY, [])
    with pytest.raises(TfprotError, match="page_size 501"):
        dataclasses.replace(config, page_size=501)
    with pytest.raises(TfprotError, match="not an http"):
        UniProtClient(dataclasses.replace(config, base_url="ftp://example.org"))
    assert server.requests == []


def test_next_links_carry_the_cursor_and_size(server, config):
    UniProtClient(config, cache=False).fetch(QUERY, FIELDS, progress=False)
    for logged in server.requests[1:]:
        assert logged.params["size"] == str(PAGE_SIZE)
        assert logged.params["query"] == QUERY
    cursors = [logged.params.get("cursor") for logged in server.requests]
    assert len(set(cursors)) == PAGES
    assert parse_qs(urlsplit(server.url + "/?a=1").query) == {"a": ["1"]}
