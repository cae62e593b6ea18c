"""One worker of the multi-worker test: ``TF_CONFIG=... python train_worker.py OUT_DIR``.

``strategy("auto")`` must pick MultiWorkerMirroredStrategy from ``TF_CONFIG``; the worker trains
tiny-esm for a few steps on real data, through ``fit_resumable`` (checkpoints in ``OUT_DIR/checkpoints``); the chief saves the model
to ``OUT_DIR/model``. Each worker
prints one ``@@RESULT`` JSON line: the strategy, its losses, a digest of its final weights and
the logits of a few sequences from the in-memory model.
"""

from __future__ import annotations

import hashlib
import json
import sys

import tfprot
from tfprot._keras import keras

_keras = keras()
_keras.utils.set_random_seed(0)

from tfprot.distribute import choose_strategy, epoch_datasets, fit_resumable  # noqa: E402

choice = choose_strategy("auto")  # before any other TensorFlow work
resolver = choice.strategy.cluster_resolver
chief = resolver.task_type == "worker" and resolver.task_id == 0

full = tfprot.ProteinDataset.example()
short = [r for r in full.records("train") if len(r) <= 120]
records = [r for r in short if r.label == "cytoplasmic"][:16]
records += [r for r in short if r.label == "plasma_membrane"][:16]
data = tfprot.ProteinDataset(records, "classification", name="short")
model = tfprot.sequence_classifier("tiny-esm", data, precision="float32", strategy=choice.strategy)
make = epoch_datasets(
    data, "train", model.tokenizer, strategy=choice.strategy, batch_tokens_per_replica=512
)
result = fit_resumable(
    model,
    make,
    epochs=1,
    checkpoint_dir=f"{sys.argv[1]}/checkpoints",
    final_model_dir=f"{sys.argv[1]}/model",
    verbose=0,
)

digest = hashlib.sha256()
for variable in model.weights:
    digest.update(variable.numpy().tobytes())
probe = [r.sequence for r in full.records("test")[:6]]
logits = [values.tolist() for values in model.predict_logits(probe, progress=False)]
print(
    "@@RESULT "
    + json.dumps(
        {
            "kind": choice.kind,
            "strategy": type(choice.strategy).__name__,
            "replicas": choice.num_replicas,
            "chief": chief,
            "steps": result.steps_per_epoch,
            "loss": result.history["loss"],
            "saved": str(result.final_model_dir),
            "digest": digest.hexdigest(),
            "probe": probe,
            "logits": logits,
        }
    ),
    flush=True,
)
