"""Recipe A: the Hugging Face TensorFlow fine-tuning notebook, as it is published.

Tokenizer without padding, a ``datasets.Dataset`` with a ``labels`` column,
``model.prepare_tf_dataset(batch_size=8, shuffle=True, tokenizer=tokenizer)`` (which pads each
batch to its longest sequence), ``AdamWeightDecay(2e-5)``, the model's internal loss, float32, no
XLA, ``model.fit``. transformers' own TF ESM runs here (checked: every layer of the model is
transformers' or Keras'); of tfprot only its Keras-2 switch is used (transformers' TF models need
Keras 2), and no tfprot model is built in this process.

A first ``fit`` on a few other sequences traces the model; then ``--epochs`` epochs over the
benchmark sequences are timed, and their median is reported.

Run alone: ``python -m benchmarks.recipe_a --size esm2_t6_8M --count 160 --epochs 1``
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


def measure(size_name: str, count: int, epochs: int, warmup: int, peak_flops: float | None = None):
    import tfprot  # noqa: F401, I001  (first: Keras 2, as transformers' TF models need)
    from datasets import Dataset
    from transformers import AdamWeightDecay, AutoTokenizer, TFAutoModelForSequenceClassification

    size = SIZES[size_name]
    folder = str(checkpoint_folder(size, isolated=True))
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = TFAutoModelForSequenceClassification.from_pretrained(
        folder, num_labels=2, use_safetensors=False
    )

    def tf_dataset(subset):
        train_dataset = Dataset.from_dict(tokenizer(list(subset.sequences)))
        train_dataset = train_dataset.add_column("labels", list(subset.labels))
        return model.prepare_tf_dataset(
            train_dataset, batch_size=8, shuffle=True, tokenizer=tokenizer
        )

    model.compile(optimizer=AdamWeightDecay(2e-5))
    model.fit(tf_dataset(warmup_subset(warmup)), epochs=1, verbose=0)
    subset = load_subset(count)
    tf_train_set = tf_dataset(subset)
    pad = pad_fraction_of(tf_train_set)
    clock = EpochClock()
    model.fit(tf_train_set, epochs=epochs, callbacks=[clock], verbose=0)
    foreign = {
        type(layer).__qualname__
        for layer in [model, *model.submodules]
        if not type(layer).__module__.startswith(("transformers.", "tf_keras."))
    }
    if foreign:
        raise RuntimeError(f"recipe A must run transformers' own TF ESM, not {sorted(foreign)}")
    return training_row(
        "recipe_a_hf_tf", size, subset, clock.seconds, pad, peak_flops, precision="float32"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="esm2_t6_8M", choices=sorted(SIZES))
    parser.add_argument("--count", type=int, default=160, help="sequences (a multiple of 8)")
    parser.add_argument("--epochs", type=int, default=1, help="timed epochs (the median counts)")
    parser.add_argument("--warmup", type=int, default=16, help="sequences of the warm-up fit")
    parser.add_argument("--peak-flops", type=float, default=None)
    args = parser.parse_args()
    emit([measure(args.size, args.count, args.epochs, args.warmup, args.peak_flops)])


if __name__ == "__main__":
    main()
