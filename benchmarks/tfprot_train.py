"""tfprot's training, with its defaults: ``precision="auto"``, token-budget bucketing.

``tfprot.sequence_classifier(folder, data)`` and ``model.fit(data.tf_dataset("train", ...))``:
what the README tells a user to write. ``--precision`` and ``--batch-tokens`` override the
defaults for the side-by-side runs.

A first ``fit`` on a few other sequences traces the model; then ``--epochs`` epochs over the
benchmark sequences are timed, and their median is reported.

Run alone: ``python -m benchmarks.tfprot_train --size esm2_t6_8M --count 160 --epochs 1``
"""

from __future__ import annotations

import argparse

from benchmarks.common import (
    SIZES,
    EpochClock,
    checkpoint_folder,
    emit,
    load_subset,
    pad_fraction_of,
    training_row,
    warmup_subset,
)


def measure(
    size_name: str,
    count: int,
    epochs: int,
    warmup: int,
    peak_flops: dict | None = None,
    precision: str = "auto",
    batch_tokens: int | None = None,
    name: str = "tfprot",
):
    import tfprot
    from tfprot.data.memory import from_lists

    size = SIZES[size_name]
    folder = checkpoint_folder(size)
    options = {"batch_tokens": batch_tokens} if batch_tokens else {}

    def data_of(subset):
        records = from_lists(list(subset.sequences), [str(y) for y in subset.labels])
        return tfprot.ProteinDataset(records, "classification", fractions=(1.0, 0.0, 0.0))

    subset = load_subset(count)
    data = data_of(subset)
    # total_steps: a fixed schedule, so that the warm-up fit does not end it at learning rate 0
    model = tfprot.sequence_classifier(folder, data, precision=precision, total_steps=100_000)
    warm = data_of(warmup_subset(warmup)).tf_dataset("train", model.tokenizer, **options)
    model.fit(warm, epochs=1, verbose=0)
    train = data.tf_dataset("train", model.tokenizer, **options)
    pad = pad_fraction_of(train)
    clock = EpochClock()
    model.fit(train, epochs=epochs, callbacks=[clock], verbose=0)
    policy = model.info["precision"]
    peak = (peak_flops or {}).get("bfloat16" if "bfloat16" in policy else "float32")
    return training_row(
        name,
        size,
        subset,
        clock.seconds,
        pad,
        peak,
        precision=policy,
        precision_reason=model.info["precision_reason"],
        batch_tokens=batch_tokens or tfprot.Batching().batch_tokens,
    )


def main() -> None:
    import json

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="esm2_t6_8M", choices=sorted(SIZES))
    parser.add_argument("--count", type=int, default=160)
    parser.add_argument("--epochs", type=int, default=1, help="timed epochs (the median counts)")
    parser.add_argument("--warmup", type=int, default=16, help="sequences of the warm-up fit")
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--batch-tokens", type=int, default=None)
    parser.add_argument("--name", default="tfprot")
    parser.add_argument("--peak-flops", type=json.loads, default=None, help='{"float32": ...}')
    args = parser.parse_args()
    emit(
        [
            measure(
                args.size,
                args.count,
                args.epochs,
                args.warmup,
                args.peak_flops,
                args.precision,
                args.batch_tokens,
                args.name,
            )
        ]
    )


if __name__ == "__main__":
    main()
