"""The app's work without the page: the model and ESMFold, loaded once; one call per request.

:class:`Predictor` reads a request (:mod:`tfprot.app.inputs`), checks it against the limits,
predicts, writes the CSV download with ``tfprot predict``'s columns, folds the first sequence
when folding is on (:mod:`tfprot.app.structure`), and returns everything the page shows
(:class:`Answer`) or the API's JSON (:meth:`Predictor.predict`). Requests are served one at a
time (the page queues them; a lock guards direct callers too).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import uuid
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tfprot.app.about import description, title, untrained_warnings
from tfprot.app.colouring import residue_segments
from tfprot.app.display import summary_markdown
from tfprot.app.inputs import check_limits, read_request
from tfprot.app.settings import AppSettings
from tfprot.app.structure import FoldModel, StructureView
from tfprot.tasks import ProteinTask
from tfprot.tasks.table import prediction_table, write_prediction_csv

__all__ = ["Answer", "Predictor"]

KEPT_REQUESTS = 8
"""Request folders kept on disk (Gradio copies a request's files to its cache once it answers;
older folders are removed)."""

CSV_NAME = "predictions.csv"


@dataclass(frozen=True)
class Answer:
    """Everything the page shows for one request.

    Attributes:
        summary: Markdown, one line per sequence: its id and the answer.
        table: ``(header, rows)``: ``tfprot predict``'s CSV, also the page's table.
        csv: the CSV file to download.
        chart: rows ``{id, class, probability}`` of the probability chart (empty when the task
            has none).
        residues: ``HighlightedText`` segments (token tasks), else ``None``.
        structure: the folded first sequence, or ``None`` when folding is off.
        result: the API's JSON for the same predictions.
    """

    summary: str
    table: tuple[list[str], list[list[str]]]
    csv: Path
    chart: list[dict[str, Any]]
    residues: list[tuple[str, str | None]] | None
    structure: StructureView | None
    result: dict[str, Any]


class Predictor:
    """A saved model (and optionally ESMFold) ready to answer requests.

    Args:
        model_dir: a folder written by ``tfprot train`` or ``save_pretrained``.
        settings: limits and folding (:class:`AppSettings`).

    Raises:
        CheckpointError: not a tfprot model folder.
        MissingDependencyError: folding asked for without torch.
    """

    def __init__(self, model_dir: str | os.PathLike, settings: AppSettings | None = None) -> None:
        import tfprot
        from tfprot.sharing.facts import read_facts

        self.model_dir = Path(model_dir)
        self.settings = settings or AppSettings()
        self.facts = read_facts(self.model_dir)
        self.model = tfprot.load_model(self.model_dir, compile=False)
        self.task: ProteinTask = self.model.task
        """The model's task: it decides what the page shows (chart, residues, answers)."""
        self.classes: list[str] = [str(name) for name in self.model.label_encoder.classes]
        self.table_header = prediction_table([], self.task, self.classes)[0]
        self.fold_model = FoldModel(self.settings) if self.settings.folding else None
        self.title = title(self.facts, self.model_dir.resolve().name)
        self.description = description(self.facts)
        self.warnings = untrained_warnings(
            self.facts,
            fold_model=self.fold_model.name if self.fold_model else None,
            fold_untrained=bool(self.fold_model and self.fold_model.untrained),
        )
        self._workspace = tempfile.TemporaryDirectory(prefix="tfprot-app-")
        self._recent: deque[Path] = deque()
        self._lock = threading.Lock()

    # ---- requests ------------------------------------------------------------------------
    def answer(self, text: str | None, upload: str | os.PathLike | None = None) -> Answer:
        """Answer a request from the page: the text box or an uploaded file.

        Raises:
            TfprotError: bad input (the message names the record and what to do) or a request
                over the limits (the message states the limit).
        """
        records = read_request(text, upload)
        check_limits(records, self.settings)
        with self._lock:
            predictions = self._predict(records)
            folder = self._request_folder()
            table = prediction_table(predictions, self.task, self.classes)
            write_prediction_csv(folder / CSV_NAME, predictions, self.task, self.classes)
            structure = None
            if self.fold_model is not None:
                structure = self.fold_model.view(
                    records[0], folder / "structure", others=len(records) - 1
                )
        residues = None
        if self.task.shows_residues:
            residues = residue_segments((p.id, p.sequence, p.label) for p in predictions)
        return Answer(
            summary=summary_markdown(self.task, predictions),
            table=table,
            csv=folder / CSV_NAME,
            chart=self.task.chart_rows(predictions),
            residues=residues,
            structure=structure,
            result=self.result(predictions),
        )

    def predict(self, text: str) -> dict[str, Any]:
        """The ``/predict`` API: a raw sequence or FASTA text in, JSON-serialisable results out:
        the task, the label names, any untrained-weights warnings, and one record per sequence
        (``id``, ``label`` and ``probabilities``; ``value`` for regression; ``residue_labels``
        for token models)."""
        records = read_request(text, None)
        check_limits(records, self.settings)
        with self._lock:
            return self.result(self._predict(records))

    def result(self, predictions: list[Any]) -> dict[str, Any]:
        """The API's JSON for ``predictions``."""
        return {
            "task": self.task.value,
            "labels": self.classes,
            "warnings": self.warnings,
            "predictions": [self.task.api_record(p) for p in predictions],
        }

    # ---- helpers -------------------------------------------------------------------------
    def _predict(self, records: list[Any]) -> list[Any]:
        return self.model.predict_sequences(records, progress=False)

    def _request_folder(self) -> Path:
        """A new folder for one request's files; the oldest beyond :data:`KEPT_REQUESTS` go."""
        folder = Path(self._workspace.name) / uuid.uuid4().hex
        folder.mkdir()
        self._recent.append(folder)
        while len(self._recent) > KEPT_REQUESTS:
            shutil.rmtree(self._recent.popleft(), ignore_errors=True)
        return folder

    def close(self) -> None:
        """Remove the request folders."""
        self._workspace.cleanup()
