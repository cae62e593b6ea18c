"""The HTTP layer (requests + urllib3's Retry) against the real server on 127.0.0.1."""

from __future__ import annotations

import uniprot_server
from uniprot_server import FIELDS, PAGES, QUERY, expected_rows, got_rows

from tfprot.uniprot import UniProtClient, fetch
from tfprot.uniprot.retry import RetryPolicy
from tfprot.uniprot.transport import Transport


def connections(monkeypatch) -> list[tuple[str, int]]:
    """Client addresses of the connections the server accepts from now on (its own count)."""
    accepted = []
    setup = uniprot_server._Handler.setup

    def recording_setup(handler):
        accepted.append(handler.client_address)
        setup(handler)

    monkeypatch.setattr(uniprot_server._Handler, "setup", recording_setup)
    return accepted


def test_the_pages_share_one_kept_alive_connection(server, config, monkeypatch):
    accepted = connections(monkeypatch)
    with UniProtClient(config, cache=False) as client:
        client.fetch(QUERY, FIELDS, progress=False)
    assert server.pages_requested() == list(range(1, PAGES + 1))
    assert len(accepted) == 1


def test_a_broken_connection_is_replaced(server, config, multiloc, monkeypatch):
    accepted = connections(monkeypatch)
    server.faults = {3: ["drop"], 6: ["reset"]}
    with UniProtClient(config, cache=False) as client:
        result = client.fetch(QUERY, FIELDS, progress=False)
    assert got_rows(result) == expected_rows(multiloc)
    assert len(accepted) == 3  # the first, and a new one after each closed connection


def test_a_503_keeps_the_connection(server, config, monkeypatch):
    accepted = connections(monkeypatch)
    server.faults = {2: ["503"], 5: ["429"]}
    with UniProtClient(config, cache=False) as client:
        client.fetch(QUERY, FIELDS, progress=False)
    assert len(server.requests) == PAGES + 2
    assert len(accepted) == 1  # the error bodies were read whole: the connection stays open


def test_fetch_refuses_an_unknown_option_by_name_before_any_request(server, config):
    try:
        fetch(QUERY, FIELDS, config=config, cache=False, formatt="fasta")
    except TypeError as error:
        assert "formatt" in str(error)
    else:
        raise AssertionError("an unknown option was accepted")
    assert server.requests == []


def test_closing_closes_the_session(server, config):
    client = UniProtClient(config, cache=False)
    client.fetch(QUERY, FIELDS, progress=False)
    pool = client.transport.session.get_adapter(server.url).poolmanager
    assert len(pool.pools) == 1
    client.close()
    assert len(pool.pools) == 0


def test_the_transport_retries_the_check_with_the_policys_waits(server, sleeps):
    policy = RetryPolicy(max_retries=2, initial_delay=0.5, jitter=0.0, sleep=sleeps)
    seen = []

    def check(body, headers):
        seen.append(len(body))
        if len(seen) < 3:
            from tfprot.uniprot.pages import MalformedPageError

            raise MalformedPageError("not yet")
        return headers["X-Total-Results"]

    url = f"{server.url}/uniprotkb/search?query=x&format=tsv&fields=accession&size=5"
    with Transport(timeout=5.0, retry=policy, user_agent="test") as transport:
        assert transport.get(url, check) == "460"
    assert len(seen) == 3 and sleeps.waits == [0.5, 1.0]
    assert server.requests[0].headers["User-Agent"] == "test"
