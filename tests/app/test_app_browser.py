"""The page in a real browser: Debian's Chromium, headless, driven by Playwright.

One ``tfprot app`` process (a tiny model trained here, tiny-esmfold for the 3D view) serves the
whole module; one browser context records every request the page makes. The answers on the
page are checked against the same saved model loaded in this process.

``TFPROT_README_SCREENSHOT=docs/app.png pytest tests/app/test_app_browser.py`` also writes the
README's picture.
"""

from __future__ import annotations

import csv
import io
import os
import urllib.parse
from pathlib import Path

import pytest
from app_support import (
    CHROMIUM_FLAGS,
    bundled_sequences,
    chromium_path,
    open_app,
    submit_text,
    wait_for_answer,
)

ANSWER_SECONDS = 120_000  # ms: tiny-esmfold on a busy 2-core machine
README_WIDTH = 1100


@pytest.fixture(scope="module")
def browser_context(app_url):
    """A fresh Chromium profile; ``context.requests`` lists every URL the page asked for."""
    executable = chromium_path()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, args=list(CHROMIUM_FLAGS), headless=True
        )
        context = browser.new_context(viewport={"width": README_WIDTH, "height": 900})
        requests: list[str] = []
        context.on("request", lambda request: requests.append(request.url))
        context.requests = requests
        yield context
        context.close()
        browser.close()


@pytest.fixture(scope="module")
def reference(trained_model):
    """The saved model, loaded in this process: the independent answer."""
    import tfprot

    return tfprot.load_model(trained_model, compile=False)


def _non_blank_pixels(png: bytes) -> int:
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("L")
    return sum(1 for value in image.getdata() if value < 235)


def test_a_pasted_sequence_gets_its_label_chart_and_structure(
    browser_context, app_url, reference, tmp_path
):
    identifier, sequence, _ = bundled_sequences(per_class=2, longest=120)[-1]
    expected = reference.predict_sequences([sequence], progress=False)[0]
    probability = expected.probabilities[expected.label]
    assert abs(probability - 0.5) > 1e-3, "too close to call: pick another sequence"

    from playwright.sync_api import expect

    page = browser_context.new_page()
    open_app(page, app_url)
    banner = page.locator("#untrained-banner")
    expect(banner).to_contain_text("fine-tuned from tiny-esm, a test preset with random weights")
    expect(banner).to_contain_text("tiny-esmfold, an UNTRAINED ESMFold")
    submit_text(page, f">{identifier} pasted\n{sequence}")
    wait_for_answer(page, "#summary", identifier, ANSWER_SECONDS)
    summary = page.locator("#summary").inner_text()
    assert f"{identifier}: {expected.label} ({probability:.0%})" in summary

    # the probability chart is drawn (Vega renders a canvas or an SVG)
    chart = page.locator("#chart canvas, #chart svg").first
    chart.wait_for(timeout=ANSWER_SECONDS)
    assert chart.bounding_box()["height"] > 50

    # the table holds predict's columns and the reference's probabilities
    cells = page.locator("#table").inner_text()
    for name in reference.label_encoder.classes:
        assert f"probability_{name}" in cells
    shown = f"{expected.probabilities[reference.label_encoder.classes[0]]:.6g}"
    assert shown[:5] in cells

    # tiny-esmfold's structure: a WebGL canvas with something drawn in it, inside the frame
    frame = page.frame_locator("#structure iframe")
    canvas = frame.locator("canvas").first
    canvas.wait_for(timeout=ANSWER_SECONDS)
    page.wait_for_timeout(1000)
    assert _non_blank_pixels(canvas.screenshot()) > 100
    assert "meaningless" in frame.locator("body").inner_text()
    assert "UNTRAINED" in page.locator("#structure-note").inner_text()
    for image in ("#plddt img", "#pae img"):
        assert page.locator(image).first.evaluate("img => img.naturalWidth") > 100
    assert page.locator("#pdb a").first.get_attribute("href").endswith(".pdb")

    # the CSV download: predict's columns, the reference's label
    link = page.locator("#csv a").first.get_attribute("href")
    assert link.endswith("predictions.csv")
    rows = list(
        csv.reader(page.request.get(urllib.parse.urljoin(app_url, link)).text().splitlines())
    )
    classes = list(reference.label_encoder.classes)
    assert rows[0] == ["id", "label", *(f"probability_{name}" for name in classes)]
    assert rows[1][:2] == [identifier, expected.label]

    picture = page.screenshot(full_page=True)
    (tmp_path / "app.png").write_bytes(picture)
    target = os.environ.get("TFPROT_README_SCREENSHOT")
    if target:
        _save_small_png(picture, Path(target))
    page.close()


def test_a_bad_sequence_shows_the_command_line_message(browser_context, app_url):
    from playwright.sync_api import expect

    from tfprot.app.inputs import parse_text
    from tfprot.errors import InvalidSequenceError, one_line

    text = ">broken\nMKT1AY"
    with pytest.raises(InvalidSequenceError) as raised:
        parse_text(text)
    page = browser_context.new_page()
    open_app(page, app_url)
    submit_text(page, text)
    expect(page.locator("#message")).to_contain_text("broken", timeout=ANSWER_SECONDS)
    message = page.locator("#message").inner_text()
    assert one_line(raised.value) in " ".join(message.split())
    assert "invalid character '1' at position 4" in message
    body = page.locator("body").inner_text()
    assert "Traceback" not in body and 'File "' not in body
    page.close()


def test_an_uploaded_fasta_file_is_answered(browser_context, app_url, reference, tmp_path):
    entries = bundled_sequences(per_class=1, longest=100)
    path = tmp_path / "two.fasta"
    path.write_text("".join(f">{i} uploaded\n{s}\n" for i, s, _ in entries))
    expected = reference.predict_sequences([s for _, s, _ in entries], progress=False)
    page = browser_context.new_page()
    open_app(page, app_url)
    page.set_input_files("#upload input[type=file]", str(path))
    page.wait_for_timeout(500)
    page.click("#submit")
    wait_for_answer(page, "#summary", entries[-1][0], ANSWER_SECONDS)
    summary = page.locator("#summary").inner_text()
    for (identifier, _, _), prediction in zip(entries, expected, strict=True):
        assert f"{identifier}: {prediction.label}" in summary
    page.close()


def test_every_request_of_the_page_goes_to_its_own_host(browser_context, app_url):
    """Run last in this module: the pages above loaded fonts, scripts, the 3D viewer, images."""
    requests = browser_context.requests
    assert len(requests) > 20
    own = urllib.parse.urlsplit(app_url).netloc
    elsewhere = sorted(
        {url for url in requests if urllib.parse.urlsplit(url).netloc not in (own, "")}
    )
    assert elsewhere == [], elsewhere
    assert any("3Dmol-min.js" in url for url in requests)


def _save_small_png(picture: bytes, target: Path) -> None:
    """The screenshot in 256 colours (a few hundred kB less), for the README."""
    from PIL import Image

    image = Image.open(io.BytesIO(picture)).convert("RGB")
    image.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(target, optimize=True)
