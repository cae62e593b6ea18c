"""Training on ``tf.distribute``: TPUs, several GPUs, several machines, and resumable runs.

>>> import tfprot.distribute as dist
>>> dist.strategy("default").num_replicas_in_sync
1

- :func:`strategy` / :func:`choose_strategy`: ``'auto'`` picks TPUStrategy,
  MultiWorkerMirroredStrategy (``TF_CONFIG``), MirroredStrategy (several GPUs) or the default
  strategy, and logs why; pass the result to a factory as ``strategy=``.
- :func:`for_strategy`: global batches and the auto-shard policy for a strategy (static shapes on
  TPU).
- :func:`fit_resumable`: checkpoints with the optimizer and the data position; a killed job
  started again resumes at the next batch (:func:`check_run_identity`: not into another run's
  checkpoints; :func:`remove_checkpoints` once the results are saved).
"""

from tfprot.distribute.data import TPU_BATCH_MULTIPLE, for_strategy, with_shard_policy
from tfprot.distribute.fault_tolerance import (
    ResumableResult,
    check_run_identity,
    epoch_datasets,
    fit_resumable,
    latest_position,
    remove_checkpoints,
)
from tfprot.distribute.strategy import (
    KINDS,
    DistributeError,
    StrategyChoice,
    choose_strategy,
    is_tpu_strategy,
    strategy,
    workers_in_tf_config,
)

__all__ = [
    "KINDS",
    "TPU_BATCH_MULTIPLE",
    "DistributeError",
    "ResumableResult",
    "StrategyChoice",
    "check_run_identity",
    "choose_strategy",
    "epoch_datasets",
    "fit_resumable",
    "for_strategy",
    "is_tpu_strategy",
    "latest_position",
    "remove_checkpoints",
    "strategy",
    "with_shard_policy",
    "workers_in_tf_config",
]
