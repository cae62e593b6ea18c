"""The structure part of the page: ESMFold (through :func:`tfprot.fold.fold`) on one sequence,
shown in 3D coloured by pLDDT with the bundled 3Dmol.js, beside the pLDDT plot, the PAE heat
map and the PDB file.

The 3D view is a page in an ``<iframe srcdoc>`` (the app's HTML is inserted as markup, where
scripts would not run) that loads 3Dmol.js from the app's own origin (Gradio serves the bundled
copy at ``gradio_api/file=...``; see :func:`viewer_folder`): nothing comes from a CDN.

>>> frame = iframe('<p title="a">x</p>')
>>> frame.startswith('<iframe') and '&lt;p title=&quot;a&quot;&gt;' in frame
True
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from tfprot.app.settings import AppSettings
from tfprot.data.records import ProteinRecord
from tfprot.errors import OptionError

__all__ = ["FoldModel", "StructureView", "iframe", "viewer_folder", "viewer_url"]

FRAME_HEIGHT = 520
"""Pixels of the 3D view's frame."""


def viewer_folder() -> Path:
    """The folder of the bundled 3Dmol.js (``tfprot/fold/_viewer``): the app lets Gradio serve
    it (``allowed_paths``)."""
    return Path(str(resources.files("tfprot.fold") / "_viewer"))


def viewer_url() -> str:
    """3Dmol.js's URL on the app's own origin, relative to the page (so it also works behind a
    proxy's path prefix)."""
    from tfprot.fold.viewer import VIEWER_JS

    return f"gradio_api/file={(viewer_folder() / VIEWER_JS).as_posix()}"


def iframe(page: str, *, height: int = FRAME_HEIGHT) -> str:
    """``page`` in an ``<iframe srcdoc>``, where its scripts run."""
    return (
        f'<iframe class="tfprot-structure" title="3D structure" srcdoc="{html.escape(page)}" '
        f'style="width:100%;height:{height}px;border:0"></iframe>'
    )


@dataclass(frozen=True)
class StructureView:
    """What the page shows for the folded sequence.

    Attributes:
        note: one Markdown line: which sequence, its mean pLDDT and pTM, or why it was not folded.
        frame: the 3D view (an ``<iframe>``), empty when nothing was folded.
        plddt_png, pae_png, pdb: the files ``fold`` wrote (``None`` when nothing was folded).
        record: the API's JSON for it.
    """

    note: str
    frame: str = ""
    plddt_png: Path | None = None
    pae_png: Path | None = None
    pdb: Path | None = None
    record: dict[str, Any] | None = None


class FoldModel:
    """ESMFold, loaded once when the app starts (:func:`tfprot.fold.load_esmfold`)."""

    def __init__(self, settings: AppSettings) -> None:
        from tfprot.fold import load_esmfold

        if settings.fold_model is None:
            raise OptionError("FoldModel needs settings with a fold_model (folding is off).")
        self.settings = settings
        self.model = load_esmfold(settings.fold_model, device=settings.fold_device)
        self.name: str = getattr(self.model, "name", settings.fold_model)
        self.untrained: bool = bool(getattr(self.model, "untrained", False))

    def view(self, record: ProteinRecord, folder: Path, *, others: int = 0) -> StructureView:
        """Fold ``record`` into ``folder`` and describe it (a failure is described, not raised:
        the predictions still show). ``others``: sequences of the request not folded."""
        from tfprot.app.display import markdown_text
        from tfprot.fold import fold
        from tfprot.fold.viewer import structure_html

        name = markdown_text(record.id)
        rest = f" (the first of {others + 1} sequences; only the first is folded)" if others else ""
        limit = self.settings.fold_max_length
        if len(record) > limit:
            return StructureView(
                f"**{name}** is not folded: {len(record)} residues, over this app's folding "
                f"limit of {limit}."
            )
        report = fold(
            [(record.id, record.sequence)],
            folder,
            model=self.model,
            num_recycles=self.settings.num_recycles,
            max_length=limit,
            html=False,
            progress=False,
            overwrite=True,
        )
        result = report.results[0]
        if not result.ok:
            return StructureView(f"**{name}** could not be folded: {markdown_text(result.error)}")
        trained = " (UNTRAINED weights: meaningless)" if self.untrained else ""
        note = (
            f"**{name}**{rest}: {result.length} residues folded by {markdown_text(self.name)}"
            f"{trained}; mean pLDDT {result.mean_plddt:.1f}, pTM {result.ptm:.3f}."
        )
        pdb = result.files["pdb"]
        page = structure_html(
            pdb.read_text(encoding="utf-8"),
            title=record.id,
            subtitle=f"{self.name}: mean pLDDT {result.mean_plddt:.1f}, pTM {result.ptm:.3f}",
            warning="Untrained ESMFold: this structure is meaningless." if self.untrained else "",
            viewer_js=viewer_url(),
        )
        return StructureView(
            note=note,
            frame=iframe(page),
            plddt_png=result.files.get("plddt_png"),
            pae_png=result.files.get("pae_png"),
            pdb=pdb,
            record={
                "id": record.id,
                "model": self.name,
                "untrained": self.untrained,
                "mean_plddt": result.mean_plddt,
                "ptm": result.ptm,
            },
        )
