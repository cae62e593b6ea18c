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
(``history.json``). ``checkpoint_dir`` may be any path ``tf.io.gfile`` knows, e.g.
``gs://bucket/run`` on a Cloud TPU.

A run started with ``run_identity=`` (what makes the run itself: data, options...) records it
in ``run.json``; a later start with a different identity refuses to resume into those
checkpoints (:func:`check_run_identity`) instead of silently continuing another run. The final model is saved (``save_pretrained``, itself atomic) only after the
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
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tfprot._io import write_text_atomic
from tfprot._keras import keras
from tfprot.errors import OptionError

__all__ = [
    "ResumableResult",
    "check_run_identity",
    "epoch_datasets",
    "fit_resumable",
    "latest_position",
    "remove_checkpoints",
]

logger = logging.getLogger(__name__)
_keras = keras()

HISTORY_FILE = "history.json"
RUN_FILE = "run.json"
"""The identity of the run whose checkpoints a folder holds (``run_identity=``)."""


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

    path = tf.train.latest_checkpoint(os.fspath(checkpoint_dir))
    if path is None:
        return None
    # Not tf.train.load_checkpoint: it takes a path on a file system whose every path "is a
    # folder" (TensorFlow's ram://) for a folder.
    reader = tf.compat.v1.train.NewCheckpointReader(path)
    key = next(k for k in reader.get_variable_to_shape_map() if k.startswith("position/"))
    epoch, step = (int(v) for v in reader.get_tensor(key))
    return epoch, step


def check_run_identity(checkpoint_dir: str | os.PathLike, identity: Mapping[str, Any]) -> None:
    """Refuse to resume from ``checkpoint_dir`` when its checkpoints belong to another run.

    Passes when the folder holds no checkpoint yet (a fresh start) or its ``run.json`` records
    the same ``identity`` (a JSON-able mapping).

    Raises:
        OptionError: there are checkpoints, and ``run.json`` is missing or records another
            identity; the message lists what changed.

    >>> import tempfile
    >>> check_run_identity(tempfile.mkdtemp(), {"epochs": 3})  # no checkpoint yet
    """
    import tensorflow as tf

    directory = os.fspath(checkpoint_dir)
    if tf.train.latest_checkpoint(directory) is None:
        return
    stored = _read_json(_join(directory, RUN_FILE))
    wanted = json.loads(json.dumps(dict(identity)))
    if stored is None:
        raise OptionError(
            f"{directory} holds checkpoints of an unknown run (no {RUN_FILE}); resuming could "
            "continue another run. Remove it, or choose another checkpoint folder."
        )
    if stored != wanted:
        raise OptionError(
            f"{directory} holds the checkpoints of a different run ({_differences(stored, wanted)}"
            "); rerun the original command to resume it, or remove that folder to start afresh."
        )


def remove_checkpoints(checkpoint_dir: str | os.PathLike) -> None:
    """Remove ``checkpoint_dir`` and everything in it (local or ``gs://``): once a run has ended
    well and its results are saved, its checkpoints are only disk space."""
    import tensorflow as tf

    directory = os.fspath(checkpoint_dir)
    if tf.io.gfile.exists(directory):
        tf.io.gfile.rmtree(directory)


def _differences(stored: dict[str, Any], wanted: dict[str, Any], shown: int = 4) -> str:
    """What changed between two identities, for a message.

    >>> _differences({"epochs": 3, "data_sha256": "a"}, {"epochs": 5, "data_sha256": "b"})
    'changed: data (its content), epochs 3 -> 5'
    """
    changed = []
    for key in sorted(set(stored) | set(wanted)):
        old, new = stored.get(key), wanted.get(key)
        if old == new:
            continue
        if key.endswith("_sha256"):
            changed.append(f"{key.removesuffix('_sha256')} (its content)")
        else:
            changed.append(f"{key} {json.dumps(old)} -> {json.dumps(new)}")
    more = f" and {len(changed) - shown} more" if len(changed) > shown else ""
    return "changed: " + ", ".join(changed[:shown]) + more


def fit_resumable(
    model,
    make_dataset: Callable[[int], Any],
    *,
    epochs: int,
    checkpoint_dir: str | os.PathLike,
    save_every_steps: int | None = None,
    save_every_seconds: float | None = None,
    final_model_dir: str | os.PathLike | None = None,
    validation_data: Any = None,
    callbacks: list | None = None,
    keep: int = 2,
    verbose: int | str = "auto",
    run_identity: Mapping[str, Any] | None = None,
) -> ResumableResult:
    """Train ``model`` for ``epochs``, resuming from ``checkpoint_dir`` if a checkpoint is there.

    Args:
        model: a compiled :class:`~tfprot.models.ProteinModel` (built under the strategy, if any).
        make_dataset: ``epoch -> tf.data.Dataset`` with a known cardinality, the same every
            epoch, and an order that depends only on the epoch (see :func:`epoch_datasets`).
        epochs: total epochs (counting those run before a restart).
        checkpoint_dir: where checkpoints go (created; a local path or one ``tf.io.gfile``
            knows, such as ``gs://bucket/run``).
        save_every_steps: also save every this many steps inside an epoch (``None``: at the end
            of each epoch only).
        save_every_seconds: also save inside an epoch once this many seconds have passed since
            the last save (checked after each step). Not under a multi-worker strategy, whose
            workers must save at the same step: use ``save_every_steps`` there.
        final_model_dir: ``save_pretrained`` the model here once every epoch has run.
        validation_data: passed to ``fit``.
        callbacks: more Keras callbacks.
        keep: checkpoints kept.
        verbose: passed to ``fit``.
        run_identity: what makes this run (data, options; JSON-able): recorded in ``run.json``,
            and a start with another identity refuses to resume (:func:`check_run_identity`).

    Raises:
        OptionError: ``epochs``, ``save_every_steps`` or ``save_every_seconds`` below 1 (or
            time-based saving under several workers), a dataset of unknown length, or
            checkpoints of another run.
    """
    import tensorflow as tf

    strategy = model.distribute_strategy
    _check_save_options(epochs, save_every_steps, save_every_seconds, strategy)
    chief = _is_chief(strategy)
    directory = os.fspath(checkpoint_dir)
    if run_identity is not None:
        check_run_identity(directory, run_identity)
    # Every worker saves (saving may need all of them), the others into a scratch folder.
    own_dir = directory if chief else _join(directory, f".worker-{_task_id(strategy)}")
    tf.io.gfile.makedirs(own_dir)

    steps_per_epoch = int(make_dataset(0).cardinality())
    if steps_per_epoch < 1:
        raise OptionError(
            "fit_resumable needs datasets of known length (tfprot's pipelines declare theirs); "
            f"make_dataset(0) has cardinality {steps_per_epoch}."
        )
    _set_schedule_length(model, steps_per_epoch * epochs)

    manager, position, history = _restore_or_start(
        model, directory, own_dir, keep, run_identity if chief else None
    )
    start_epoch, start_step = (int(v) for v in position.numpy())
    if history is not None:
        logger.info(
            "Resuming from step %d of %d (epoch %d, batch %d of %d) in %s.",
            start_epoch * steps_per_epoch + start_step,
            epochs * steps_per_epoch,
            start_epoch + 1,
            start_step,
            steps_per_epoch,
            directory,
        )
    history = history or {}

    saver = _PositionSaver(manager, position, save_every_steps, save_every_seconds, steps_per_epoch)
    progress = [_ProgressOfAllEpochs(epochs)] if verbose != 0 else []
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
            callbacks=[saver, *progress, *(callbacks or [])],
            verbose=verbose,
        )
        for key, values in run.history.items():
            history.setdefault(key, []).extend(float(v) for v in values)
        position.assign([epoch + 1, 0])
        _save_checkpoint(manager)
        saver.saved()
        if chief:
            _write_text(_join(directory, HISTORY_FILE), json.dumps(history, indent=1) + "\n")

    saved = None
    if final_model_dir is not None and chief:
        saved = model.save_pretrained(final_model_dir)
    if not chief and tf.io.gfile.exists(own_dir):
        tf.io.gfile.rmtree(own_dir)
    return ResumableResult(history, (start_epoch, start_step), steps_per_epoch, saved)


def _check_save_options(
    epochs: int, every_steps: int | None, every_seconds: float | None, strategy: Any
) -> None:
    if (
        epochs < 1
        or (every_steps is not None and every_steps < 1)
        or (every_seconds is not None and every_seconds <= 0)
    ):
        raise OptionError(
            "epochs, save_every_steps and save_every_seconds must be positive, got "
            f"{epochs}, {every_steps} and {every_seconds}."
        )
    if every_seconds is not None and _several_workers(strategy):
        raise OptionError(
            "save_every_seconds cannot be used with several workers (they must save at the same "
            "step); use save_every_steps."
        )


def _restore_or_start(
    model, directory: str, own_dir: str, keep: int, run_identity: Mapping[str, Any] | None
) -> tuple[Any, Any, dict[str, list[float]] | None]:
    """The checkpoint manager and position variable, restored from the latest checkpoint in
    ``directory`` with the history so far, or new (history ``None``; ``run.json`` written when
    ``run_identity`` is given, i.e. by the chief)."""
    import tensorflow as tf

    with model.distribute_strategy.scope():
        model.optimizer.build(model.trainable_variables)
        position = tf.Variable([0, 0], dtype=tf.int64, trainable=False, name="position")
    checkpoint = tf.train.Checkpoint(model=model, optimizer=model.optimizer, position=position)
    manager = tf.train.CheckpointManager(checkpoint, own_dir, max_to_keep=keep)
    latest = tf.train.latest_checkpoint(directory)
    if not latest:
        if run_identity is not None:
            _write_text(_join(directory, RUN_FILE), json.dumps(dict(run_identity), indent=1) + "\n")
        return manager, position, None
    _restore(checkpoint, latest)
    return manager, position, _read_json(_join(directory, HISTORY_FILE)) or {}


class _PositionSaver(_keras.callbacks.Callback):
    """Saves a checkpoint with the position ``(epoch, step)`` reached, every ``every`` steps or
    once ``every_seconds`` have passed since the last save."""

    def __init__(
        self,
        manager,
        position,
        every: int | None,
        every_seconds: float | None,
        steps_per_epoch: int,
    ):
        super().__init__()
        self.manager, self.position, self.every = manager, position, every
        self.every_seconds = every_seconds
        self.steps_per_epoch = steps_per_epoch
        self.epoch = self.offset = 0
        self.last_save = time.monotonic()

    def begin_epoch(self, epoch: int, offset: int) -> None:
        self.epoch, self.offset = epoch, offset

    def saved(self) -> None:
        self.last_save = time.monotonic()

    def on_train_batch_end(self, batch, logs=None):
        step = self.offset + batch + 1
        if step >= self.steps_per_epoch:  # the end-of-epoch checkpoint follows
            return
        due = bool(self.every) and step % self.every == 0
        if self.every_seconds is not None:
            due = due or time.monotonic() - self.last_save >= self.every_seconds
        if due:
            self.position.assign([self.epoch, step])
            path = _save_checkpoint(self.manager)
            self.saved()
            logger.debug("Checkpoint %s at epoch %d, step %d.", path, self.epoch + 1, step)


class _ProgressOfAllEpochs(_keras.callbacks.ProgbarLogger):
    """Keras' progress lines, counting epochs out of the whole run (each ``fit`` here runs one
    epoch, which Keras would show as "Epoch 2/2", "Epoch 3/3"...)."""

    def __init__(self, epochs: int):
        super().__init__(count_mode="steps")
        self.total_epochs = epochs

    def set_params(self, params):
        super().set_params({**params, "epochs": self.total_epochs})


def _save_checkpoint(manager) -> str:
    """``manager.save()``; a failure to write (a full disk, no permission) is an
    :class:`~tfprot.errors.OutputError` naming the folder, not TensorFlow's op error."""
    import tensorflow as tf

    try:
        return manager.save()
    except tf.errors.OpError as error:
        from tfprot.errors import OutputError

        raise OutputError(
            f"{manager.directory}: could not write a checkpoint ({_op_message(error)}); free "
            "space there or choose another checkpoint folder, and start again: the run resumes "
            "from its last checkpoint."
        ) from error


def _restore(checkpoint, path: str) -> None:
    import tensorflow as tf

    try:
        checkpoint.restore(path).assert_existing_objects_matched()
    except (tf.errors.OpError, AssertionError, ValueError) as error:
        from tfprot.errors import CheckpointError

        raise CheckpointError(
            f"{path}: cannot resume from this checkpoint ({_op_message(error)}); it is damaged "
            "or belongs to another model. Remove its folder to start afresh."
        ) from error


def _op_message(error: Exception) -> str:
    """TensorFlow's message without its ``{{function_node ...}}`` prefix and ``[Op:...]`` tail.

    >>> _op_message(ValueError("{{function_node __wrapped__SaveV2}} /d/x.tmp; No space left on device [Op:SaveV2]"))
    '/d/x.tmp; No space left on device'
    """
    import re

    text = getattr(error, "message", None) or str(error)
    text = re.sub(r"\{\{function_node [^}]*\}\}\s*", "", text)
    text = re.sub(r"\s*\[Op:[^\]]*\]\s*$", "", text)
    return " ".join(text.split())


def _set_schedule_length(model, total_steps: int) -> None:
    """Give tfprot's learning-rate schedule the whole run's length (each ``fit`` here is one
    epoch, so the schedule cannot learn it from ``fit``)."""
    from tfprot.models.optimization import warmup_schedule

    schedule = warmup_schedule(model.optimizer)
    if schedule is not None and int(schedule.total_steps.numpy()) == 0:
        schedule.set_total_steps(total_steps)


def _is_remote(path: str) -> bool:
    return "://" in path


def _join(directory: str, name: str) -> str:
    """
    >>> _join("gs://bucket/run/", "run.json")
    'gs://bucket/run/run.json'
    """
    if _is_remote(directory):
        return directory.rstrip("/") + "/" + name
    return os.path.join(directory, name)


def _read_json(path: str) -> Any:
    """The JSON in ``path`` (local or ``tf.io.gfile``), or ``None`` when there is no such file."""
    import tensorflow as tf

    if not tf.io.gfile.exists(path):
        return None
    with tf.io.gfile.GFile(path, "r") as handle:
        return json.loads(handle.read())


def _write_text(path: str, text: str) -> None:
    """Write ``text`` to ``path`` whole: a local file atomically, a ``gs://`` object in one
    upload (written beside it, then renamed over it)."""
    import tensorflow as tf

    if not _is_remote(path):
        write_text_atomic(path, text)
        return
    temporary = f"{path}.tmp-{os.getpid()}"
    with tf.io.gfile.GFile(temporary, "w") as handle:
        handle.write(text)
    tf.io.gfile.rename(temporary, path, overwrite=True)


def _several_workers(strategy) -> bool:
    """Whether several processes train together (``MultiWorkerMirroredStrategy``)."""
    import tensorflow as tf

    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return False
    resolver = getattr(strategy, "cluster_resolver", None)
    spec = resolver.cluster_spec().as_dict() if resolver is not None else {}
    return sum(len(tasks) for tasks in spec.values()) > 1


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
