"""A token model's page in a real browser (Debian's Chromium, headless, Playwright): the pasted
sequence comes back coloured residue by residue with the model's predicted classes, each class
in its colour, with a legend; the model's own predictions in this process are the reference."""

from __future__ import annotations

import sys

import pytest
from app_support import (
    CHROMIUM_FLAGS,
    app_environment,
    chromium_path,
    free_port,
    open_app,
    served,
    submit_text,
    wait_for_answer,
)

ANSWER_MS = 120_000  # a busy 2-core machine
CLASSES = ["C", "E", "H"]


@pytest.fixture(scope="module")
def token_model(tmp_path_factory):
    """An untrained tiny-esm token classifier, saved (its predictions still vary by residue)."""
    import tensorflow as tf

    import tfprot

    tf.keras.utils.set_random_seed(3)
    model = tfprot.token_classifier("tiny-esm", CLASSES, precision="float32")
    folder = tmp_path_factory.mktemp("token-app") / "model"
    model.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def token_app(token_model, tmp_path_factory):
    port = free_port()
    command = [sys.executable, "-m", "tfprot", "app", "--model", str(token_model)]
    command += ["--fold-model", "none", "--port", str(port)]
    log = tmp_path_factory.mktemp("token-app-log") / "app.log"
    with served(command, f"http://127.0.0.1:{port}/", log, env=app_environment()) as url:
        yield url


def _rgb(hex_colour: str) -> str:
    red, green, blue = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"{red}, {green}, {blue}"


def _opaque(css_colour: str) -> str:
    """``'rgba(86, 180, 233, 0.5)'`` → ``'86, 180, 233'`` (Gradio shades the class colour)."""
    return ", ".join(css_colour[css_colour.index("(") + 1 : -1].split(", ")[:3])


def test_every_residue_is_coloured_by_its_predicted_class_with_a_legend(token_model, token_app):
    from playwright.sync_api import sync_playwright

    import tfprot
    from tfprot.app.colouring import colour_map

    sequence = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRVGDGTQDNLSGAEKAVQVKVKALPDAQ"
    expected = tfprot.load_model(token_model, compile=False).predict_sequences(
        [sequence], progress=False
    )[0]
    labels = list(expected.label)
    assert len(labels) == len(sequence) and len(set(labels)) > 1, "pick another seed"
    colours = colour_map(CLASSES)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_path(), args=list(CHROMIUM_FLAGS), headless=True
        )
        page = browser.new_page()
        open_app(page, token_app, ANSWER_MS)
        submit_text(page, f">query\n{sequence}")
        wait_for_answer(page, "#residues", "query", ANSWER_MS)
        # each coloured run: its residues and its background colour; the legend's classes
        runs = page.locator("#residues span.token.highlighted").evaluate_all(
            """spans => spans.map(span => ({
                text: span.querySelector('.text').innerText,
                colour: getComputedStyle(span).backgroundColor}))"""
        )
        legend = page.locator("#residues .legend-item").evaluate_all(
            """items => items.map(item => [item.innerText, getComputedStyle(item).backgroundColor])"""
        )
        browser.close()

    by_colour = {_rgb(code): name for name, code in colours.items()}
    shown = [
        (residue, by_colour[_opaque(run["colour"])]) for run in runs for residue in run["text"]
    ]
    assert "".join(residue for residue, _ in shown) == sequence
    assert [name for _, name in shown] == labels
    assert [(name, by_colour[_opaque(colour)]) for name, colour in legend] == [
        (name, name) for name in CLASSES
    ]
