"""The contact map as a picture (PNG): predicted probabilities above the diagonal and, given a
structure, its contacts below it.

Drawn on matplotlib's Agg canvas without pyplot (nothing global changes, no display needed);
written atomically.
"""

from __future__ import annotations

import os

import numpy as np

from tfprot._io import atomic_path

__all__ = ["plot_contacts"]


def plot_contacts(
    target: str | os.PathLike,
    probabilities: np.ndarray,
    *,
    true_contacts: np.ndarray | None = None,
    title: str = "",
) -> None:
    """Save a contact map: probabilities (upper triangle; the whole map without a structure)
    and the structure's contacts (lower triangle, black)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(5.5, 5), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    shown = np.array(probabilities, dtype=np.float32)
    length = len(shown)
    if true_contacts is not None:
        shown[np.tril_indices(length, k=-1)] = np.nan
    extent = (0.5, length + 0.5, length + 0.5, 0.5)
    image = axes.imshow(shown, cmap="Blues", vmin=0, vmax=1, extent=extent, interpolation="none")
    if true_contacts is not None:
        rows, columns = np.nonzero(np.tril(np.asarray(true_contacts, bool), k=-1))
        axes.scatter(
            columns + 1,
            rows + 1,
            s=max(0.5, 2000 / max(length, 1) ** 1.3),
            c="black",
            marker="s",
            linewidths=0,
        )
        axes.set_xlim(0.5, length + 0.5)
        axes.set_ylim(length + 0.5, 0.5)
    figure.colorbar(image, ax=axes, label="contact probability", shrink=0.8)
    axes.set_xlabel("residue")
    axes.set_ylabel("residue")
    below = " (below the diagonal: the structure's contacts)" if true_contacts is not None else ""
    axes.set_title(f"{title}{below}", fontsize=8)
    figure.tight_layout()
    with atomic_path(target) as temporary:
        figure.savefig(temporary, format="png")
