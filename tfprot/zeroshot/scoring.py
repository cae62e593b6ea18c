"""Zero-shot variant-effect scores from a masked language model (``tfprot.score_variants``).

Three methods, as in fair-esm's variant-prediction example and ProteinGym's ESM baselines; every
log-probability is a float32 log-softmax of the masked-LM head:

- ``masked-marginal`` (ESM-1v's best): for each mutated position i, the wild type with position i
  masked; the score is log p(mutant residue at i) − log p(wild-type residue at i), summed over a
  multi-mutant's positions. One forward pass per distinct mutated position, however many
  variants share it.
- ``wt-marginal``: the same difference read from the unmasked wild type: one pass (one per window
  of a long wild type).
- ``pseudo-likelihood``: PLL(mutant) − PLL(wild type), with PLL(x) = Σ_i log p(x_i | x with i
  masked): L passes per distinct sequence (the wild type and every variant), so L × (variants + 1)
  passes in all; the costliest method by far.

A sequence longer than the model's window (ESM-2: 1,022 residues) is scored position by position
in the window centred on the position (:func:`~tfprot.zeroshot.windows.window_for`: ESM-1v's
rule); a shorter one is always seen whole.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from tfprot.errors import OptionError
from tfprot.zeroshot.model import MaskedLanguageModel, Pass, load_masked_lm
from tfprot.zeroshot.mutations import Substitution, apply_mutant, parse_mutant
from tfprot.zeroshot.windows import window_for

__all__ = [
    "METHODS",
    "VariantScores",
    "read_wildtype",
    "score_variants",
    "score_with",
    "spearman",
]

METHODS = ("masked-marginal", "wt-marginal", "pseudo-likelihood")
"""The scoring methods, the first the default."""


@dataclass(frozen=True)
class VariantScores:
    """Scores of variants, in input order.

    Attributes:
        mutants: the variants as given (``'A24G:K30R'``).
        scores: float64 ``[variants]``; higher means the model finds the variant likelier
            relative to the wild type.
        method: one of :data:`METHODS`.
        passes: how many forward passes the scores took.
    """

    mutants: tuple[str, ...]
    scores: np.ndarray
    method: str
    passes: int

    def __len__(self) -> int:
        return len(self.mutants)

    def spearman(self, measurements: Sequence[float]) -> float:
        """Spearman's ρ between the scores and ``measurements`` (scipy's ``spearmanr``).

        >>> VariantScores(("A1G", "A1C", "A1D"), np.array([0.1, 0.5, 0.3]), "wt-marginal", 1
        ...               ).spearman([1.0, 3.0, 2.0])
        1.0
        """
        return spearman(self.scores, measurements)


def spearman(scores: Sequence[float], measurements: Sequence[float]) -> float:
    """Spearman's ρ (ties averaged), by scipy; NaN when either side is constant."""
    if len(scores) != len(measurements):
        raise OptionError(
            f"{len(scores)} scores but {len(measurements)} measurements; give one per variant."
        )
    try:
        from scipy.stats import spearmanr
    except ImportError as error:
        from tfprot.errors import MissingDependencyError

        raise MissingDependencyError(
            'Spearman correlation needs scipy: pip install "tfprot[zeroshot]" (or pip install '
            "scipy)."
        ) from error
    if len(scores) < 2 or np.ptp(scores) == 0 or np.ptp(measurements) == 0:
        return float("nan")
    return float(spearmanr(scores, measurements).statistic)


def read_wildtype(wildtype: str | os.PathLike) -> str:
    """The wild-type sequence: a FASTA file with one record, or the sequence itself.

    Raises:
        DataFormatError: a FASTA file with no record or several.
        InvalidSequenceError: a sequence with characters that are not residues.
    """
    from tfprot.data.sequences import clean_sequence
    from tfprot.errors import DataFormatError

    if isinstance(wildtype, os.PathLike) or _is_file(str(wildtype)):
        from tfprot.data import read_fasta

        records = read_fasta(wildtype)
        if len(records) != 1:
            raise DataFormatError(
                f"{wildtype}: the wild type must be one FASTA record, found {len(records)}."
            )
        return records[0].sequence
    return clean_sequence(str(wildtype), where="the wild type")


def _is_file(text: str) -> bool:
    from pathlib import Path

    try:
        return Path(text).is_file()
    except (OSError, ValueError):  # a long sequence is no file name
        return False


def score_variants(
    checkpoint: str | os.PathLike | MaskedLanguageModel,
    wildtype: str | os.PathLike,
    mutations: Iterable[str],
    method: str = "masked-marginal",
    *,
    precision: str = "auto",
    batch_tokens: int = 16384,
    progress: bool | None = None,
) -> VariantScores:
    """Score variants of ``wildtype`` zero-shot with a checkpoint's masked-LM head.

    Args:
        checkpoint: a preset (``'esm2_t33_650M'``; ``'tiny-esm'`` is offline and untrained), a Hub
            id, a local folder (PyTorch-only ones are converted), or a model from
            :func:`~tfprot.zeroshot.model.load_masked_lm`.
        wildtype: the wild-type sequence, or a FASTA file holding it alone.
        mutations: variants in the field's notation: ``'A24G'``, ``'A24G:K30R'`` (1-based),
            ``'WT'`` for the wild type itself (score 0).
        method: one of :data:`METHODS` (see the module doc).
        precision: the precision policy (log-softmax always in float32).
        batch_tokens: token budget of a batch of passes.
        progress: progress bar (``None``: in a terminal or notebook).

    Raises:
        OptionError: an unknown method.
        DataFormatError: a mutant that does not parse or does not match the wild type, naming it.

    >>> scores = score_variants("tiny-esm", "MKTAYIAKQR", ["K2A", "K2A:T3G", "WT"],
    ...                         precision="float32")
    >>> scores.passes, float(scores.scores[2])
    (2, 0.0)
    """
    check_method(method)
    sequence = read_wildtype(wildtype)
    mutants = tuple(str(m) for m in mutations)
    parsed = [parse_mutant(m, sequence, where=f"variant {k + 1}") for k, m in enumerate(mutants)]
    model = load_masked_lm(checkpoint, precision=precision)
    return score_with(
        model, sequence, mutants, parsed, method, batch_tokens=batch_tokens, progress=progress
    )


def check_method(method: str) -> None:
    """Refuse an unknown scoring method by name."""
    if method not in METHODS:
        raise OptionError(f"Unknown scoring method {method!r}. Expect one of {list(METHODS)}.")


def score_with(
    model: MaskedLanguageModel,
    wildtype: str,
    mutants: Sequence[str],
    substitutions: Sequence[Sequence[Substitution]],
    method: str,
    *,
    batch_tokens: int = 16384,
    progress: bool | None = None,
) -> VariantScores:
    """:func:`score_variants` with a loaded model and parsed, checked substitutions."""
    check_method(method)
    if method == "pseudo-likelihood":
        scores, passes = _pseudo_likelihood(model, wildtype, substitutions, batch_tokens, progress)
    else:
        scores, passes = _marginal(
            model, wildtype, substitutions, method == "masked-marginal", batch_tokens, progress
        )
    return VariantScores(tuple(mutants), scores, method, passes)


def _marginal(
    model: MaskedLanguageModel,
    wildtype: str,
    substitutions: Sequence[Sequence[Substitution]],
    masked: bool,
    batch_tokens: int,
    progress: bool | None,
) -> tuple[np.ndarray, int]:
    """Masked or wild-type marginals: the wild type's log-probabilities at every mutated
    position (0-based), from one pass per position (masked) or per window (unmasked)."""
    positions = sorted({s.position - 1 for variant in substitutions for s in variant})
    if masked:
        passes = [Pass(wildtype, *window_for(p, len(wildtype), model.window), p) for p in positions]
        owner = {p: k for k, p in enumerate(positions)}
    else:
        windows = {p: window_for(p, len(wildtype), model.window) for p in positions}
        distinct = sorted(set(windows.values()))
        passes = [Pass(wildtype, *window) for window in distinct]
        owner = {p: distinct.index(windows[p]) for p in positions}
    by_pass: dict[int, list[int]] = {}
    for position, index in owner.items():
        by_pass.setdefault(index, []).append(position)
    log_probs: dict[int, np.ndarray] = {}
    offset = model.tokenizer.residue_offset
    desc = "masked marginals" if masked else "wild-type marginals"
    for index, rows in model.run(passes, batch_tokens=batch_tokens, progress=progress, desc=desc):
        start = passes[index].start
        for position in by_pass[index]:
            log_probs[position] = rows[offset + position - start]
    ids = _residue_ids(model)
    scores = np.array(
        [
            sum(
                float(log_probs[s.position - 1][ids[s.mutant]])
                - float(log_probs[s.position - 1][ids[s.wildtype]])
                for s in variant
            )
            for variant in substitutions
        ],
        dtype=np.float64,
    )
    return scores, len(passes)


def _pseudo_likelihood(
    model: MaskedLanguageModel,
    wildtype: str,
    substitutions: Sequence[Sequence[Substitution]],
    batch_tokens: int,
    progress: bool | None,
) -> tuple[np.ndarray, int]:
    """PLL(variant) − PLL(wild type); each distinct sequence's PLL once, L masked passes each."""
    sequences = [apply_mutant(wildtype, variant) for variant in substitutions]
    distinct = list(dict.fromkeys([wildtype, *sequences]))
    passes = [
        Pass(sequence, *window_for(i, len(sequence), model.window), i)
        for sequence in distinct
        for i in range(len(sequence))
    ]
    ids = _residue_ids(model)
    offset = model.tokenizer.residue_offset
    totals = dict.fromkeys(distinct, 0.0)
    for index, rows in model.run(
        passes, batch_tokens=batch_tokens, progress=progress, desc="pseudo-likelihoods"
    ):
        one = passes[index]
        residue = one.sequence[one.masked]
        totals[one.sequence] += float(rows[offset + one.masked - one.start][ids[residue]])
    reference = totals[wildtype]
    scores = np.array([totals[s] - reference for s in sequences], dtype=np.float64)
    return scores, len(passes)


def _residue_ids(model: MaskedLanguageModel) -> dict[str, int]:
    from tfprot.data.sequences import RESIDUES

    return {residue: model.token_id(residue) for residue in RESIDUES}
