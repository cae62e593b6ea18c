"""Training that survives being killed: checkpoints with the optimizer and the data position.

:func:`fit_resumable` runs ``model.fit`` epoch by epoch and saves, every ``save_every_steps``
steps and at the end of every epoch, a TensorFlow checkpoint of the model weights, the optimizer
(its step counter and slots) and the position in the data (epoch, step). Started again with the
same arguments after a crash, a SIGKILL or a pre-empted machine, it restores the latest
checkpoint and continues *at the next batch*, not at the start of the epoch:

- the batches of epoch ``e`` come from ``make_dataset(e)``, whose order must depend only on
  ``e`` (:func:`epoch_datasets` seeds tfprot's shuffle with ``seed + e``), so that the resumed
  run can rebuild the epoch and ``skip`` the batches already trained on;
- Keras' ``BackupAndRestore`` is not used for this: it restores the epoch and the step counter,
  but restarts the epoch's data from its first batch (tf_keras 2.21), so a resumed job would see
  some batches twice and others never.

Checkpoints are atomic: TensorFlow writes the data files first and then replaces the
``checkpoint`` index file by a rename, so a process killed while saving leaves the previous
checkpoint as the latest. The loss history is written beside them the same way
(``history.json``). The final model is saved (``save_pretrained``, itself atomic) only after the
last epoch ends well, and only by the chief worker under ``MultiWorkerMirroredStrategy``.

What is not in a checkpoint: random-number state (dropout masks). A resumed run is bit-for-bit
equal to an uninterrupted one under deterministic ops when the model has no dropout (tiny-esm
with ``hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0``); with dropout it continues
from the same weights, optimizer state and batch, but with other masks.

>>> import tempfile, tfprot
>>> data = tfprot.ProteinDataset.example()
>>> model = tfprot.sequence_classifier("tiny-esm", data, precision="float32")
>>> make = epoch_datasets(data, "train", model.tokenizer, batch_tokens=4096)
>>> int(make(0).cardinality()) == int(make(1).cardinality())
True

Then ``fit_resumable(model, make, epochs=3, checkpoint_dir="ckpt", final_model_dir="model")``.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tfprot._io import write_text_atomic
from tfprot._keras import keras
from tfprot.errors import OptionError

__all__ = ["ResumableResult", "epoch_datasets", "fit_resumable", "latest_position"]

logger = logging.getLogger(__name__)
_keras = keras()

HISTORY_FILE = "history.json"


@dataclass(frozen=True)
class ResumableResult:
    """What :func:`fit_resumable` did.

    Attributes:
        history: per-epoch metrics of every epoch, including those run before a restart (the
            epoch a run resumed inside reports the metrics of its remaining steps only).
        resumed_from: ``(epoch, step)`` the run started at: ``(0, 0)`` for a fresh start.
        steps_per_epoch: batches per epoch.
        final_model_dir: where the model was saved (``None``: not asked, or not the chief).
    """

    history: dict[str, list[float]] = field(default_factory=dict)
    resumed_from: tuple[int, int] = (0, 0)
    steps_per_epoch: int = 0
    final_model_dir: Path | None = None


def epoch_datasets(data, split: str, tokenizer, *, seed: int = 0, **options: Any) -> Callable:
    """``make_dataset(epoch)`` for :func:`fit_resumable`: ``data.tf_dataset`` shuffled with the
    seed ``seed + epoch``, so that an epoch's order does not depend on the process that runs it.

    ``options`` go to :meth:`ProteinDataset.tf_dataset` (or, with ``strategy=``, to
    :func:`tfprot.distribute.for_strategy`).
    """
    strategy = options.pop("strategy", None)

    def make(epoch: int):
        if strategy is not None:
            from tfprot.distribute.data import for_strategy

            return for_strategy(data, split, tokenizer, strategy, seed=seed + epoch, **options)
        return data.tf_dataset(split, tokenizer, seed=seed + epoch, **options)

    return make


def latest_position(checkpoint_dir: str | os.PathLike) -> tuple[int, int] | None:
    """``(epoch, step)`` of the latest checkpoint in ``checkpoint_dir``; ``None`` when none."""
    import tensorflow as tf

    path = tf.train.latest_checkpoint(str(checkpoint_dir))
    if path is None:
        return None
    reader = tf.train.load_checkpoint(path)
    key = next(k for k in reader.get_variable_to_shape_map() if k.startswith("position/"))
    epoch, step = (int(v) for v in reader.get_tensor(key))
    return epoch, step


def fit_resumable(
    model,
    make_dataset: Callable[[int], Any],
    *,
    epochs: int,
    checkpoint_dir: str | os.PathLike,
    save_every_steps: int | None = None,
    final_model_dir: str | os.PathLike | None = None,
    validation_data: Any = None,
    callbacks: list | None = None,
    keep: int = 2,
    verbose: int | str = "auto",
) -> ResumableResult:
    """Train ``model`` for ``epochs``, resuming from ``checkpoint_dir`` if a checkpoint is there.

    Args:
        model: a compiled :class:`~tfprot.models.ProteinModel` (built under the strategy, if any).
        make_dataset: ``epoch -> tf.data.Dataset`` with a known cardinality, the same every
            epoch, and an order that depends only on the epoch (see :func:`epoch_datasets`).
        epochs: total epochs (counting those run before a restart).
        checkpoint_dir: where checkpoints go (created).
        save_every_steps: also save every this many steps inside an epoch (``None``: at the end
            of each epoch only).
        final_model_dir: ``save_pretrained`` the model here once every epoch has run.
        validation_data: passed to ``fit``.
        callbacks: more Keras callbacks.
        keep: checkpoints kept.
        verbose: passed to ``fit``.

    Raises:
        OptionError: ``epochs`` or ``save_every_steps`` below 1, or a dataset of unknown length.
    """
    import tensorflow as tf

    if epochs < 1 or (save_every_steps is not None and save_every_steps < 1):
        raise OptionError(
            f"epochs and save_every_steps must be positive, got {epochs} and {save_every_steps}."
        )
    strategy = model.distribute_strategy
    chief = _is_chief(strategy)
    directory = Path(checkpoint_dir)
    # Every worker saves (saving may need all of them), the others into a scratch folder.
    own_dir = directory if chief else directory / f".worker-{_task_id(strategy)}"
    own_dir.mkdir(parents=True, exist_ok=True)

    steps_per_epoch = int(make_dataset(0).cardinality())
    if steps_per_epoch < 1:
        raise OptionError(
            "fit_resumable needs datasets of known length (tfprot's pipelines declare theirs); "
            f"make_dataset(0) has cardinality {steps_per_epoch}."
        )
    _set_schedule_length(model, steps_per_epoch * epochs)

    with strategy.scope():
        model.optimizer.build(model.trainable_variables)
        position = tf.Variable([0, 0], dtype=tf.int64, trainable=False, name="position")
    checkpoint = tf.train.Checkpoint(model=model, optimizer=model.optimizer, position=position)
    manager = tf.train.CheckpointManager(checkpoint, str(own_dir), max_to_keep=keep)
    latest = tf.train.latest_checkpoint(str(directory))
    if latest:
        checkpoint.restore(latest).assert_existing_objects_matched()
    start_epoch, start_step = (int(v) for v in position.numpy())
    if latest:
        logger.info(
            "Resuming from %s at epoch %d, step %d of %d.",
            latest,
            start_epoch + 1,
            start_step,
            steps_per_epoch,
        )
    history = _read_history(directory) if latest else {}

    saver = _PositionSaver(manager, position, save_every_steps, steps_per_epoch)
    for epoch in range(start_epoch, epochs):
        skip = start_step if epoch == start_epoch else 0
        dataset = make_dataset(epoch)
        if skip:
            dataset = dataset.skip(skip)
        saver.begin_epoch(epoch, skip)
        run = model.fit(
            dataset,
            epochs=epoch + 1,
            initial_epoch=epoch,
            validation_data=validation_data,
            callbacks=[saver, *(callbacks or [])],
            verbose=verbose,
        )
        for key, values in run.history.items():
            history.setdefault(key, []).extend(float(v) for v in values)
        position.assign([epoch + 1, 0])
        manager.save()
        if chief:
            write_text_atomic(directory / HISTORY_FILE, json.dumps(history, indent=1) + "\n")

    saved = None
    if final_model_dir is not None and chief:
        saved = model.save_pretrained(final_model_dir)
    if not chief:
        shutil.rmtree(own_dir, ignore_errors=True)
    return ResumableResult(history, (start_epoch, start_step), steps_per_epoch, saved)


class _PositionSaver(_keras.callbacks.Callback):
    """Saves a checkpoint every ``every`` steps with the position ``(epoch, step)`` reached."""

    def __init__(self, manager, position, every: int | None, steps_per_epoch: int):
        super().__init__()
        self.manager, self.position, self.every = manager, position, every
        self.steps_per_epoch = steps_per_epoch
        self.epoch = self.offset = 0

    def begin_epoch(self, epoch: int, offset: int) -> None:
        self.epoch, self.offset = epoch, offset

    def on_train_batch_end(self, batch, logs=None):
        step = self.offset + batch + 1
        if self.every and step % self.every == 0 and step < self.steps_per_epoch:
            self.position.assign([self.epoch, step])
            path = self.manager.save()
            logger.debug("Checkpoint %s at epoch %d, step %d.", path, self.epoch + 1, step)


def _set_schedule_length(model, total_steps: int) -> None:
    """Give tfprot's learning-rate schedule the whole run's length (each ``fit`` here is one
    epoch, so the schedule cannot learn it from ``fit``)."""
    from tfprot.models.optimization import WarmupLinearDecay

    optimizer = getattr(model.optimizer, "inner_optimizer", model.optimizer)
    schedule = getattr(optimizer, "_learning_rate", None)
    if isinstance(schedule, WarmupLinearDecay) and int(schedule.total_steps.numpy()) == 0:
        schedule.set_total_steps(total_steps)


def _read_history(directory: Path) -> dict[str, list[float]]:
    path = directory / HISTORY_FILE
    return json.loads(path.read_text()) if path.is_file() else {}


def _is_chief(strategy) -> bool:
    resolver = getattr(strategy, "cluster_resolver", None)
    task_type = getattr(resolver, "task_type", None)
    if task_type is None:
        return True
    return task_type == "chief" or (
        task_type == "worker"
        and resolver.task_id == 0
        and "chief" not in resolver.cluster_spec().as_dict()
    )


def _task_id(strategy) -> int:
    resolver = getattr(strategy, "cluster_resolver", None)
    return int(getattr(resolver, "task_id", 0) or 0)
