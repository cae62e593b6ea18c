"""The pictures a structural biologist expects: pLDDT per residue and the PAE heat map (PNG).

Figures are drawn on matplotlib's Agg canvas without pyplot, so nothing global changes and no
display is needed; files are written atomically.
"""

from __future__ import annotations

import os

import numpy as np

from tfprot._io import atomic_path

__all__ = ["plot_pae", "plot_plddt"]

# AlphaFold's confidence bands: very high > 90, confident 70-90, low 50-70, very low < 50.
_BANDS = ((90, 100, "#0053d6"), (70, 90, "#65cbf3"), (50, 70, "#ffdb13"), (0, 50, "#ff7d45"))


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(figure)
    return figure


def plot_plddt(
    target: str | os.PathLike,
    plddt: np.ndarray,
    *,
    chain_index: np.ndarray | None = None,
    title: str = "",
) -> None:
    """Save a per-residue pLDDT plot (AlphaFold confidence bands, chain boundaries dashed)."""
    figure = _figure(8, 3)
    axes = figure.add_subplot()
    for low, high, colour in _BANDS:
        axes.axhspan(low, high, color=colour, alpha=0.15, linewidth=0)
    positions = np.arange(1, len(plddt) + 1)
    axes.plot(positions, plddt, color="black", linewidth=1)
    if chain_index is not None:
        for boundary in np.flatnonzero(np.diff(chain_index)) + 1.5:
            axes.axvline(boundary, color="grey", linestyle="--", linewidth=0.8)
    axes.set_xlim(1, max(len(plddt), 2))
    axes.set_ylim(0, 100)
    axes.set_xlabel("residue")
    axes.set_ylabel("pLDDT")
    axes.set_title(title, fontsize=9)
    figure.tight_layout()
    with atomic_path(target) as temporary:
        figure.savefig(temporary, format="png")


def plot_pae(
    target: str | os.PathLike,
    pae: np.ndarray,
    *,
    chain_index: np.ndarray | None = None,
    title: str = "",
) -> None:
    """Save the predicted aligned error heat map (scored residue x aligned residue, ångström)."""
    import textwrap

    from matplotlib.ticker import MaxNLocator

    figure = _figure(5, 4.6)
    axes = figure.add_subplot()
    length = len(pae)
    # Residues numbered from 1, as in the pLDDT plot and the PDB file.
    extent = (0.5, length + 0.5, length + 0.5, 0.5)
    vmax = max(30.0, float(np.max(pae)))
    image = axes.imshow(pae, cmap="Greens_r", vmin=0, vmax=vmax, extent=extent)
    if chain_index is not None:
        for boundary in np.flatnonzero(np.diff(chain_index)) + 1.5:
            axes.axvline(boundary, color="black", linewidth=0.8)
            axes.axhline(boundary, color="black", linewidth=0.8)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel("scored residue")
    axes.set_ylabel("aligned residue")
    axes.set_title(textwrap.fill(title, 48), fontsize=9)
    figure.colorbar(image, ax=axes, label="expected position error (Å)")
    figure.tight_layout()
    with atomic_path(target) as temporary:
        figure.savefig(temporary, format="png")
