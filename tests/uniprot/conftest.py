"""Fixtures for the UniProt client tests: a real HTTP server on 127.0.0.1 serving real sequences."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# The helper module sits beside this file; make it importable under any pytest import mode.
if str(Path(__file__).parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).parent))

import uniprot_server
from uniprot_server import PAGE_SIZE, UniProtServer, flip_entries, multiloc_entries

from tfprot.uniprot import ClientConfig, RetryPolicy

PER_CLASS = 230  # 460 MultiLoc proteins: 10 pages of PAGE_SIZE (50) records, the last with 10


class SleepRecorder:
    """Stands in for time.sleep: records each wait, sleeps a millisecond at most."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        import time

        self.waits.append(seconds)
        time.sleep(min(seconds, 0.001))


@pytest.fixture(autouse=True)
def _no_proxy_no_cache_env(monkeypatch, tmp_path):
    """Requests go straight to 127.0.0.1; no test can write to the user's cache by accident."""
    for name in (
        "http_proxy",
        "HTTP_PROXY",
        "https_proxy",
        "HTTPS_PROXY",
        "all_proxy",
        "ALL_PROXY",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("TFPROT_UNIPROT_URL", raising=False)
    monkeypatch.setenv("TFPROT_CACHE", str(tmp_path / "default-cache"))


@pytest.fixture(autouse=True)
def _server_sends_at_once(monkeypatch):
    """The test server sets TCP_NODELAY on its connections, as production servers do.

    http.server writes a response's headers and body in two sends; on a kept-alive connection
    Nagle's algorithm then holds the body until the client acknowledges the headers, which Linux
    delays by 40 ms: 0.4 s more for every ten pages, timing only, no other change to what is sent.
    """
    monkeypatch.setattr(uniprot_server._Handler, "disable_nagle_algorithm", True)


@pytest.fixture(scope="session")
def multiloc(shared_data):
    return multiloc_entries(shared_data, PER_CLASS)


@pytest.fixture(scope="session")
def flip(shared_data):
    return flip_entries(shared_data, 120)


@pytest.fixture
def server(multiloc):
    with UniProtServer([dict(e) for e in multiloc]) as running:
        yield running


@pytest.fixture
def sleeps() -> SleepRecorder:
    return SleepRecorder()


@pytest.fixture
def config(server, sleeps) -> ClientConfig:
    """Fast retries (waits recorded, not slept), pages of PAGE_SIZE.

    The timeout leaves room for a loaded 2-core machine; the stall test shortens it.
    """
    return ClientConfig(
        base_url=server.url,
        timeout=5.0,
        page_size=PAGE_SIZE,
        retry=RetryPolicy(
            max_retries=3, initial_delay=0.01, max_delay=0.04, jitter=0.0, sleep=sleeps
        ),
    )
