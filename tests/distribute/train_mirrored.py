"""For the MirroredStrategy test: ``python train_mirrored.py``. Splits the CPU into two logical
devices (before TensorFlow initialises), then trains tiny-esm twice from the same initial weights
on the same global batches: under the default strategy and under MirroredStrategy on the two
devices. Prints one ``@@RESULT`` JSON line: both loss curves (per step) and how each global
batch was split across the replicas.
"""

from __future__ import annotations

import json

import numpy as np

import tfprot
from tfprot._keras import keras

_keras = keras()
import tensorflow as tf  # noqa: E402

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    cpu, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()]
)

from tfprot.distribute import choose_strategy, for_strategy  # noqa: E402

EPOCHS = 2
full = tfprot.ProteinDataset.example()
short = [r for r in full.records("train") if len(r) <= 200]
records = [r for r in short if r.label == "cytoplasmic"][:40]
records += [r for r in short if r.label == "plasma_membrane"][:40]
data = tfprot.ProteinDataset(records, "classification", name="short")


class StepLosses(_keras.callbacks.Callback):
    """The loss of each step, recovered from Keras' running mean over the epoch."""

    def on_epoch_begin(self, epoch, logs=None):
        self.mean, self.seen = 0.0, 0

    def on_train_batch_end(self, batch, logs=None):
        running = float(logs["loss"])
        self.losses.append(running * (batch + 1) - self.mean * batch)
        self.mean = running

    def on_train_begin(self, logs=None):
        self.losses = []


def train(choice):
    _keras.utils.set_random_seed(0)
    model = tfprot.sequence_classifier(
        "tiny-esm",
        data,
        precision="float32",
        strategy=choice.strategy,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )
    per_replica = 1024 // choice.num_replicas
    dataset = for_strategy(
        data, "train", model.tokenizer, choice.strategy, batch_tokens_per_replica=per_replica
    )
    steps = StepLosses()
    model.fit(dataset, epochs=EPOCHS, verbose=0, callbacks=[steps])
    return model, dataset, steps.losses


default = choose_strategy("default")
mirrored = choose_strategy("mirrored", devices=["/cpu:0", "/cpu:1"])
_, default_data, default_losses = train(default)
model, mirrored_data, mirrored_losses = train(mirrored)

# How the strategy splits each global batch (the same distribution Keras' fit uses), on an
# unshuffled pipeline so that the global batches can be iterated again in the same order.
ordered = for_strategy(
    data, "train", model.tokenizer, mirrored.strategy, batch_tokens_per_replica=512, shuffle=False
)
splits = []
distributed = mirrored.strategy.experimental_distribute_dataset(ordered)
for (features, labels), (global_features, global_labels) in zip(distributed, ordered, strict=True):
    local = mirrored.strategy.experimental_local_results(features["input_ids"])
    local_labels = mirrored.strategy.experimental_local_results(labels)
    rejoined = np.concatenate([t.numpy() for t in local])
    splits.append(
        {
            "global": int(global_features["input_ids"].shape[0]),
            "tokens": int(np.prod(global_features["input_ids"].shape)),
            "replicas": [int(t.shape[0]) for t in local],
            "devices": [t.device for t in local],
            "rejoined_equal": bool(
                np.array_equal(rejoined, global_features["input_ids"].numpy())
                and np.array_equal(
                    np.concatenate([t.numpy() for t in local_labels]), global_labels.numpy()
                )
            ),
        }
    )
variable = model.trainable_variables[0]
print(
    "@@RESULT "
    + json.dumps(
        {
            "default": default_losses,
            "mirrored": mirrored_losses,
            "splits": splits,
            "num_replicas": mirrored.num_replicas,
            "variable_type": type(variable).__name__,
            "strategy_info": model.info.get("strategy"),
        }
    ),
    flush=True,
)
