"""The default optimiser: schedule values, which variables AdamW decays, clipping, ScheduleSteps,
serialisation."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import tensorflow as tf

import tfprot
from tfprot._keras import keras
from tfprot.models.optimization import ScheduleSteps, WarmupLinearDecay, make_optimizer

_keras = keras()


def _expected_schedule(step, peak, total, warmup_fraction, end_fraction):
    """The schedule written out by hand: linear up to ceil(total × fraction), then linear down."""
    warmup = max(np.ceil(total * warmup_fraction), 1.0)
    if step < warmup:
        return peak * step / warmup
    progress = min(max((step - warmup) / max(total - warmup, 1.0), 0.0), 1.0)
    return peak * (1.0 - (1.0 - end_fraction) * progress)


@pytest.mark.parametrize(
    ("total", "warmup_fraction", "end_fraction"), [(100, 0.06, 0.0), (37, 0.1, 0.2)]
)
def test_schedule_values_follow_warmup_then_linear_decay(total, warmup_fraction, end_fraction):
    schedule = WarmupLinearDecay(2e-4, total, warmup_fraction, end_fraction)
    steps = np.arange(0, total + 5)
    got = np.array([float(schedule(step)) for step in steps])
    want = np.array(
        [_expected_schedule(s, 2e-4, total, warmup_fraction, end_fraction) for s in steps]
    )
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-12)
    assert got.argmax() == max(np.ceil(total * warmup_fraction), 1)  # the peak ends the warm-up
    assert got[-1] == pytest.approx(2e-4 * end_fraction, rel=1e-5, abs=1e-12)


def test_schedule_without_total_steps_stays_at_peak_and_can_be_set_later():
    schedule = WarmupLinearDecay(1e-3)
    assert [float(schedule(s)) for s in (0, 1, 500)] == pytest.approx([1e-3] * 3)
    schedule.set_total_steps(10)
    assert float(schedule(0)) == 0.0 and float(schedule(10)) == pytest.approx(0.0)


@pytest.fixture(scope="module")
def tiny_classifier():
    model = tfprot.sequence_classifier(
        "tiny-esm", ["a", "b"], precision="float32", num_hidden_layers=1, learning_rate=1e-2
    )
    model({"input_ids": tf.constant([[0, 5, 6, 2]]), "attention_mask": tf.ones([1, 4], tf.int32)})
    return model


def _kind(variable) -> str:
    name = variable.name
    if "LayerNorm" in name or "layer_norm" in name:
        return "layer_norm"
    return name.rsplit("/", 1)[-1].split(":")[0]  # kernel, bias, embeddings


def test_adamw_decays_kernels_and_embeddings_not_biases_or_layer_norm(tiny_classifier):
    optimizer = tiny_classifier.optimizer
    variables = tiny_classifier.trainable_variables
    kinds = {_kind(v) for v in variables}
    assert kinds == {"kernel", "bias", "embeddings", "layer_norm"}
    for variable in variables:
        assert optimizer._use_weight_decay(variable) == (
            _kind(variable) in ("kernel", "embeddings")
        )

    # Prove it with a real step: zero gradients leave Adam's update at 0, so only decay moves a
    # variable, by exactly learning_rate × weight_decay × its value.
    optimizer.build(variables)
    optimizer.iterations.assign(100)  # past the warm-up: learning rate 1e-2 (total_steps unset)
    before = [v.numpy().copy() for v in variables]
    optimizer.apply_gradients([(tf.zeros_like(v), v) for v in variables])
    factor = 1.0 - 1e-2 * optimizer.weight_decay
    assert optimizer.weight_decay == pytest.approx(0.01)
    for variable, old in zip(variables, before, strict=True):
        decayed = _kind(variable) in ("kernel", "embeddings")
        np.testing.assert_allclose(
            variable.numpy(), old * factor if decayed else old, rtol=1e-6, err_msg=variable.name
        )
        if decayed:
            assert not np.allclose(variable.numpy(), old)


def test_gradients_are_clipped_by_global_norm():
    optimizer = make_optimizer(1e-3, clipnorm=1.0)
    assert optimizer.global_clipnorm == 1.0 and optimizer.clipnorm is None
    grads = [tf.constant([3.0, 4.0]), tf.constant([[12.0]])]  # global norm 13
    clipped = optimizer._clip_gradients(grads)
    np.testing.assert_allclose(clipped[0].numpy(), [3 / 13, 4 / 13], rtol=1e-6)
    np.testing.assert_allclose(clipped[1].numpy(), [[12 / 13]], rtol=1e-6)
    assert make_optimizer(1e-3, clipnorm=None).global_clipnorm is None


def test_optimizer_config_round_trips_with_its_schedule():
    optimizer = make_optimizer(3e-4, weight_decay=0.05, warmup_fraction=0.1, total_steps=40)
    config = _keras.optimizers.serialize(optimizer)
    rebuilt = _keras.optimizers.deserialize(config)
    schedule = rebuilt.schedule
    assert isinstance(schedule, WarmupLinearDecay)
    assert schedule.get_config() == {
        "peak": 3e-4,
        "total_steps": 40,
        "warmup_fraction": 0.1,
        "end_fraction": 0.0,
    }
    assert rebuilt.weight_decay == pytest.approx(0.05) and rebuilt.global_clipnorm == 1.0
    assert float(schedule(4)) == pytest.approx(3e-4)


def _repeating(model, data, batches):
    return (
        data.tf_dataset(
            "train", model.tokenizer, static_shapes=True, bucket_lengths=(32,), batch_tokens=128
        )
        .repeat()
        .take(batches)
    )


def test_schedule_steps_sets_total_from_fit(tiny_classifier, cytosol_membrane, caplog):
    model = tiny_classifier
    schedule = model.optimizer.schedule
    schedule.set_total_steps(0)
    # Known cardinality: steps = 3 per epoch, 2 epochs.
    with caplog.at_level(logging.INFO, logger="tfprot.models.optimization"):
        model.fit(_repeating(model, cytosol_membrane, 3), epochs=2, verbose=0)
    assert int(schedule.total_steps.numpy()) == 6
    assert "linear decay to step 6" in caplog.text
    # steps_per_epoch on an endless dataset.
    schedule.set_total_steps(0)
    endless = _repeating(model, cytosol_membrane, 1).repeat()
    model.fit(endless, steps_per_epoch=2, epochs=2, verbose=0)
    assert int(schedule.total_steps.numpy()) == 4


def test_schedule_steps_warns_when_the_length_is_unknown(caplog):
    schedule = WarmupLinearDecay(1e-3)
    callback = ScheduleSteps(schedule)
    callback.set_params({"epochs": 2, "steps": None})
    with caplog.at_level(logging.WARNING, logger="tfprot.models.optimization"):
        callback.on_train_begin()
    assert int(schedule.total_steps.numpy()) == 0
    assert "steps_per_epoch" in caplog.text


def test_schedule_steps_leaves_a_set_total_alone():
    schedule = WarmupLinearDecay(1e-3, total_steps=50)
    callback = ScheduleSteps(schedule)
    callback.set_params({"epochs": 3, "steps": 7})
    callback.on_train_begin()
    assert int(schedule.total_steps.numpy()) == 50


def test_fused_adamw_matches_keras_adamw_step_for_step():
    """The fused update against Keras' own AdamW: same schedule, decay, exclusions, clipping."""
    from tfprot.models.optimization import FusedAdamW, WarmupLinearDecay

    rng = np.random.default_rng(0)
    shapes = {"dense/kernel": (7, 5), "dense/bias": (5,), "LayerNorm/gamma": (5,)}
    start = {name: rng.normal(size=shape).astype("float32") for name, shape in shapes.items()}
    gradients = [
        {name: rng.normal(size=shape).astype("float32") for name, shape in shapes.items()}
        for _ in range(4)
    ]

    def train(optimizer_class):
        variables = {name: tf.Variable(value, name=name) for name, value in start.items()}
        optimizer = optimizer_class(
            learning_rate=WarmupLinearDecay(1e-2, total_steps=10, warmup_fraction=0.2),
            weight_decay=0.1,
            global_clipnorm=1.0,
            epsilon=1e-8,
        )
        optimizer.exclude_from_weight_decay(var_names=["bias", "LayerNorm"])

        @tf.function
        def step(grads):
            optimizer.apply_gradients([(grads[name], variables[name]) for name in shapes])

        for grads in gradients:
            step({name: tf.constant(g) for name, g in grads.items()})
        return {name: v.numpy() for name, v in variables.items()}

    fused, reference = train(FusedAdamW), train(_keras.optimizers.AdamW)
    for name in shapes:
        assert not np.allclose(fused[name], start[name])  # it moved
        np.testing.assert_allclose(fused[name], reference[name], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("precision", ["float32", "mixed_float16"])
def test_fit_traces_the_training_step_once_and_trains_as_keras_does(precision, cytosol_membrane):
    """The optimizer's moments exist before Keras traces the step (a first trace that creates
    variables is traced again), and training is unchanged: a twin on Keras' own
    ``make_train_function`` (moments created inside the trace) ends with the same weights."""
    import types

    def build():
        return tfprot.sequence_classifier(
            "tiny-esm", cytosol_membrane, precision=precision, num_hidden_layers=1
        )

    model, twin = build(), build()
    twin.set_weights(model.get_weights())
    twin.make_train_function = types.MethodType(_keras.Model.make_train_function, twin)
    traces = {"model": 0, "twin": 0}
    for name, which in (("model", model), ("twin", twin)):
        step = which.train_step

        def counted(data, name=name, step=step):
            traces[name] += 1
            return step(data)

        which.train_step = counted
        which.fit(_repeating(which, cytosol_membrane, 3), epochs=1, verbose=0)
    assert traces == {"model": 1, "twin": 2}
    for ours, keras_way in zip(model.get_weights(), twin.get_weights(), strict=True):
        np.testing.assert_allclose(ours, keras_way, rtol=1e-5, atol=1e-6)
