"""A training job for the kill/resume test: ``python train_resumable.py CKPT_DIR FINAL_DIR``.

Deterministic (seeds, ``enable_op_determinism``, no dropout), so that a run killed and started
again ends with the same weights as an uninterrupted run. Prints one ``@@RESULT`` JSON line.
"""

from __future__ import annotations

import json
import sys

import tfprot
from tfprot._keras import keras

keras().utils.set_random_seed(0)
import tensorflow as tf  # noqa: E402

tf.config.experimental.enable_op_determinism()

from tfprot.distribute import epoch_datasets, fit_resumable  # noqa: E402

EPOCHS, SAVE_EVERY = 2, 3

checkpoint_dir, final_dir = sys.argv[1], sys.argv[2]
full = tfprot.ProteinDataset.example()
short = [r for r in full.records("train") if len(r) <= 200]
records = [r for r in short if r.label == "cytoplasmic"][:48]
records += [r for r in short if r.label == "plasma_membrane"][:48]
data = tfprot.ProteinDataset(records, "classification", name="short")
model = tfprot.sequence_classifier(
    "tiny-esm",
    data,
    precision="float32",
    hidden_dropout_prob=0.0,
    attention_probs_dropout_prob=0.0,
)
make = epoch_datasets(data, "train", model.tokenizer, batch_tokens=1024, seed=7)
result = fit_resumable(
    model,
    make,
    epochs=EPOCHS,
    checkpoint_dir=checkpoint_dir,
    save_every_steps=SAVE_EVERY,
    final_model_dir=final_dir,
    verbose=0,
)
print(
    "@@RESULT "
    + json.dumps(
        {
            "resumed_from": result.resumed_from,
            "steps_per_epoch": result.steps_per_epoch,
            "history": result.history,
        }
    ),
    flush=True,
)
