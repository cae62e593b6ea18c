"""What every benchmark shares: the data subset, the model checkpoints, FLOP counts, memory.

The data is the reference notebook's question on real sequences: cytoplasmic (label 0) versus
plasma-membrane (label 1) proteins of ``../shared/data/multiloc``, lengths 80-500 as the notebook
filters, a fixed seeded subset. The models are ESM-2 sequence classifiers at the real
``esm2_t6_8M`` and ``esm2_t12_35M`` sizes with random weights (no pretrained weights are reachable
here), written once to a local checkpoint folder with PyTorch *and* TensorFlow weights, so that
every recipe starts from the same numbers.

>>> round(train_flops_per_token(SIZES["esm2_t6_8M"], context=300) / 1e6, 1)
51.3
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import resource
from dataclasses import asdict, dataclass
from pathlib import Path

__all__ = [
    "CACHE",
    "DATA",
    "SIZES",
    "ModelSize",
    "Row",
    "Subset",
    "checkpoint_folder",
    "load_subset",
    "peak_rss_mb",
    "train_flops_per_token",
    "warmup_subset",
]

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("TFPROT_SHARED_DATA", ROOT.parent / "shared" / "data")) / "multiloc"
CACHE = Path(os.environ.get("TFPROT_BENCH_CACHE", ROOT / "benchmarks" / ".cache"))
CLASSES = ("cytoplasmic", "plasma_membrane")
MIN_LENGTH, MAX_LENGTH = 80, 500


@dataclass(frozen=True)
class ModelSize:
    """An ESM-2 architecture (the real sizes, random weights)."""

    name: str
    layers: int
    hidden: int
    heads: int
    ffn: int

    @property
    def non_embedding_parameters(self) -> int:
        """Weights a token goes through: per layer 4·d² + 2·d·ffn matrices, biases, norms."""
        d, f = self.hidden, self.ffn
        per_layer = 4 * d * d + 4 * d + 2 * d * f + d + f + 4 * d
        return self.layers * per_layer + 2 * d


SIZES = {
    "esm2_t6_8M": ModelSize("esm2_t6_8M", 6, 320, 20, 1280),
    "esm2_t12_35M": ModelSize("esm2_t12_35M", 12, 480, 20, 1920),
}


def train_flops_per_token(size: ModelSize, context: float, *, training: bool = True) -> float:
    """Useful FLOPs per real token: 2·N forward (6·N with the backward pass) plus attention,
    2·2·layers·context·d forward (QKᵀ and the weighted sum over ``context`` real tokens).
    """
    forward = 2 * size.non_embedding_parameters + 4 * size.layers * context * size.hidden
    return 3 * forward if training else forward


@dataclass(frozen=True)
class Subset:
    """The sequences and labels of one benchmark run, in a seeded order."""

    sequences: tuple[str, ...]
    labels: tuple[int, ...]

    def __len__(self) -> int:
        return len(self.sequences)

    def head(self, count: int) -> Subset:
        return Subset(self.sequences[:count], self.labels[:count])

    def tail(self, count: int) -> Subset:
        return Subset(self.sequences[-count:], self.labels[-count:])

    def real_tokens(self) -> int:
        """Tokens the models see: residues plus ``<cls>`` and ``<eos>``."""
        return sum(len(s) + 2 for s in self.sequences)

    def squared_tokens(self) -> int:
        return sum((len(s) + 2) ** 2 for s in self.sequences)


def warmup_subset(count: int, seed: int = 0) -> Subset:
    """``count`` sequences from the other end of the seeded order (disjoint from
    ``load_subset(n)`` for any ``n`` that leaves room): a short first ``fit`` on them traces the
    model and fills the caches, so that the timed epochs measure steady-state training."""
    return load_subset(seed=seed).tail(count)


def load_subset(count: int | None = None, seed: int = 0) -> Subset:
    """Cytoplasmic (0) and plasma-membrane (1) sequences of 80-500 residues, shuffled with
    ``seed``; the first ``count`` of them (all by default)."""
    from tfprot.data.fasta import read_fasta

    pairs = []
    for label, name in enumerate(CLASSES):
        path = DATA / f"{name}.fasta"
        if not path.is_file():
            raise FileNotFoundError(
                f"{path} is missing: the benchmarks read MultiLoc from ../shared/data "
                "(or $TFPROT_SHARED_DATA)."
            )
        pairs += [
            (r.sequence, label)
            for r in read_fasta(path)
            if MIN_LENGTH <= len(r.sequence) <= MAX_LENGTH and set(r.sequence) <= AMINO_ACIDS
        ]
    random.Random(seed).shuffle(pairs)
    pairs = pairs[:count] if count else pairs
    return Subset(tuple(s for s, _ in pairs), tuple(y for _, y in pairs))


AMINO_ACIDS = set("ACDEFGHIKLMNPQRSTVWYXBUZO")


def checkpoint_folder(size: ModelSize, seed: int = 0, *, isolated: bool = False) -> Path:
    """A local checkpoint of ``size`` with random weights (seeded), PyTorch and TF weights and the
    ESM-2 tokenizer; written once under :data:`CACHE` and reused.

    Writing it converts the weights with tfprot's model code; ``isolated=True`` does that in a
    child process (``python -m benchmarks.common --prepare``), so that a reference recipe's
    process builds no tfprot model (its time and peak memory are the recipe's own).
    """
    folder = CACHE / f"{size.name}-random-{seed}"
    if (folder / "tf_model.h5").is_file():
        return folder
    if isolated:
        import subprocess
        import sys

        command = [sys.executable, "-m", "benchmarks.common", "--prepare", size.name]
        command += ["--seed", str(seed)]
        subprocess.run(command, check=True, cwd=ROOT, capture_output=True)
        return checkpoint_folder(size, seed)
    import tempfile

    import torch
    from transformers import EsmConfig, EsmForSequenceClassification, EsmTokenizer

    import tfprot  # (first: Keras 2 before TensorFlow)
    from tfprot.data.tokenizer import esm2_vocab_file

    CACHE.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=CACHE, prefix=f".{size.name}-"))
    torch.manual_seed(seed)
    config = EsmConfig(
        vocab_size=33,
        pad_token_id=1,
        mask_token_id=32,
        hidden_size=size.hidden,
        num_hidden_layers=size.layers,
        num_attention_heads=size.heads,
        intermediate_size=size.ffn,
        position_embedding_type="rotary",
        max_position_embeddings=1026,
        emb_layer_norm_before=False,
        token_dropout=True,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
        layer_norm_eps=1e-5,
        num_labels=2,
        id2label={0: "cytoplasmic", 1: "plasma_membrane"},
        label2id={"cytoplasmic": 0, "plasma_membrane": 1},
    )
    EsmForSequenceClassification(config).save_pretrained(staging)
    EsmTokenizer(vocab_file=str(esm2_vocab_file())).save_pretrained(staging)
    # tfprot's PyTorch → TF conversion, as a user gets it: a classifier built from the folder.
    converted = tfprot.sequence_classifier(staging, CLASSES, precision="float32", compile=False)
    converted.transformer.save_pretrained(staging, safe_serialization=False)  # adds tf_model.h5
    os.replace(staging, folder) if not folder.exists() else None
    return folder


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@dataclass(frozen=True)
class Row:
    """One measurement, as ``latest.json`` stores it."""

    name: str
    size: str
    seq_per_s: float
    real_tokens_per_s: float
    pad_fraction: float | None
    peak_rss_mb: float
    mfu: float | None
    detail: dict

    def to_json(self) -> dict:
        return asdict(self)


def emit(rows: list[Row]) -> None:
    """Hand rows to the parent process (the last line of stdout is JSON)."""
    print(json.dumps([row.to_json() for row in rows]), flush=True)


class EpochClock:
    """A Keras callback that records each epoch's wall time (``fit`` timing, data included)."""

    def __new__(cls):
        import time

        import tensorflow as tf

        class _Clock(tf.keras.callbacks.Callback):
            def __init__(self):
                super().__init__()
                self.seconds: list[float] = []

            def on_epoch_begin(self, epoch, logs=None):
                self._start = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                self.seconds.append(time.perf_counter() - self._start)

        return _Clock()


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def pad_fraction_of(batches) -> float:
    """Share of padding among the tokens of ``batches`` (dicts or (features, ...) tuples with an
    ``attention_mask``)."""
    import numpy as np

    real = total = 0
    for batch in batches:
        features = batch[0] if isinstance(batch, tuple) else batch
        mask = np.asarray(features["attention_mask"])
        real += int(mask.sum())
        total += mask.size
    return 1 - real / total


def training_row(
    name: str,
    size: ModelSize,
    subset: Subset,
    epoch_seconds: list[float],
    pad_fraction: float,
    peak_flops: float | None,
    **detail,
) -> Row:
    """A training :class:`Row` from the timed epochs (after a warm-up ``fit``): their median.

    MFU counts the model's useful FLOPs on real tokens (:func:`train_flops_per_token` with each
    sequence's own length as the attention context), whatever a recipe computes on padding or
    skips, over the peak of the precision the recipe computes in."""
    seconds = median(epoch_seconds)
    flops = 6 * size.non_embedding_parameters * subset.real_tokens()
    flops += 12 * size.layers * size.hidden * subset.squared_tokens()
    return Row(
        name=name,
        size=size.name,
        seq_per_s=len(subset) / seconds,
        real_tokens_per_s=subset.real_tokens() / seconds,
        pad_fraction=pad_fraction,
        peak_rss_mb=peak_rss_mb(),
        mfu=flops / seconds / peak_flops if peak_flops else None,
        detail={
            "epoch_seconds": [round(s, 3) for s in epoch_seconds],
            "sequences": len(subset),
            "real_tokens": subset.real_tokens(),
            **detail,
        },
    )


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="write the benchmark checkpoints")
    parser.add_argument("--prepare", nargs="+", choices=sorted(SIZES), required=True)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(json.dumps([str(checkpoint_folder(SIZES[name], args.seed)) for name in args.prepare]))


@contextlib.contextmanager
def replaced(path: Path):
    """A temporary file beside ``path`` that replaces it when the block ends well: a killed run
    never leaves half a result file."""
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def write_text(path: Path, text: str) -> None:
    """Write a result file (UTF-8) whole or not at all (:func:`replaced`)."""
    with replaced(path) as temporary:
        temporary.write_text(text, encoding="utf-8")
