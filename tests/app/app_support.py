"""Helpers of the app tests: bundled sequences read with Biopython, a server process waited
for on 127.0.0.1, and Debian's Chromium for Playwright.

Without Chromium (or Playwright) the browser tests skip with the reason, unless
``TFPROT_REQUIRE_BROWSER=1`` (CI sets it): then they fail.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUNDLED = ROOT / "tfprot" / "data" / "bundled" / "cytosol_membrane"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
"""Flags that keep Chromium from calling any host on its own (updates, sync, field trials)."""
STARTUP_SECONDS = 240


def bundled_sequences(per_class: int = 3, longest: int = 150) -> list[tuple[str, str, str]]:
    """(id, sequence, class) of the first short sequences of each bundled class, read with
    Biopython (not tfprot's reader)."""
    from Bio import SeqIO

    chosen = []
    for name in ("cytoplasmic", "plasma_membrane"):
        with gzip.open(BUNDLED / f"{name}.fasta.gz", "rt") as handle:
            records = [(r.id, str(r.seq), name) for r in SeqIO.parse(handle, "fasta")]
        chosen += [r for r in records if len(r[1]) <= longest][:per_class]
    return chosen


def browser_missing(reason: str) -> None:
    """Skip the test with ``reason``, or fail it when ``TFPROT_REQUIRE_BROWSER=1``."""
    if os.environ.get("TFPROT_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason} (TFPROT_REQUIRE_BROWSER=1: browser tests may not skip)")
    pytest.skip(reason)


def chromium_path() -> str:
    """Debian's Chromium (``$TFPROT_CHROMIUM`` or ``chromium`` on the PATH) and Playwright, or a
    skip/failure saying which is missing."""
    path = os.environ.get("TFPROT_CHROMIUM") or shutil.which("chromium")
    if not path:
        browser_missing("Chromium is not installed (apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        browser_missing('Playwright is not installed (pip install "tfprot[test]")')
    return path


def open_app(page, url: str, timeout_ms: int = 120_000) -> None:
    """Load the app's page and wait until its scripts have settled (no request for 500 ms).

    Gradio loads each component's code lazily after the page's ``load`` event and, on a busy
    machine, resets a textbox typed into before that ends: CI's token browser test lost its
    pasted sequence so and got "No sequence given" (reproduced with both cores busy).
    """
    page.goto(url, wait_until="networkidle", timeout=timeout_ms)


def submit_text(page, text: str) -> None:
    """Paste ``text`` into the sequence box, check the box holds it, press Predict."""
    from playwright.sync_api import expect

    box = page.locator("#sequence textarea")
    box.fill(text)
    expect(box).to_have_value(text)
    page.click("#submit")


def wait_for_answer(page, selector: str, text: str, timeout_ms: int = 120_000) -> None:
    """Wait until ``selector`` shows ``text``; fail at once, with the app's message, when the
    app refuses the request instead (its message starts "Not answered:"; while a request runs
    the message box shows Gradio's timer)."""
    deadline = time.monotonic() + timeout_ms / 1000
    while True:
        if text in page.locator(selector).inner_text():
            return
        message = page.locator("#message").inner_text().strip()
        if "Not answered" in message:
            raise AssertionError(f"the app answered with a message, not {text!r}: {message}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{selector} did not show {text!r} in {timeout_ms} ms")
        page.wait_for_timeout(200)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def app_environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRADIO_")}
    env.update(GRADIO_ANALYTICS_ENABLED="False", TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")
    return env


@contextlib.contextmanager
def served(command: list[str], url: str, log: Path, **popen) -> Iterator[str]:
    """Run ``command`` (a server) until it answers ``url``; yield ``url``; then stop it."""
    with open(log, "wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, **popen)
        try:
            deadline = time.monotonic() + STARTUP_SECONDS
            while True:
                if process.poll() is not None:
                    raise AssertionError(
                        f"the app exited ({process.returncode}):\n{log.read_text()}"
                    )
                try:
                    with urllib.request.urlopen(url, timeout=2) as response:
                        if response.status == 200:
                            break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise AssertionError(f"the app did not answer in time:\n{log.read_text()}")
                time.sleep(0.5)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
