"""Pick the ``tf.distribute`` strategy for the hardware at hand, and say why.

``strategy("auto")`` chooses, in this order:

1. ``TPUStrategy`` when a TPU resolves: a TPU named by ``tpu=`` (a Cloud TPU name or a
   ``grpc://`` address), or one the environment announces (``TPU_NAME``, ``COLAB_TPU_ADDR``,
   ``TPU_ACCELERATOR_TYPE``, or local TPU chips under ``/dev/accel*``/``/dev/vfio``);
2. ``MultiWorkerMirroredStrategy`` when ``TF_CONFIG`` describes more than one worker;
3. ``MirroredStrategy`` when more than one GPU is visible;
4. the default strategy (one device) otherwise.

The choice and its reason are logged (and returned by :func:`choose_strategy`). Asking for a
kind explicitly (``"tpu"``, ``"multi_worker"``, ``"mirrored"``, ``"default"``) skips the
detection; ``"tpu"`` without a TPU fails at once with :class:`DistributeError` instead of
waiting on a cluster that is not there.

Create the strategy at the start of the program, before any other TensorFlow work (required by
``MultiWorkerMirroredStrategy``), then build the model with ``strategy=`` (see
:func:`tfprot.sequence_classifier`), so that its variables and optimizer live in its scope.

>>> choice = choose_strategy("default")
>>> choice.kind, choice.num_replicas, choice.reason
('default', 1, 'asked for explicitly')
>>> workers_in_tf_config('{"cluster": {"worker": ["127.0.0.1:2222", "127.0.0.1:2223"]}, '
...                      '"task": {"type": "worker", "index": 0}}')
2
"""

from __future__ import annotations

import glob
import json
import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tfprot.errors import DistributeError, OptionError

__all__ = [
    "KINDS",
    "DistributeError",
    "StrategyChoice",
    "choose_strategy",
    "is_tpu_strategy",
    "strategy",
    "workers_in_tf_config",
]

logger = logging.getLogger(__name__)

KINDS = ("auto", "tpu", "multi_worker", "mirrored", "default")
TPU_ENVIRONMENT = ("TPU_NAME", "COLAB_TPU_ADDR", "TPU_ACCELERATOR_TYPE")
"""Variables a TPU VM, a Cloud TPU job or Colab sets; ``auto`` only tries a TPU when one is set
(or ``tpu=`` names one, or TPU chips are local), so it never waits on a metadata server."""
TPU_CONNECT_TIMEOUT_S = 120.0
"""How long ``strategy("tpu")`` waits for a named TPU to resolve before it gives up."""


@dataclass(frozen=True)
class StrategyChoice:
    """A strategy and why it was chosen.

    Attributes:
        strategy: the ``tf.distribute.Strategy``.
        kind: one of :data:`KINDS` except ``'auto'``.
        reason: why, in words (logged).
        num_replicas: replicas in sync (the global batch is split across them).
    """

    strategy: Any
    kind: str
    reason: str
    num_replicas: int


def strategy(kind: str = "auto", **options: Any):
    """The ``tf.distribute.Strategy`` for ``kind`` (see :func:`choose_strategy`).

    >>> strategy("default").num_replicas_in_sync
    1
    """
    return choose_strategy(kind, **options).strategy


def choose_strategy(
    kind: str = "auto",
    *,
    tpu: str | None = None,
    devices: Sequence[str] | None = None,
    tf_config: str | None = None,
    tpu_timeout_s: float = TPU_CONNECT_TIMEOUT_S,
) -> StrategyChoice:
    """Create the strategy for ``kind`` and log what was chosen and why.

    Args:
        kind: ``'auto'``, ``'tpu'``, ``'multi_worker'``, ``'mirrored'`` or ``'default'``.
        tpu: a Cloud TPU name or ``grpc://host:port`` (``'local'`` for a TPU VM's own chips).
        devices: ``mirrored``: the devices to mirror on (default: every GPU, else every CPU
            device), e.g. ``["/cpu:0", "/cpu:1"]`` with logical CPU devices.
        tf_config: the cluster description (default: the ``TF_CONFIG`` variable).
        tpu_timeout_s: how long to wait for a named TPU to resolve.

    Raises:
        OptionError: an unknown ``kind``.
        DistributeError: ``'tpu'`` without a TPU, ``'multi_worker'`` without a usable
            ``TF_CONFIG``, ``'mirrored'`` without devices.
    """
    import tensorflow as tf

    if kind not in KINDS:
        raise OptionError(f"Unknown strategy {kind!r}. Expect one of {KINDS}.")
    tf_config = os.environ.get("TF_CONFIG", "") if tf_config is None else tf_config
    if kind == "auto":
        choice = _auto(tf, tpu, devices, tf_config, tpu_timeout_s)
    elif kind == "tpu":
        choice = _tpu(tf, tpu, tpu_timeout_s, "asked for explicitly")
    elif kind == "multi_worker":
        workers = workers_in_tf_config(tf_config)
        if workers < 1:
            raise DistributeError(
                "strategy('multi_worker') needs TF_CONFIG with a 'cluster' of workers and this "
                "process's 'task', e.g. "
                '{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
                '"task": {"type": "worker", "index": 0}}.'
            )
        choice = _multi_worker(tf, f"asked for explicitly ({workers} workers in TF_CONFIG)")
    elif kind == "mirrored":
        choice = _mirrored(tf, devices, "asked for explicitly")
    else:
        choice = StrategyChoice(tf.distribute.get_strategy(), "default", "asked for explicitly", 1)
    logger.info(
        "Distribution: %s (%d replica%s): %s.",
        type(choice.strategy).__name__,
        choice.num_replicas,
        "" if choice.num_replicas == 1 else "s",
        choice.reason,
    )
    return choice


def workers_in_tf_config(tf_config: str) -> int:
    """Number of training tasks (chief and workers) in a ``TF_CONFIG`` text; 0 when empty.

    Raises:
        DistributeError: text that is not JSON or has no ``cluster``.

    >>> workers_in_tf_config("")
    0
    >>> workers_in_tf_config('{"cluster": {"chief": ["a:1"], "worker": ["b:1"]}, "task": {}}')
    2
    """
    if not tf_config.strip():
        return 0
    try:
        config = json.loads(tf_config)
        cluster = config["cluster"]
        return sum(len(cluster.get(role, [])) for role in ("chief", "worker"))
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise DistributeError(
            f"TF_CONFIG is not a valid cluster description ({error!r}): {tf_config[:200]!r}. "
            'Expect {"cluster": {"worker": ["host:port", ...]}, "task": {"type": "worker", '
            '"index": 0}}, or unset it to train on one machine.'
        ) from error


def is_tpu_strategy(strategy) -> bool:
    """True for a ``TPUStrategy`` (any version).

    >>> import tensorflow as tf
    >>> is_tpu_strategy(tf.distribute.get_strategy())
    False
    """
    return type(strategy).__name__.startswith("TPUStrategy")


# -- the choices ---------------------------------------------------------------------------------
def _auto(tf, tpu, devices, tf_config, tpu_timeout_s) -> StrategyChoice:
    announced = tpu or _tpu_announced()
    if announced:
        return _tpu(tf, tpu, tpu_timeout_s, f"a TPU resolved ({announced})")
    workers = workers_in_tf_config(tf_config)
    if workers > 1:
        return _multi_worker(tf, f"TF_CONFIG describes {workers} workers")
    gpus = tf.config.list_logical_devices("GPU")
    if len(gpus) > 1:
        return _mirrored(tf, devices, f"{len(gpus)} GPUs are visible")
    found = f"{len(gpus)} GPU" if gpus else "no GPU"
    return StrategyChoice(
        tf.distribute.get_strategy(),
        "default",
        f"no TPU, no multi-worker TF_CONFIG and {found}: one device",
        1,
    )


def _tpu_announced() -> str | None:
    """What says a TPU is here: an environment variable or local TPU chips; ``None``."""
    for name in TPU_ENVIRONMENT:
        if os.environ.get(name):
            return f"{name}={os.environ[name]}"
    if glob.glob("/dev/accel*") or glob.glob("/dev/vfio/[0-9]*"):
        return "local TPU chips"
    return None


def _tpu(tf, tpu: str | None, timeout_s: float, reason: str) -> StrategyChoice:
    if tpu is None and not _tpu_announced():
        raise DistributeError(
            "strategy('tpu'): no TPU here: tpu= names none, none of "
            f"{', '.join(TPU_ENVIRONMENT)} is set and there are no local TPU chips (/dev/accel*). "
            "Pass tpu='my-tpu-name' (Cloud TPU) or tpu='local' (TPU VM), or use strategy('auto')."
        )
    result: dict[str, Any] = {}

    def connect() -> None:
        try:
            resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu)
            tf.config.experimental_connect_to_cluster(resolver)
            tf.tpu.experimental.initialize_tpu_system(resolver)
            result["strategy"] = tf.distribute.TPUStrategy(resolver)
        except Exception as error:  # the resolver raises ValueError, RuntimeError, HttpError...
            result["error"] = error

    thread = threading.Thread(target=connect, name="tfprot-tpu-connect", daemon=True)
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive():
        raise DistributeError(
            f"strategy('tpu'): the TPU {tpu or 'announced by the environment'} did not resolve "
            f"within {timeout_s:.0f} s. Check its name, zone and project, or that it is up."
        )
    if "error" in result:
        raise DistributeError(
            f"strategy('tpu'): cannot connect to the TPU {tpu or ''}: {result['error']}. Check "
            "the TPU name (tpu=...), that it is up, and that this machine may reach it."
        ) from result["error"]
    made = result["strategy"]
    return StrategyChoice(made, "tpu", reason, int(made.num_replicas_in_sync))


def _multi_worker(tf, reason: str) -> StrategyChoice:
    options = tf.distribute.experimental.CommunicationOptions(
        implementation=tf.distribute.experimental.CommunicationImplementation.AUTO
    )
    made = tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
    return StrategyChoice(made, "multi_worker", reason, int(made.num_replicas_in_sync))


def _mirrored(tf, devices: Sequence[str] | None, reason: str) -> StrategyChoice:
    if devices is None:
        found = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        devices = [device.name for device in found]
    devices = list(devices)
    if not devices:
        raise DistributeError("strategy('mirrored'): no devices to mirror on.")
    on_cpu = all("CPU" in name.upper() for name in devices)
    # NCCL all-reduce is for GPUs; CPU replicas reduce through one device.
    cross = tf.distribute.ReductionToOneDevice() if on_cpu else None
    made = tf.distribute.MirroredStrategy(devices=devices, cross_device_ops=cross)
    return StrategyChoice(made, "mirrored", f"{reason}: {', '.join(devices)}", len(devices))
