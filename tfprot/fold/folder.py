"""The output folder of ``fold``: created, writable, and tfprot's own.

``fold`` writes ``ID.pdb``, ``ID.json``... and ``summary.tsv`` into its folder and resumes in it,
so a folder that already holds files is used only when an earlier ``fold`` made it: its
``summary.tsv`` starts with tfprot's header. Any other non-empty folder is refused and left
untouched (a user's own ``summary.tsv`` or ``P1.pdb`` would be overwritten). A new or empty
folder gets a ``summary.tsv`` holding only the header at once, which marks it as a fold folder
before any structure is written, so that an interrupted first run can resume. Hidden entries
(``.DS_Store``, tfprot's own temporary files) do not count: ``fold`` never writes over them.

Both checks come before the model is loaded: a read-only or foreign ``--out`` is one error at
once, not a failure after the folding.

>>> import tempfile, pathlib
>>> folder = pathlib.Path(tempfile.mkdtemp()) / "structures"
>>> prepare_output_folder(folder)
>>> is_fold_folder(folder), sorted(p.name for p in folder.iterdir())
(True, ['summary.tsv'])
"""

from __future__ import annotations

from pathlib import Path

from tfprot._io import check_writable
from tfprot.errors import OutputError
from tfprot.fold.outputs import SUMMARY_COLUMNS, SUMMARY_FILE, write_summary

__all__ = ["is_fold_folder", "prepare_output_folder"]

_HEADER = "\t".join(SUMMARY_COLUMNS[:3])


def is_fold_folder(folder: Path) -> bool:
    """Whether ``folder`` holds a ``summary.tsv`` that tfprot's ``fold`` wrote."""
    summary = folder / SUMMARY_FILE
    try:
        with open(summary, encoding="utf-8") as handle:
            first = handle.readline()
    except (OSError, UnicodeDecodeError):
        return False
    return first.startswith(_HEADER)


def prepare_output_folder(folder: Path) -> None:
    """Create ``folder`` (or accept it when empty or made by ``fold``) and mark it as
    ``fold``'s.

    Raises:
        OutputError: ``folder`` cannot be created or written, is a file, or holds files that
            tfprot's ``fold`` did not write.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"{folder} is a file, not a folder; choose a folder for the structures.")
    check_writable(folder, "output folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(
            f"{folder}: cannot write there ({error.strerror or error}); choose a writable "
            "output folder."
        ) from error
    if is_fold_folder(folder):
        return
    visible = sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))
    if visible:
        shown = ", ".join(visible[:5]) + (
            f" and {len(visible) - 5} more" if len(visible) > 5 else ""
        )
        raise OutputError(
            f"{folder} is not empty and is not a tfprot fold folder (no summary.tsv written by "
            f"tfprot fold; it holds {shown}): folding would overwrite files there. Choose a new "
            "or empty folder."
        )
    write_summary(folder, [])
