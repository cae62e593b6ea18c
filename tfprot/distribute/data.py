"""Batches for a ``tf.distribute`` strategy: global batch, auto-shard policy, static shapes.

Keras' ``fit`` under a strategy takes *global* batches and splits each across the replicas in
sync (``num_replicas_in_sync``). tfprot's token budget is therefore given per replica and
multiplied here: ``batch_tokens = batch_tokens_per_replica × replicas``.

tfprot's pipelines start from ``tf.data.Dataset.range`` (no files), so the ``FILE`` auto-shard
policy cannot apply; :func:`for_strategy` sets ``AutoShardPolicy.DATA`` explicitly. Under
``MultiWorkerMirroredStrategy`` every worker then builds the same global batches (same seed, same
order) and keeps its replicas' slices of each, so workers always agree on the number of steps,
even though bucketed batches vary in size (the declared cardinality stays true). The price is
that every worker reads and encodes the whole data set; for tfprot's in-memory data that is cheap.

Under a TPU strategy (or ``static_shapes=True``) the static-shape mode is used, with batch sizes a
multiple of ``8 × replicas`` so that every replica gets whole, equal, statically shaped slices.

>>> import tensorflow as tf, tfprot
>>> data = tfprot.ProteinDataset.example()
>>> tokenizer = tfprot.ProteinTokenizer.from_pretrained("tiny-esm")
>>> train = for_strategy(data, "train", tokenizer, tf.distribute.get_strategy(),
...                      batch_tokens_per_replica=4096)
>>> train.options().experimental_distribute.auto_shard_policy == tf.data.experimental.AutoShardPolicy.DATA
True
"""

from __future__ import annotations

import logging
from typing import Any

from tfprot.data.batching import Batching
from tfprot.data.dataset import ProteinDataset
from tfprot.data.tokenizer import ProteinTokenizer
from tfprot.distribute.strategy import is_tpu_strategy

__all__ = ["TPU_BATCH_MULTIPLE", "for_strategy", "with_shard_policy"]

logger = logging.getLogger(__name__)

TPU_BATCH_MULTIPLE = 8
"""Per-replica batch sizes on TPU are multiples of this (the TPU's matrix unit tiles by 8)."""


def with_shard_policy(dataset, policy: str = "data"):
    """``dataset`` with its auto-shard policy set (``'data'``, ``'off'`` or ``'auto'``).

    ``'off'`` is for pipelines that already shard per worker themselves (every worker must then
    still yield the same number of batches).
    """
    import tensorflow as tf

    policies = {
        "data": tf.data.experimental.AutoShardPolicy.DATA,
        "off": tf.data.experimental.AutoShardPolicy.OFF,
        "auto": tf.data.experimental.AutoShardPolicy.AUTO,
    }
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = policies[policy]
    return dataset.with_options(options)


def for_strategy(
    data: ProteinDataset,
    split: str,
    tokenizer: ProteinTokenizer,
    strategy,
    *,
    batch_tokens_per_replica: int = 4096,
    static_shapes: bool | None = None,
    tpu: bool | None = None,
    **batching_options: Any,
):
    """The ``tf.data`` pipeline of ``split`` with global batches for ``strategy``.

    Args:
        data: the data set.
        split: ``'train'``, ``'validation'`` or ``'test'``.
        tokenizer: the model's tokenizer.
        strategy: a ``tf.distribute.Strategy`` (``tf.distribute.get_strategy()`` for none).
        batch_tokens_per_replica: token budget of one replica's slice.
        static_shapes: default: on in the TPU mode.
        tpu: the TPU mode: static shapes, per-replica batch sizes a multiple of
            :data:`TPU_BATCH_MULTIPLE`; default: under a TPU strategy (``True`` prepares the
            data for a TPU elsewhere, e.g. to check it on a CPU).
        **batching_options: other :class:`~tfprot.data.Batching` fields (``seed``,
            ``bucket_lengths``, ``max_batch_size`` (per replica)...) and ``shuffle``,
            ``max_length``.

    Returns:
        The dataset, with ``AutoShardPolicy.DATA``.
    """
    replicas = int(strategy.num_replicas_in_sync)
    tpu = is_tpu_strategy(strategy) if tpu is None else tpu
    static = tpu if static_shapes is None else static_shapes
    shuffle = batching_options.pop("shuffle", None)
    max_length = batching_options.pop("max_length", None)
    if batching_options.get("max_batch_size"):
        batching_options["max_batch_size"] *= replicas
    if static:
        multiple = (TPU_BATCH_MULTIPLE if tpu else 1) * replicas
        batching_options.setdefault("batch_multiple", multiple)
    batching = Batching(
        batch_tokens=batch_tokens_per_replica * replicas, static_shapes=static, **batching_options
    )
    logger.info(
        "Global batches of up to %d tokens (%d per replica x %d replicas)%s.",
        batching.batch_tokens,
        batch_tokens_per_replica,
        replicas,
        ", static shapes" if static else "",
    )
    dataset = data.tf_dataset(split, tokenizer, batching, shuffle=shuffle, max_length=max_length)
    return with_shard_policy(dataset, "data")
