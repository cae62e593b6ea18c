"""``tfprot predict`` on inputs of any size: rows written as they finish, resumable after a kill.

The input is read lazily (:func:`tfprot.data.stream.stream_records`) in windows of ``window``
sequences; each window is predicted (length-sorted batches under the token budget) and its rows
appended to ``OUT.partial`` at once (flushed to disk), each with its raw id and the digest of
its sequence. ``OUT.partial.json`` records what the rows were made with: the model folder, the
digest of its weights, the threshold and the columns. A rerun of the same command into the same
``--out`` reads the partial file, keeps the whole rows of ids whose sequence is unchanged (a row
cut off by a kill is dropped) and predicts the rest; rows of another model, threshold or
columns are refused instead of mixed. At the end the final CSV is written in input order (as
without streaming, atomically) and the partial files go.

>>> partial_paths("out/predictions.csv")[0].name
'predictions.csv.partial'
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tfprot.errors import OutputError

try:
    import fcntl
except ImportError:  # Windows: no flock; concurrent runs are then not detected
    fcntl = None

__all__ = ["PredictCounts", "partial_paths", "predict_to_csv"]

logger = logging.getLogger(__name__)

FORMAT = "tfprot predict partial"
WINDOW = 1024
"""Sequences predicted together (sorted by length and batched) and written as one block, so a
killed run loses at most this many sequences' work: hence smaller than the streamed embed's
:data:`~tfprot.data.stream.EMBED_WINDOW`, whose vectors are written batch by batch. The price,
on the first 10,000 FLIP chains under predict's default 16,384-token budget: 362 batches and
3.5% more padded tokens than one sort of all (170 batches); windows of 8,192 would give 187 and
0.6%, and lose up to eight times as much work to a kill."""


@dataclass(frozen=True)
class PredictCounts:
    """What a streamed prediction did: ids in the input, predicted now, taken from the partial
    file of an interrupted run, and the wall time."""

    sequences: int
    predicted: int
    resumed: int
    seconds: float


def partial_paths(out: str | os.PathLike) -> tuple[Path, Path]:
    """``OUT.partial`` (the rows so far) and ``OUT.partial.json`` (what made them)."""
    out = Path(out)
    return out.with_name(out.name + ".partial"), out.with_name(out.name + ".partial.json")


def predict_to_csv(
    model: Any,
    stream: Any,
    out: str | os.PathLike,
    *,
    batch_tokens: int,
    threshold: float,
    window: int = WINDOW,
    progress: bool | None = None,
    shown: int = 5,
) -> tuple[PredictCounts, list[tuple[str, str]]]:
    """Predict ``stream`` (a :class:`~tfprot.data.stream.RecordStream`) into the CSV ``out``
    (see the module doc).

    Returns:
        The counts, and ``(id, label in words)`` of the first ``shown`` input ids, for display.
    """
    from tfprot._io import open_atomic
    from tfprot.data.stream import batched
    from tfprot.models.embed_stream import weights_digest
    from tfprot.models.inference import sequence_bar
    from tfprot.tasks.table import prediction_table

    started = time.perf_counter()
    classes = model.label_encoder.classes
    header = prediction_table([], model.task, classes)[0]
    identity = {
        "format": FORMAT,
        "model": str(model.info.get("loaded_from", model.describe())),
        "weights_sha256": weights_digest(model.transformer),
        "threshold": threshold,
        "columns": header,
    }
    partial, meta = partial_paths(out)
    first = set(stream.ids[:shown])
    labels: dict[str, str] = {}
    with _HeldPartial(partial) as handle:
        done = _resume(partial, meta, handle, identity, stream.digests)
        for record_id in first & set(done):  # a token task's labels are its last cell
            cells = done[record_id]
            labels[record_id] = cells[-1] if model.task.per_residue else cells[0]
        todo = len(stream) - len(done)
        if done:
            logger.info(
                "%s: %d of %d rows are there from an interrupted run and are kept.",
                partial,
                len(done),
                len(stream),
            )
        bar = sequence_bar(todo, progress, "predict")
        writer = csv.writer(handle, lineterminator="\n")
        try:
            remaining = (r for r in stream if r.id not in done)
            for records in batched(remaining, window):
                predictions = model.predict_sequences(
                    records, batch_tokens=batch_tokens, threshold=threshold, progress=False
                )
                rows = prediction_table(predictions, model.task, classes)[1]
                for record, prediction, row in zip(records, predictions, rows, strict=True):
                    writer.writerow([record.id, stream.digests[record.id], *row])
                    if record.id in first:
                        labels[record.id] = str(model.task.show(prediction.label))
                handle.flush()
                os.fsync(handle.fileno())
                if bar is not None:
                    bar.update(len(records))
        finally:
            if bar is not None:
                bar.close()
        rows_by_id = {row[0]: row[2:] for row in _rows(partial, len(header))}
        with open_atomic(out, "w", newline="", encoding="utf-8") as final:
            final_writer = csv.writer(final)
            final_writer.writerow(header)
            for record_id in stream.ids:
                final_writer.writerow(rows_by_id[record_id])
    partial.unlink(missing_ok=True)
    meta.unlink(missing_ok=True)
    counts = PredictCounts(len(stream), todo, len(done), time.perf_counter() - started)
    return counts, [(i, labels.get(i, "")) for i in stream.ids[:shown]]


class _HeldPartial:
    """``OUT.partial`` opened for appending and locked (``flock``) for the block; removed on
    failure when it holds no row (nothing to resume)."""

    def __init__(self, partial: Path) -> None:
        self.partial = partial

    def __enter__(self):
        self.partial.parent.mkdir(parents=True, exist_ok=True)
        self.handle = open(self.partial, "a+", newline="", encoding="utf-8")
        if fcntl is not None:
            try:
                fcntl.flock(self.handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                self.handle.close()
                raise OutputError(
                    f"{self.partial} is being written by another tfprot predict right now; wait "
                    "for it to end, or choose another --out."
                ) from None
        return self.handle

    def __exit__(self, kind: Any, error: Any, traceback: Any) -> None:
        empty = self.handle.tell() == 0 if not self.handle.closed else False
        self.handle.close()
        if kind is not None and empty:
            self.partial.unlink(missing_ok=True)
            self.partial.with_name(self.partial.name + ".json").unlink(missing_ok=True)


def _resume(
    partial: Path,
    meta: Path,
    handle: Any,
    identity: dict[str, Any],
    digests: dict[str, str],
) -> dict[str, list[str]]:
    """The whole rows of ``partial`` that this run keeps (by id); the file rewritten to hold
    just them, ready for appending. Refuses rows made otherwise (:class:`OutputError`)."""
    from tfprot._io import write_text_atomic

    if partial.stat().st_size:  # rows of an earlier run: made as this one would make them?
        try:
            stored = json.loads(meta.read_text(encoding="utf-8"))
        except (OSError, ValueError):  # no record of what made them
            stored = {}
        changed = [
            f"{key} {stored.get(key)!r} -> {identity[key]!r}"
            for key in ("format", "weights_sha256", "threshold", "columns")
            if stored.get(key) != identity[key]
        ]
        if changed:
            raise OutputError(
                f"{partial} holds rows of an interrupted run made otherwise (model "
                f"{stored.get('model')!r}: {'; '.join(changed)}); resuming would mix them. "
                f"Choose another --out, or remove {partial} and {meta} to start again."
            )
    width = len(identity["columns"])
    kept = {
        row[0]: row[1:]
        for row in _rows(partial, width)
        if row[0] in digests and row[1] == digests[row[0]]
    }
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    for record_id, row in kept.items():
        writer.writerow([record_id, *row])
    handle.seek(0)
    handle.truncate()
    handle.write(text.getvalue())
    handle.flush()
    os.fsync(handle.fileno())
    write_text_atomic(meta, json.dumps(identity, indent=1) + "\n")
    return {record_id: row[1:] for record_id, row in kept.items()}  # without the digest


def _rows(partial: Path, width: int) -> list[list[str]]:
    """The whole rows of ``partial``: ``id, digest`` and ``width`` cells each, the last line
    only if it ends (a kill mid-write leaves part of a row)."""
    if not partial.exists():
        return []
    text = partial.read_text(encoding="utf-8")
    if not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]
    rows: list[list[str]] = []
    try:
        for row in csv.reader(io.StringIO(text, newline="")):
            if len(row) == width + 2:
                rows.append(row)
    except csv.Error:  # an unclosed quote at a cut: the rows before it stand
        pass
    return rows


def first_labels(labels: Sequence[tuple[str, str]]) -> list[str]:
    """Display lines for ``labels``: ``'  id  label'``, labels over 60 characters cut."""
    lines = []
    for record_id, label in labels:
        shown = label if len(label) <= 60 else label[:57] + "..."
        lines.append(f"  {record_id:<16} {shown}")
    return lines
