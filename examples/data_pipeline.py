"""Build the tf.data pipelines of the three bundled/shared tasks and report what they hold.

Runs offline:  python examples/data_pipeline.py [path/to/shared/data]
Without the shared data folder it uses only the bundled cytosol-vs-membrane data set.
"""

from __future__ import annotations

import sys
from pathlib import Path

import tfprot
from tfprot.data import padded_fraction, plain_batches_padded_fraction


def describe(data: tfprot.ProteinDataset, tokenizer: tfprot.ProteinTokenizer) -> None:
    train = data.tf_dataset("train", tokenizer, batch_tokens=8192)
    lengths = data.encode("train", tokenizer).lengths
    features, labels = next(iter(train))
    print(f"{data!r}")
    print(
        f"  padding {padded_fraction(train):.1%} bucketed vs "
        f"{plain_batches_padded_fraction(lengths, 8):.1%} plain; first batch "
        f"{tuple(features['input_ids'].shape)}, labels {labels.dtype.name} {tuple(labels.shape)}"
    )
    print(f"  baseline on test: {data.majority_baseline('test')}")


def main(shared: Path | None) -> None:
    tokenizer = tfprot.ProteinTokenizer.from_pretrained("tiny-esm")  # switch: "esm2_t6_8M"
    describe(tfprot.ProteinDataset.example(), tokenizer)
    if shared and shared.is_dir():
        describe(
            tfprot.ProteinDataset.from_path(shared / "flip_secondary_structure", "token"), tokenizer
        )
        describe(
            tfprot.ProteinDataset.from_path(shared / "flip_gb1" / "sampled.csv", "regression"),
            tokenizer,
        )


if __name__ == "__main__":
    default = Path(__file__).resolve().parents[1].parent / "shared" / "data"
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else default)
