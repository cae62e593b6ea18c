"""tfprot.fold: fold protein sequences with ESMFold (PyTorch) into PDB files with pLDDT, pTM, PAE.

ESMFold exists only in PyTorch (``transformers.EsmForProteinFolding``). This package is the
bridge, and the only part of tfprot that imports torch, inside the functions that run the model:
``import tfprot.fold`` works without torch, and folding without it raises
:class:`~tfprot.errors.MissingDependencyError` naming ``pip install "tfprot[fold]"``.

>>> from tfprot.fold import fold  # doctest: +SKIP
>>> report = fold(["MKTAYIAKQRQISFVKSHFSRQ", "MKTAY:GGSWKL"], "structures/",
...               model="tiny-esmfold", num_recycles=0)  # doctest: +SKIP
>>> [(r.id, r.status, r.length) for r in report.results]  # doctest: +SKIP
[('seq0', 'folded', 22), ('seq1', 'folded', 11)]
"""

from tfprot.fold.inputs import FoldInput, InputProblem, collect_inputs, decode_token_ids
from tfprot.fold.memory import CHUNK_LADDER, choose_chunk_size
from tfprot.fold.names import safe_name, safe_names
from tfprot.fold.options import FoldOptions
from tfprot.fold.outputs import SUMMARY_COLUMNS, FoldResult
from tfprot.fold.presets import DEFAULT_CHECKPOINT, FOLD_PRESETS, FoldPreset
from tfprot.fold.runner import FoldReport, fold


def load_esmfold(checkpoint: str = DEFAULT_CHECKPOINT, **kwargs):
    """Load ESMFold once to fold several batches (``fold(..., model=loaded)``); see
    :meth:`tfprot.fold.model.ESMFoldModel.load` for the arguments."""
    from tfprot.fold.model import ESMFoldModel

    return ESMFoldModel.load(checkpoint, **kwargs)


__all__ = [
    "CHUNK_LADDER",
    "DEFAULT_CHECKPOINT",
    "FOLD_PRESETS",
    "SUMMARY_COLUMNS",
    "FoldInput",
    "FoldOptions",
    "FoldPreset",
    "FoldReport",
    "FoldResult",
    "InputProblem",
    "choose_chunk_size",
    "collect_inputs",
    "decode_token_ids",
    "fold",
    "load_esmfold",
    "safe_name",
    "safe_names",
]
