"""How to fold: :class:`FoldOptions`, checked on construction; unknown names refused by name.

>>> FoldOptions(num_recycles=0).num_recycles
0
>>> options_with(None, {"num_recycle": 0})
Traceback (most recent call last):
...
tfprot.errors.OptionError: unknown fold option 'num_recycle'; did you mean 'num_recycles'? ...
>>> FoldOptions(chunk_size=0)
Traceback (most recent call last):
...
tfprot.errors.OptionError: chunk_size must be 'auto', None or a positive whole number, got 0.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, fields, replace
from typing import Any

from tfprot.errors import OptionError

__all__ = ["AUTO", "COMPILE_MODES", "FoldOptions", "options_with"]

AUTO = "auto"

COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
"""``torch.compile`` modes ``FoldOptions.compile`` accepts by name."""


@dataclass(frozen=True)
class FoldOptions:
    """How to fold.

    Attributes:
        num_recycles: trunk recycles; ``None``: the model's default, which transformers runs as
            ``max_recycles`` trunk passes (esmfold_v1: 4 passes, that is 3 recycles, as
            ESMFold's own code).
        chunk_size: trunk chunk size: ``'auto'`` (from length and free GPU memory), ``None``
            (never chunk) or a number.
        max_length: the most residues (linkers included) a structure may have; longer ones are
            refused with a message instead of exhausting memory.
        batch_tokens: token budget of a batch: sequences per batch times the longest one's
            length stays within it (a longer sequence is folded alone). ``'auto'``: on a GPU,
            as many as the free memory holds by the trunk's memory model
            (:func:`tfprot.fold.memory.auto_batch_size`); on a CPU every sequence is folded alone
            (a padded batch only adds work there: ``benchmarks/fold.py`` measured 5-7% more time
            for batches of 200-residue chains). An out-of-memory batch is halved, down to one
            sequence, before the chunk size shrinks.
        max_length_ratio: a batch's longest sequence is at most this times its shortest
            (``None``: no limit). The trunk's cost grows with the square (pair updates) and cube
            (triangle multiplication) of the padded length, so folding a 100-residue sequence
            padded to 200 costs several times folding it alone; on a CPU, batching gains nothing.
        linker_length: glycines joining the chains of a complex (ESMFold uses 25).
        residue_index_offset: residue-index jump between chains (ESMFold uses 512).
        overwrite: fold again every sequence whose outputs exist (default: reuse a structure
            folded from the same sequence, model and settings, and fold again the others).
        pictures: write the pLDDT plot and PAE heat map (PNG).
        html: write the 3D view (HTML with the viewer inlined).
        progress: show a progress bar.
        writers: background threads writing the files of finished structures while the next
            batch folds (``0``: write in the folding thread); ``'auto'``: 1 on a GPU, 0 on a CPU
            (where a writer thread competes with PyTorch for the cores).
        compile: compile the trunk's blocks with ``torch.compile`` (``True``: mode
            ``'reduce-overhead'``, CUDA graphs, on a GPU, with lengths padded to a few buckets so
            that few shapes compile; ``'default'`` on a CPU), or one of :data:`COMPILE_MODES`.
            The first batch of each shape pays the compilation (tens of seconds).
    """

    num_recycles: int | None = None
    chunk_size: int | str | None = AUTO
    max_length: int = 1024
    batch_tokens: int | str = AUTO
    max_length_ratio: float | None = 1.1
    linker_length: int = 25
    residue_index_offset: int = 512
    overwrite: bool = False
    pictures: bool = True
    html: bool = True
    progress: bool = True
    writers: int | str = AUTO
    compile: bool | str = False

    def __post_init__(self) -> None:
        _whole("num_recycles", self.num_recycles, 0, (None,))
        _whole("chunk_size", self.chunk_size, 1, (AUTO, None))
        _whole("max_length", self.max_length, 1)
        _whole("batch_tokens", self.batch_tokens, 1, (AUTO,))
        _whole("linker_length", self.linker_length, 0)
        _whole("residue_index_offset", self.residue_index_offset, 0)
        _whole("writers", self.writers, 0, (AUTO,))
        ratio = self.max_length_ratio
        if ratio is not None and (
            isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or ratio < 1
        ):
            raise OptionError(f"max_length_ratio must be >= 1 or None, got {ratio!r}.")
        if self.compile not in (True, False, *COMPILE_MODES):
            raise OptionError(
                f"compile must be True, False or a torch.compile mode ({', '.join(COMPILE_MODES)}), "
                f"got {self.compile!r}."
            )
        for name in ("overwrite", "pictures", "html", "progress"):
            if not isinstance(getattr(self, name), bool):
                raise OptionError(f"{name} must be True or False, got {getattr(self, name)!r}.")


def _whole(name: str, value: Any, minimum: int, special: tuple[str | None, ...] = ()) -> None:
    """Refuse ``value`` unless it is one of ``special`` or a whole number >= ``minimum``."""
    if (value is None and None in special) or (isinstance(value, str) and value in special):
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        words = [repr(choice) for choice in special]
        words.append("a positive whole number" if minimum == 1 else "a whole number >= 0")
        expected = ", ".join(words[:-1]) + " or " + words[-1] if len(words) > 1 else words[0]
        raise OptionError(f"{name} must be {expected}, got {value!r}.")


FIELD_NAMES = tuple(option.name for option in fields(FoldOptions))


def options_with(options: FoldOptions | None, overrides: dict[str, Any]) -> FoldOptions:
    """``options`` (default :class:`FoldOptions`) with ``overrides`` replacing fields.

    Raises:
        OptionError: ``options`` is not a FoldOptions, an override names no option (the message
            names it and the closest valid names), or a value is out of range.
    """
    if options is not None and not isinstance(options, FoldOptions):
        raise OptionError(
            f"options must be a tfprot.fold.FoldOptions, got {type(options).__name__}."
        )
    unknown = sorted(set(overrides) - set(FIELD_NAMES))
    if unknown:
        name = unknown[0]
        close = difflib.get_close_matches(name, FIELD_NAMES, n=3)
        hint = f"did you mean {' or '.join(repr(c) for c in close)}? " if close else ""
        raise OptionError(
            f"unknown fold option {name!r}; {hint}The options are: {', '.join(FIELD_NAMES)}."
        )
    return replace(options or FoldOptions(), **overrides)
