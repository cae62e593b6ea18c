"""The local cache: offline reruns, refresh, keys, atomic files, resuming an interrupted download."""

from __future__ import annotations

import dataclasses
import json
import logging

import pytest
from uniprot_server import FIELDS, PAGES, QUERY, expected_rows, got_rows

from tfprot.uniprot import ResultCache, UniProtClient, UniProtError, UniProtRequest


def test_second_run_is_offline(server, config, multiloc, tmp_path):
    first = UniProtClient(config, cache_dir=tmp_path).fetch(QUERY, FIELDS, progress=False)
    assert not first.from_cache and first.path.exists()
    server.stop()  # nothing listens any more
    again = UniProtClient(config, cache_dir=tmp_path).fetch(QUERY, FIELDS, progress=False)
    assert again.from_cache
    assert got_rows(again) == expected_rows(multiloc)
    assert (again.count, again.total, again.release) == (460, 460, "2025_01")
    assert again.fetched == first.fetched


def test_refresh_downloads_again(server, config, tmp_path):
    client = UniProtClient(config, cache_dir=tmp_path)
    client.fetch(QUERY, FIELDS, progress=False)
    client.fetch(QUERY, FIELDS, progress=False)
    assert len(server.requests) == PAGES
    result = client.fetch(QUERY, FIELDS, refresh=True, progress=False)
    assert not result.from_cache and len(server.requests) == 2 * PAGES


def test_stream_and_search_share_the_cache(server, config, tmp_path):
    client = UniProtClient(config, cache_dir=tmp_path)
    client.fetch(QUERY, FIELDS, method="stream", progress=False)
    assert client.fetch(QUERY, FIELDS, progress=False).from_cache
    assert server.pages_requested() == ["stream"]


def test_the_key_is_the_whole_request():
    base = UniProtRequest(QUERY, FIELDS, base_url="http://127.0.0.1:1")
    variants = [
        dataclasses.replace(base, query=QUERY + " AND length:[1 TO 10]"),
        dataclasses.replace(base, fields=FIELDS[:2]),
        dataclasses.replace(base, fields=tuple(reversed(FIELDS))),
        dataclasses.replace(base, release="2025_01"),
        dataclasses.replace(base, format="fasta", fields=()),
        dataclasses.replace(base, base_url="http://127.0.0.1:2"),
    ]
    keys = {base.key(), *(variant.key() for variant in variants)}
    assert len(keys) == 1 + len(variants)
    assert dataclasses.replace(base, fields=list(FIELDS)).key() == base.key()


def test_no_temporary_files_are_left(server, config, tmp_path):
    result = UniProtClient(config, cache_dir=tmp_path).fetch(QUERY, FIELDS, progress=False)
    files = sorted(p.name for p in result.path.parent.iterdir())
    assert files == ["meta.json", "result.tsv"]  # pages of the download removed once whole
    meta = json.loads((result.path.parent / "meta.json").read_text())
    assert meta["records"] == 460 and meta["request"]["query"] == QUERY


def test_cache_off_writes_nothing(server, config, tmp_path):
    result = UniProtClient(config, cache=False).fetch(QUERY, FIELDS, progress=False)
    assert result.path is None
    assert not (tmp_path / "default-cache").exists()


def test_damaged_cache_is_downloaded_again(server, config, tmp_path, caplog):
    client = UniProtClient(config, cache_dir=tmp_path)
    path = client.fetch(QUERY, FIELDS, progress=False).path
    text = path.read_text()
    path.write_text(text[: len(text) // 2])  # a file cut short behind tfprot's back
    with caplog.at_level(logging.WARNING, logger="tfprot.uniprot.cache"):
        result = client.fetch(QUERY, FIELDS, progress=False)
    assert not result.from_cache and result.count == 460
    assert "damaged cache entry" in caplog.text or "metadata says" in caplog.text
    assert path.read_text() == text


def test_interrupted_download_resumes_from_the_last_complete_page(
    server, config, multiloc, tmp_path
):
    server.faults = {6: ["503"] * 10}
    client = UniProtClient(config, cache_dir=tmp_path)
    with pytest.raises(UniProtError, match="HTTP 503"):
        client.fetch(QUERY, FIELDS, progress=False)
    assert server.pages_requested() == [1, 2, 3, 4, 5, 6, 6, 6, 6]
    entry = ResultCache(tmp_path).entry(UniProtRequest(QUERY, FIELDS, base_url=server.url))
    state, pages = entry.load_partial()
    assert (state.pages, state.received, state.total) == (5, 250, 460)
    saved = [line.split("\t")[0] for page in pages for line in page.splitlines()]
    assert saved == [e["accession"] for e in multiloc[:250]]

    server.faults = {}
    server.requests.clear()
    result = client.fetch(QUERY, FIELDS, progress=False)
    assert server.pages_requested() == [6, 7, 8, 9, 10]  # not from page 1
    assert got_rows(result) == expected_rows(multiloc)
    assert entry.load_partial() is None  # the pages are folded into the result


def test_a_tampered_partial_download_starts_over(server, config, multiloc, tmp_path):
    server.faults = {3: ["503"] * 10}
    client = UniProtClient(config, cache_dir=tmp_path)
    with pytest.raises(UniProtError):
        client.fetch(QUERY, FIELDS, progress=False)
    entry = ResultCache(tmp_path).entry(UniProtRequest(QUERY, FIELDS, base_url=server.url))
    page = entry.page_path(2)
    page.write_text(page.read_text().split("\n", 1)[1])  # one record lost
    server.faults, server.requests[:] = {}, []
    result = client.fetch(QUERY, FIELDS, progress=False)
    assert server.pages_requested() == list(range(1, PAGES + 1))
    assert got_rows(result) == expected_rows(multiloc)


def test_a_refused_cursor_starts_over(server, config, multiloc, tmp_path):
    server.faults = {3: ["503"] * 10}
    client = UniProtClient(config, cache_dir=tmp_path)
    with pytest.raises(UniProtError):
        client.fetch(QUERY, FIELDS, progress=False)
    entry = ResultCache(tmp_path).entry(UniProtRequest(QUERY, FIELDS, base_url=server.url))
    state_path = entry.partial_folder / "state.json"
    state = json.loads(state_path.read_text())
    state["next_url"] = state["next_url"].replace("/uniprotkb/search", "/uniprotkb/expired")
    state_path.write_text(json.dumps(state))  # the server answers 404 to this cursor
    server.faults, server.requests[:] = {}, []
    result = client.fetch(QUERY, FIELDS, progress=False)
    assert server.pages_requested() == [None, *range(1, PAGES + 1)]
    assert got_rows(result) == expected_rows(multiloc)
