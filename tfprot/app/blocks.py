"""The page: Gradio Blocks laid out for one :class:`~tfprot.app.service.Predictor`.

Inputs on the left (a text box for a raw sequence or FASTA, a FASTA/CSV upload, examples from
the bundled data), answers on the right (one line per sequence; the probability chart or the
coloured residues, as the task calls for; the table and its CSV download; with folding, the 3D
view, the pLDDT plot, the PAE heat map and the PDB file). Bad input shows the same message as
the command line in the page, never a stack trace.

Two endpoints: the page's own (private), and ``/predict`` for programs (``gradio_client``):
one text argument in, JSON out (:meth:`Predictor.predict`). Both share one queue slot, so the
model serves one request at a time and the others wait in Gradio's queue.
"""

from __future__ import annotations

import html
from typing import Any

from tfprot.app._gradio import import_gradio
from tfprot.app.colouring import colour_map
from tfprot.app.display import markdown_text
from tfprot.app.examples import example_texts
from tfprot.app.inputs import UPLOAD_SUFFIXES
from tfprot.app.service import Answer, Predictor
from tfprot.errors import TfprotError

__all__ = ["build_blocks", "error_markdown"]

CONCURRENCY_ID = "model"
"""The queue slot the page and the API share: one request at a time reaches the model."""

CACHE_SECONDS = (3600, 3600)
"""Gradio's copies of answered files (CSV, PDB, pictures): every hour, those over an hour old go."""

IDLE_POLL_SECONDS = (0.05, 0.1)
"""How often this app's Gradio queue looks for a new request, and for progress to send, while it
has none: Gradio's values on Windows. On Linux it polls every 1 ms and 10 ms, about 10% of a core
while the page sits idle (a 2-core AMD EPYC); 50 ms is no delay a person or a program notices
before an answer."""

PLACEHOLDER = ">P1 my protein\nMKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRVGDGTQDNLSGAEKAVQ..."


def error_markdown(error: BaseException) -> str:
    """The page's message for a refused request: the error's text on one line.

    >>> error_markdown(ValueError("bad\\n  input"))
    '**Not answered:** bad input'
    """
    from tfprot.errors import one_line

    return f"**Not answered:** {markdown_text(one_line(error))}"


def banner_html(warnings: list[str]) -> str:
    """The untrained-weights banner."""
    items = "".join(f"<p>{html.escape(text)}</p>" for text in warnings)
    return (
        f'<div class="tfprot-banner" role="alert"><strong>Untrained weights.</strong>{items}</div>'
    )


def build_blocks(predictor: Predictor) -> Any:
    """The Gradio ``Blocks`` of the app (queued; not launched)."""
    import pandas as pd

    gr = import_gradio()
    settings = predictor.settings
    with gr.Blocks(
        analytics_enabled=False, title=predictor.title, delete_cache=CACHE_SECONDS
    ) as blocks:
        gr.Markdown(f"# {markdown_text(predictor.title)}\n{predictor.description}", elem_id="about")
        if predictor.warnings:
            gr.HTML(banner_html(predictor.warnings), elem_id="untrained-banner")
        with gr.Row():
            with gr.Column(scale=2):
                text = gr.Textbox(
                    label="Protein sequence, or FASTA with one or more records",
                    lines=8,
                    max_lines=20,
                    placeholder=PLACEHOLDER,
                    elem_id="sequence",
                )
                upload = gr.File(
                    label="... or a FASTA or CSV file",
                    file_types=list(UPLOAD_SUFFIXES),
                    elem_id="upload",
                )
                submit = gr.Button("Predict", variant="primary", elem_id="submit")
                gr.Markdown(
                    f"At most {settings.max_sequences} sequences of at most "
                    f"{settings.max_length} residues per request."
                    + (" The first sequence is folded." if predictor.fold_model else "")
                )
                gr.Examples(
                    [[example] for example in example_texts()],
                    inputs=[text],
                    label="Examples from the bundled data",
                )
            with gr.Column(scale=3):
                message = gr.Markdown(elem_id="message")
                summary = gr.Markdown(elem_id="summary")
                outputs = _answer_components(gr, predictor)
                header = predictor.table_header
                table = gr.Dataframe(
                    pd.DataFrame(columns=header),
                    label="Predictions",
                    interactive=False,
                    elem_id="table",
                )
                download = gr.File(label="Predictions (CSV)", elem_id="csv")
        structure = _structure_components(gr) if predictor.fold_model else {}

        def answer(text_value: str, upload_value: str | None) -> dict:
            shown: dict = dict.fromkeys([summary, download, *outputs.values()])
            shown[table] = pd.DataFrame(columns=header)
            shown.update(dict.fromkeys(structure.values()))
            try:
                result = predictor.answer(text_value, upload_value)
            except TfprotError as error:
                return {**shown, message: error_markdown(error)}
            return {
                **shown,
                message: "",
                **_shown(result, summary, table, download, outputs, structure),
            }

        all_outputs = [message, summary, table, download, *outputs.values(), *structure.values()]
        submit.click(
            answer,
            inputs=[text, upload],
            outputs=all_outputs,
            api_visibility="private",
            concurrency_id=CONCURRENCY_ID,
        )

        def predict(text: str) -> dict:
            """Predict with the model: `text` is one raw protein sequence or FASTA text with one
            or more records. Returns the task, the label names, any untrained-weights warnings
            and one record per sequence (id, label and probabilities; value for regression;
            residue_labels for per-residue models)."""
            try:
                return predictor.predict(text)
            except TfprotError as error:
                from tfprot.errors import one_line

                raise gr.Error(one_line(error), print_exception=False) from None

        gr.api(predict, api_name="predict", concurrency_id=CONCURRENCY_ID)
    blocks.queue(default_concurrency_limit=1, max_size=settings.max_queue)
    # This instance's queue only (Gradio reads the attributes on each pass of its loops).
    queue = blocks._queue
    queue.sleep_when_free = max(queue.sleep_when_free, IDLE_POLL_SECONDS[0])
    queue.progress_update_sleep_when_free = max(
        queue.progress_update_sleep_when_free, IDLE_POLL_SECONDS[1]
    )
    return blocks


def _answer_components(gr: Any, predictor: Predictor) -> dict[str, Any]:
    """The task's own outputs: a probability chart, or coloured residues."""
    task = predictor.task
    components: dict[str, Any] = {}
    if task.shows_chart:
        components["chart"] = gr.BarPlot(
            x=task.chart_x,
            y="probability",
            color="class",
            y_lim=[0, 1],
            label="Probability per class",
            elem_id="chart",
        )
    if task.shows_residues:
        components["residues"] = gr.HighlightedText(
            label="Predicted class per residue",
            color_map=colour_map(predictor.classes),
            show_legend=True,
            elem_id="residues",
        )
    return components


def _structure_components(gr: Any) -> dict[str, Any]:
    with gr.Column(elem_id="structure-panel"):
        gr.Markdown("## Predicted structure (coloured by pLDDT)")
        components = {"note": gr.Markdown(elem_id="structure-note")}
        components["frame"] = gr.HTML(elem_id="structure")
        with gr.Row():
            components["plddt"] = gr.Image(
                label="pLDDT per residue",
                type="filepath",
                elem_id="plddt",
                interactive=False,
                buttons=["download", "fullscreen"],
            )
            components["pae"] = gr.Image(
                label="Predicted aligned error (PAE)",
                type="filepath",
                elem_id="pae",
                interactive=False,
                buttons=["download", "fullscreen"],
            )
        components["pdb"] = gr.File(label="Structure (PDB)", elem_id="pdb")
    return components


def _shown(
    result: Answer,
    summary: Any,
    table: Any,
    download: Any,
    outputs: dict[str, Any],
    structure: dict[str, Any],
) -> dict:
    """Component → value for an answered request."""
    import pandas as pd

    header, rows = result.table
    shown = {
        summary: result.summary,
        table: pd.DataFrame(rows, columns=header),
        download: str(result.csv),
    }
    if "chart" in outputs:
        shown[outputs["chart"]] = pd.DataFrame(result.chart)
    if "residues" in outputs:
        shown[outputs["residues"]] = result.residues
    view = result.structure
    if structure and view is not None:
        shown[structure["note"]] = view.note
        shown[structure["frame"]] = view.frame
        shown[structure["plddt"]] = str(view.plddt_png) if view.plddt_png else None
        shown[structure["pae"]] = str(view.pae_png) if view.pae_png else None
        shown[structure["pdb"]] = str(view.pdb) if view.pdb else None
    return shown
