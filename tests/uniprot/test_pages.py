"""Page checks: a body is accepted whole or refetched, never half-parsed."""

from __future__ import annotations

import gzip

import pytest

from tfprot.uniprot.pages import MalformedPageError, next_link, parse_body

FIELDS = ("accession", "sequence")
GOOD = b"Entry\tSequence\nP1\tMKT\nP2\tGGSW\n"


def test_a_good_page():
    page = parse_body(GOOD, "tsv", FIELDS)
    assert (page.header, page.rows, page.count) == ("Entry\tSequence", "P1\tMKT\nP2\tGGSW\n", 2)
    assert parse_body(gzip.compress(GOOD), "tsv", FIELDS) == page
    assert parse_body(b"", "tsv", FIELDS).count == 0
    assert parse_body(b"Entry\tSequence\n", "tsv", FIELDS).count == 0


@pytest.mark.parametrize(
    ("body", "header", "message"),
    [
        (GOOD[:-1], None, "does not end with a line break"),
        (GOOD[:-6], None, "does not end with a line break"),
        (b"Entry\tSequence\nP1\tMKT\nP2\n", None, "line 3 has 1 columns, the header 2"),
        (b"Entry\nP1\n", None, "has 1 columns for 2 requested fields"),
        (b"Entry Name\tSequence\nP1\tMKT\n", None, "where field 'accession' should give 'Entry'"),
        (GOOD, "Entry\tLength", "differs from the first page's"),
        (b"Entry\tSequence\nP1\t\xff\n", None, "not UTF-8"),
        (gzip.compress(GOOD, mtime=0)[:-10], None, "truncated or corrupt gzip"),
    ],
)
def test_bad_tsv_pages(body, header, message):
    with pytest.raises(MalformedPageError, match=message):
        parse_body(body, "tsv", FIELDS, header=header)


def test_fasta_pages():
    text = b">sp|P1|A_HUMAN a\nMKT\nAY\n>sp|P2|B_HUMAN b\nGGSW\n"
    assert parse_body(text, "fasta").count == 2
    with pytest.raises(MalformedPageError, match="entry on line 4 has no sequence"):
        parse_body(text[: text.index(b"GGSW")], "fasta")
    with pytest.raises(MalformedPageError, match="must start with '>'"):
        parse_body(b"<html>\n", "fasta")
    with pytest.raises(MalformedPageError, match="neither a header nor sequence"):
        parse_body(b">P1\nMKT 12\n", "fasta")


def test_next_link():
    url = "https://rest.uniprot.org/uniprotkb/search?query=x&cursor=1mky&size=500"
    assert next_link(f'<{url}>; rel="next"') == url
    assert next_link(f"<{url}>;rel=next") == url
    assert next_link(f'<{url}>; rel="prev"') is None
    assert next_link(None) is None and next_link("") is None
