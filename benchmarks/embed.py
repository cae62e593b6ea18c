"""Embedding extraction: ``tfprot.embed`` against the PyTorch reference.

The reference is what fair-esm's ``extract`` script does: PyTorch ``EsmModel`` under
``torch.inference_mode``, sequences sorted by length and batched under a token budget (4,096
tokens, fair-esm's default ``--toks_per_batch``), the mean of the last hidden state over the
residues. tfprot: ``tfprot.embed`` with its defaults (``precision="auto"``, a 16,384-token budget,
length-sorted batches, one compiled forward pass). Both embed the same sequences with the same
weights; the first pass (model tracing, warm caches) is not timed, then the median of the timed
passes is taken. Per-sequence vectors are checked to agree before anything is reported.

Run alone: ``python -m benchmarks.embed --size esm2_t6_8M --count 400``
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from benchmarks.common import (
    CLASSES,
    SIZES,
    Row,
    checkpoint_folder,
    emit,
    load_subset,
    median,
    peak_rss_mb,
)

REFERENCE_BATCH_TOKENS = 4096


def _row(name, size, subset, seconds, pad, peak_flops, **detail) -> Row:
    from benchmarks.common import train_flops_per_token  # noqa: F401  (documented FLOP model)

    flops = 2 * size.non_embedding_parameters * subset.real_tokens() + (
        4 * size.layers * size.hidden * subset.squared_tokens()
    )
    return Row(
        name=name,
        size=size.name,
        seq_per_s=len(subset) / seconds,
        real_tokens_per_s=subset.real_tokens() / seconds,
        pad_fraction=pad,
        peak_rss_mb=peak_rss_mb(),
        mfu=flops / seconds / peak_flops if peak_flops else None,
        detail={"seconds": round(seconds, 3), "sequences": len(subset), **detail},
    )


def pytorch_reference(size_name: str, count: int, passes: int, peak_flops: dict | None = None):
    import torch
    from transformers import AutoTokenizer, EsmModel

    size = SIZES[size_name]
    folder = str(checkpoint_folder(size))
    subset = load_subset(count)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = EsmModel.from_pretrained(folder, add_pooling_layer=False).eval()
    order = sorted(range(len(subset)), key=lambda i: len(subset.sequences[i]))
    batches, current = [], []
    for index in order:  # fair-esm's get_batch_indices: grow until the budget is exceeded
        longest = max([len(subset.sequences[i]) + 2 for i in [*current, index]])
        if current and longest * (len(current) + 1) > REFERENCE_BATCH_TOKENS:
            batches.append(current)
            current = []
        current.append(index)
    batches.append(current)

    def run() -> tuple[np.ndarray, float]:
        vectors = np.zeros((len(subset), size.hidden), dtype=np.float32)
        real = total = 0
        with torch.inference_mode():
            for batch in batches:
                encoded = tokenizer(
                    [subset.sequences[i] for i in batch], padding=True, return_tensors="pt"
                )
                hidden = model(**encoded).last_hidden_state
                mask = encoded["attention_mask"].clone()
                mask[:, 0] = 0  # <cls>
                mask[torch.arange(len(batch)), encoded["attention_mask"].sum(1) - 1] = 0  # <eos>
                means = (hidden * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
                vectors[batch] = means.numpy()
                real += int(encoded["attention_mask"].sum())
                total += encoded["attention_mask"].numel()
        return vectors, 1 - real / total

    vectors, pad = run()  # warm up
    seconds = []
    for _ in range(passes):
        start = time.perf_counter()
        run()
        seconds.append(time.perf_counter() - start)
    row = _row(
        "embed_pytorch_reference",
        size,
        subset,
        median(seconds),
        pad,
        (peak_flops or {}).get("float32"),
        precision="float32",
        batch_tokens=REFERENCE_BATCH_TOKENS,
        torch_threads=torch.get_num_threads(),
    )
    return row, vectors


def tfprot_embed(size_name: str, count: int, passes: int, peak_flops: dict | None = None):
    import tfprot

    size = SIZES[size_name]
    folder = checkpoint_folder(size)
    subset = load_subset(count)
    # tfprot.embed(folder, sequences) loads the model on every call; to time the embedding
    # alone, the model is loaded once (precision "auto", as tfprot.embed picks it) and its
    # encoder embeds: ProteinModel.embed, the same embedding code.
    model = tfprot.sequence_classifier(folder, CLASSES, precision="auto", compile=False)
    sequences = list(subset.sequences)
    result = model.embed(sequences, progress=False)  # traces
    seconds = []
    for _ in range(passes):
        start = time.perf_counter()
        model.embed(sequences, progress=False)
        seconds.append(time.perf_counter() - start)
    pad = _embed_pad_fraction(subset, 16384)
    row = _row(
        "embed_tfprot",
        size,
        subset,
        median(seconds),
        pad,
        (peak_flops or {}).get("bfloat16" if "bfloat16" in model.info["precision"] else "float32"),
        precision=model.info["precision"],
        precision_reason=model.info["precision_reason"],
        batch_tokens=16384,
    )
    return row, np.asarray(result.vectors)


def _embed_pad_fraction(subset, batch_tokens: int) -> float:
    from tfprot.data.batching import length_sorted_batches
    from tfprot.models.inference import MAX_LENGTH_RATIO

    lengths = np.array([len(s) + 2 for s in subset.sequences])
    real = total = 0
    for indices in length_sorted_batches(lengths, batch_tokens, max_length_ratio=MAX_LENGTH_RATIO):
        real += int(lengths[indices].sum())
        total += int(lengths[indices].max()) * len(indices)
    return 1 - real / total


def main() -> None:
    import json

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="esm2_t6_8M", choices=sorted(SIZES))
    parser.add_argument("--count", type=int, default=400)
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--which", choices=("pytorch", "tfprot"), required=True)
    parser.add_argument("--peak-flops", type=json.loads, default=None)
    parser.add_argument("--vectors", default=None, help="save the vectors here (.npy)")
    args = parser.parse_args()
    run = pytorch_reference if args.which == "pytorch" else tfprot_embed
    row, vectors = run(args.size, args.count, args.passes, args.peak_flops)
    if args.vectors:
        np.save(args.vectors, vectors)
    emit([row])


if __name__ == "__main__":
    main()
