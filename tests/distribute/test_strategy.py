"""Strategy choice without accelerators, and TPU readiness on a CPU: ``strategy("tpu")`` without a
TPU fails at once (or within its bounded wait, for an unreachable address) with a clear error;
the TPU data mode yields fully static shapes in multiples of 8; a model compiled with
``jit_compile=True`` trains on them; a factory given ``strategy=`` builds in its scope.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

import tfprot
from tfprot.distribute import (
    TPU_BATCH_MULTIPLE,
    DistributeError,
    choose_strategy,
    for_strategy,
    strategy,
    workers_in_tf_config,
)
from tfprot.distribute.strategy import TPU_ENVIRONMENT
from tfprot.errors import OptionError, TfprotError


@pytest.fixture
def no_tpu_environment(monkeypatch):
    for name in (*TPU_ENVIRONMENT, "TF_CONFIG"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def short_data():
    """Real cytosol/membrane records of at most 100 residues, both classes."""
    full = tfprot.ProteinDataset.example()
    short = [r for r in full.records("train") if len(r) <= 100]
    records = [r for r in short if r.label == "cytoplasmic"][:20]
    records += [r for r in short if r.label == "plasma_membrane"][:20]
    return tfprot.ProteinDataset(records, "classification", name="short")


def test_auto_without_accelerators_or_cluster_chooses_the_default_strategy_and_says_why(
    no_tpu_environment, caplog
):
    if tf.config.list_logical_devices("GPU") or os.path.exists("/dev/accel0"):
        pytest.skip("this machine has an accelerator")
    with caplog.at_level(logging.INFO, logger="tfprot.distribute.strategy"):
        choice = choose_strategy("auto")
    assert choice.kind == "default" and choice.num_replicas == 1
    assert choice.strategy is tf.distribute.get_strategy()
    assert "no TPU" in choice.reason and "no GPU" in choice.reason
    assert any("no TPU" in r.getMessage() for r in caplog.records)


def test_tpu_without_a_tpu_fails_at_once_with_what_to_do(no_tpu_environment):
    started = time.monotonic()
    with pytest.raises(DistributeError, match=r"no TPU here.*tpu='my-tpu-name'") as caught:
        strategy("tpu")
    assert time.monotonic() - started < 2.0
    assert isinstance(caught.value, TfprotError) and isinstance(caught.value, RuntimeError)


def test_tpu_at_an_unreachable_address_gives_up_after_its_bounded_wait():
    """In a fresh process: connecting to a cluster changes TensorFlow's global context."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there
    script = (
        "import time\n"
        "from tfprot.distribute import strategy, DistributeError\n"
        "t = time.monotonic()\n"
        "try:\n"
        f"    strategy('tpu', tpu='grpc://127.0.0.1:{port}', tpu_timeout_s=2)\n"
        "except DistributeError as error:\n"
        "    print('@@ERROR', round(time.monotonic() - t, 1), error)\n"
    )
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    run = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert "@@ERROR" in run.stdout, run.stdout + run.stderr[-2000:]
    seconds = float(run.stdout.split("@@ERROR ", 1)[1].split()[0])
    assert 1.5 <= seconds < 30
    assert f"grpc://127.0.0.1:{port} did not resolve within 2 s" in run.stdout


def test_unknown_kind_and_bad_tf_config_are_refused():
    with pytest.raises(OptionError, match="Unknown strategy 'gpu'"):
        strategy("gpu")
    with pytest.raises(DistributeError, match="TF_CONFIG is not a valid cluster"):
        workers_in_tf_config("{not json")
    with pytest.raises(DistributeError, match="needs TF_CONFIG"):
        strategy("multi_worker", tf_config="")
    config = '{"cluster": {"chief": ["h:1"], "worker": ["h:2", "h:3"], "ps": ["h:4"]}}'
    assert workers_in_tf_config(config) == 3


def test_strategy_data_respects_the_token_budget_and_shards_by_data(short_data):
    tokenizer = tfprot.ProteinTokenizer.from_pretrained("tiny-esm")
    one = tf.distribute.get_strategy()
    dataset = for_strategy(short_data, "train", tokenizer, one, batch_tokens_per_replica=512)
    policy = dataset.options().experimental_distribute.auto_shard_policy
    assert policy == tf.data.experimental.AutoShardPolicy.DATA
    tokens = [int(np.prod(f["input_ids"].shape)) for f, _ in dataset]
    assert max(tokens) <= 512
    # The declared cardinality (tfprot's bucketed pipelines assert it) survives the options.
    assert int(dataset.cardinality()) == len(tokens)


def test_tpu_data_mode_has_static_shapes_and_a_jit_compiled_model_trains_on_them(short_data):
    model = tfprot.sequence_classifier(
        "tiny-esm", short_data, precision="float32", jit_compile=True, num_hidden_layers=1
    )
    dataset = for_strategy(
        short_data,
        "train",
        model.tokenizer,
        tf.distribute.get_strategy(),
        tpu=True,
        batch_tokens_per_replica=1024,
        bucket_lengths=(128,),
    )
    # Fully static: the element spec itself (what a TPU compiles against) has no unknown size.
    features, labels, weights = dataset.element_spec
    for spec in (*features.values(), labels, weights):
        assert spec.shape.is_fully_defined(), spec
    batch = features["input_ids"].shape[0]
    assert batch % TPU_BATCH_MULTIPLE == 0 and features["input_ids"].shape[1] == 128
    elements = list(dataset)
    assert all(f["input_ids"].shape == (batch, 128) for f, _, _ in elements)
    # Filler rows have weight 0, and every real example is there once.
    assert sum(int(w.numpy().sum()) for _, _, w in elements) == len(short_data.records("train"))

    before = [w.numpy().copy() for w in model.trainable_weights]
    history = model.fit(dataset, epochs=1, verbose=0)
    assert model._jit_compile is True
    assert np.isfinite(history.history["loss"]).all()
    assert any(
        not np.array_equal(a, b.numpy())
        for a, b in zip(before, model.trainable_weights, strict=True)
    )


def test_factory_builds_and_compiles_in_the_strategy_scope(short_data):
    mirrored = tf.distribute.MirroredStrategy(["/cpu:0"])
    model = tfprot.sequence_classifier(
        "tiny-esm", short_data, precision="float32", strategy=mirrored, num_hidden_layers=1
    )
    assert model.distribute_strategy is mirrored
    assert type(model.trainable_weights[0]).__name__ == "MirroredVariable"
    assert model.info["strategy"] == "MirroredStrategy" and model.info["replicas"] == 1
