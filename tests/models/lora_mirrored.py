"""For the LoRA MirroredStrategy test: ``python lora_mirrored.py``. Splits the CPU into two
logical devices (before TensorFlow initialises), builds a LoRA model under MirroredStrategy,
fits it a few steps, saves and reloads it. Prints one ``@@RESULT`` JSON line."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import tensorflow as tf

import tfprot

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    cpu, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()]
)

from tfprot.distribute import choose_strategy, for_strategy  # noqa: E402
from tfprot.models.lora import head_weights  # noqa: E402

full = tfprot.ProteinDataset.example()
short = [r for r in full.records("train") if len(r) <= 150]
records = [r for r in short if r.label == "cytoplasmic"][:24]
records += [r for r in short if r.label == "plasma_membrane"][:24]
data = tfprot.ProteinDataset(records, "classification", name="short")
choice = choose_strategy("mirrored", devices=["/cpu:0", "/cpu:1"])
model = tfprot.sequence_classifier(
    "tiny-esm", data, precision="float32", strategy=choice.strategy, lora_rank=4
)
head = {id(v) for v in head_weights(model.transformer)}
before = {v.name: v.numpy().copy() for v in model.transformer.variables}
adapters_before = [v.numpy().copy() for v in model.lora.weights]
train = for_strategy(data, "train", model.tokenizer, choice.strategy, batch_tokens_per_replica=512)
model.fit(train.take(3), epochs=1, verbose=0)
encoder_unchanged = all(
    np.array_equal(v.numpy(), before[v.name])
    for v in model.transformer.variables
    if id(v) not in head
)
head_changed = all(
    not np.array_equal(v.numpy(), before[v.name])
    for v in model.transformer.variables
    if id(v) in head
)
adapters_changed = all(
    not np.array_equal(v.numpy(), b)
    for v, b in zip(model.lora.weights, adapters_before, strict=True)
)
sequences = [r.sequence for r in records[:4]]
with tempfile.TemporaryDirectory() as folder:
    model.save_pretrained(Path(folder) / "model")
    reloaded = tfprot.load_model(Path(folder) / "model", strategy=choice.strategy)
    error = float(
        np.abs(
            np.stack(reloaded.predict_logits(sequences, progress=False))
            - np.stack(model.predict_logits(sequences, progress=False))
        ).max()
    )
print(
    "@@RESULT "
    + json.dumps(
        {
            "replicas": choice.num_replicas,
            "adapter_types": sorted({type(v).__name__ for v in model.lora.weights}),
            "encoder_unchanged": encoder_unchanged,
            "head_changed": head_changed,
            "adapters_changed": adapters_changed,
            "reload_error": error,
        }
    ),
    flush=True,
)
