"""The pictures the command line writes: learning curves and a confusion matrix (PNG, atomic).

matplotlib runs on its file-only ``Agg`` backend, so no display is needed.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from tfprot._io import atomic_path

__all__ = ["confusion_matrix", "plot_confusion_matrix", "plot_learning_curves"]

_NAMES = {
    "loss": "loss",
    "accuracy": "accuracy",
    "macro_f1": "macro-F1",
    "mcc": "MCC",
    "spearman": "Spearman",
}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def plot_learning_curves(
    history: Mapping[str, Sequence[float]], path: str | os.PathLike, title: str = ""
) -> Path:
    """One panel per metric (loss first): training and validation value after each epoch.

    Args:
        history: Keras' ``History.history`` (``loss``, ``val_loss``, ``accuracy``...).
        path: the PNG to write.
        title: a title above the panels.
    """
    plt = _pyplot()
    metrics = [name for name in history if not name.startswith("val_")]
    metrics.sort(key=lambda name: (name != "loss", name))
    columns = (2 if len(metrics) == 4 else min(len(metrics), 3)) or 1
    rows = math.ceil(len(metrics) / columns) or 1
    figure, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.4 * rows), squeeze=False)
    for axis in axes.flat[len(metrics) :]:
        axis.set_visible(False)
    for axis, name in zip(axes.flat, metrics, strict=False):
        epochs = np.arange(1, len(history[name]) + 1)
        axis.plot(epochs, history[name], "o-", label="training")
        if f"val_{name}" in history:
            axis.plot(epochs, history[f"val_{name}"], "s--", label="validation")
        axis.set_xlabel("epoch")
        axis.set_title(_NAMES.get(name, name))
        axis.grid(alpha=0.3)
        if len(epochs) < 12:
            axis.set_xticks(epochs)
        axis.legend(fontsize="small")
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    return _save(figure, plt, path)


def confusion_matrix(true: Sequence[str], predicted: Sequence[str], classes: Sequence[str]):
    """Counts ``[true class, predicted class]`` in the order of ``classes``.

    >>> confusion_matrix(["a", "a", "b"], ["a", "b", "b"], ["a", "b"]).tolist()
    [[1, 1], [0, 1]]
    """
    index = {name: i for i, name in enumerate(classes)}
    matrix = np.zeros((len(classes), len(classes)), dtype=np.int64)
    for t, p in zip(true, predicted, strict=True):
        matrix[index[t], index[p]] += 1
    return matrix


def plot_confusion_matrix(
    matrix: np.ndarray, classes: Sequence[str], path: str | os.PathLike, title: str = ""
) -> Path:
    """A heat map of ``matrix`` (rows: true class, columns: predicted), counts and row shares
    written in each cell."""
    plt = _pyplot()
    size = max(4.0, 0.6 * len(classes) + 2.5)
    figure, axis = plt.subplots(figsize=(size + 1.0, size))
    totals = matrix.sum(axis=1, keepdims=True)
    shares = np.divide(matrix, totals, out=np.zeros(matrix.shape), where=totals > 0)
    image = axis.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0)
    figure.colorbar(image, ax=axis, fraction=0.046, pad=0.04, label="share of the true class")
    axis.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    axis.set_yticks(range(len(classes)), classes)
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    for i in range(len(classes)):
        for j in range(len(classes)):
            axis.text(
                j,
                i,
                f"{matrix[i, j]}\n{shares[i, j]:.0%}",
                ha="center",
                va="center",
                color="white" if shares[i, j] > 0.5 else "black",
                fontsize="small",
            )
    axis.set_title(title or "confusion matrix (test set)")
    figure.tight_layout()
    return _save(figure, plt, path)


def _save(figure, plt, path: str | os.PathLike) -> Path:
    path = Path(path)
    try:
        with atomic_path(path) as temporary:
            figure.savefig(temporary, dpi=110, format="png")
    finally:
        plt.close(figure)
    return path
