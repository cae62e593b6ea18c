"""A token model's answer as coloured text: each residue coloured by its predicted class, with a
legend (Gradio's ``HighlightedText``: ``(text, class)`` segments and a class → colour map).

>>> residue_segments([("p1", "MKTAY", "HHEEC")])
[('p1  ', None), ('MK', 'H'), ('TA', 'E'), ('Y', 'C')]
>>> colour_map(["C", "E", "H"])["H"]
'#E69F00'
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

__all__ = ["PALETTE", "colour_map", "residue_segments"]

PALETTE = (
    "#E69F00",
    "#56B4E9",
    "#009E73",
    "#F0E442",
    "#0072B2",
    "#D55E00",
    "#CC79A7",
    "#999999",
)
"""Okabe and Ito's colour-blind-safe colours (black left out: it hides the letters)."""

_SECONDARY_STRUCTURE = {"H": "#E69F00", "E": "#56B4E9", "C": "#D9D9D9", "L": "#D9D9D9"}
"""Helix orange, strand blue, coil light grey: the colours a reader of DSSP strings expects."""


def colour_map(classes: Sequence[str]) -> dict[str, str]:
    """A colour per class: helix/strand/coil their usual colours, the others in palette order."""
    free = [colour for colour in PALETTE if colour not in _SECONDARY_STRUCTURE.values()]
    others = [name for name in classes if name not in _SECONDARY_STRUCTURE]
    colours = {name: free[index % len(free)] for index, name in enumerate(others)}
    colours.update({name: _SECONDARY_STRUCTURE[name] for name in classes if name not in colours})
    return {name: colours[name] for name in classes}


def residue_segments(
    predictions: Iterable[tuple[str, str, Sequence[str]]],
) -> list[tuple[str, str | None]]:
    """``HighlightedText`` segments for ``(id, sequence, one label per residue)`` triples: the id
    (uncoloured), then runs of residues that share a label; sequences on separate lines."""
    segments: list[tuple[str, str | None]] = []
    for index, (identifier, sequence, labels) in enumerate(predictions):
        if len(labels) != len(sequence):
            raise ValueError(
                f"{identifier}: {len(labels)} residue labels for {len(sequence)} residues."
            )
        segments.append((("\n" if index else "") + f"{identifier}  ", None))
        start = 0
        for position in range(1, len(sequence) + 1):
            if position == len(sequence) or labels[position] != labels[start]:
                segments.append((sequence[start:position], str(labels[start])))
                start = position
    return segments
