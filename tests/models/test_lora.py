"""tfprot.models.lora: LoRA adapters beside the frozen Dense kernels of the models tfprot builds.

References: a plain transformers twin holding the same weights (its own, unfused layers), with
the merged kernels ``W + (α/r)·A·B`` computed here in numpy; a PyTorch
``EsmForSequenceClassification`` saved with safetensors (how the Hub ships ESM-2) as the base
checkpoint; plain transformers loading the merged folder without tfprot.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
import torch
from esm_twins import FIXES_ONLY, build, esm_inputs, twin, weight_name

import tfprot
from tfprot.errors import CheckpointError, OptionError
from tfprot.models import cpu_ops
from tfprot.models.checkpoints import tiny_config
from tfprot.models.lora import (
    ADAPTER_CONFIG,
    ADAPTER_FOLDER,
    ADAPTER_WEIGHTS,
    LoraConfig,
    LoraDense,
    apply_lora,
    parse_targets,
)

TOLERANCE = 1e-5
LABELS = ["cytoplasmic", "plasma_membrane"]
SEQUENCES = ["MKTAYIAKQRQISFVKSHFSRQ", "GSWLLPEAK", "MADEEKLPPGWEKRMSRSSGRVYYFNHITNASQ"]


def _randomise_adapters(adapters, seed: int = 0) -> None:
    """Non-zero B (and A) so that the adapters change the function."""
    rng = np.random.default_rng(seed)
    for adapter in adapters.adapters:
        adapter.lora_b.assign(rng.normal(0, 0.1, adapter.lora_b.shape).astype(np.float32))


def _merged_twin(transformer, adapters, subclasses=None):
    """A transformers twin whose kernels hold ``W + scale·A·B`` (numpy), without adapters."""
    reference = twin(transformer, subclasses)
    updates = {}
    for path, dense, adapter in adapters.pairs():
        update = adapter.lora_a.numpy() @ adapter.lora_b.numpy() * adapters.config.scale
        updates[weight_name(dense.kernel)] = update
        assert path in weight_name(dense.kernel)
    for variable in reference.variables:
        if weight_name(variable) in updates:
            variable.assign(variable.numpy() + updates.pop(weight_name(variable)))
    assert not updates
    return reference


def _logits(model, inputs):
    return model(**inputs, training=False).logits.numpy()


# -- building --------------------------------------------------------------------------------
@pytest.mark.parametrize("targets", ["query,value", "all-linear"])
def test_fresh_adapters_give_the_base_models_logits(targets):
    model = tfprot.sequence_classifier(
        "tiny-esm", LABELS, precision="float32", lora_rank=4, lora_targets=targets
    )
    inputs = esm_inputs([20, 7, 33])
    reference = twin(model.transformer)  # transformers' own layers, the same (base) weights
    expected = _logits(reference, inputs)
    got = model(inputs, training=False).numpy()
    assert np.abs(got - expected).max() <= TOLERANCE
    # B is zero, A is not: the model starts as the base model.
    for adapter in model.lora.adapters:
        assert not adapter.lora_b.numpy().any() and adapter.lora_a.numpy().std() > 0
    layers = 2 * len(parse_targets(targets))
    assert len(model.lora.adapters) == layers


@pytest.mark.parametrize("cpu_ops_on", [True, False])
@pytest.mark.parametrize("kind", ["sequence", "token"])
def test_fused_layers_apply_the_adapters_as_transformers_layers_with_merged_kernels(
    kind, cpu_ops_on
):
    """tfprot's fused layer (one QKV matmul; CPU ops on or off) and first-token path add the
    adapters' outputs: equal to a plain transformers twin whose kernels are merged in numpy."""
    builder = tfprot.sequence_classifier if kind == "sequence" else tfprot.token_classifier
    labels = LABELS if kind == "sequence" else ["C", "E", "H"]
    model = builder("tiny-esm", labels, precision="float32", lora_rank=4, lora_targets="all-linear")
    _randomise_adapters(model.lora)
    inputs = esm_inputs([20, 7, 33])
    expected = _logits(_merged_twin(model.transformer, model.lora), inputs)
    base = _logits(twin(model.transformer), inputs)
    with cpu_ops.disabled() if not cpu_ops_on else contextlib.nullcontext():
        got = model(inputs, training=False).numpy()
    mask = inputs["attention_mask"].numpy().astype(bool) if kind == "token" else slice(None)
    assert np.abs(got - expected)[mask].max() <= TOLERANCE
    assert np.abs(got - base)[mask].max() > 100 * TOLERANCE  # the adapters do change it


def test_adapters_in_transformers_own_layers():
    """LoraDense in transformers' unfused TFEsmLayer (no fused layer swapped in)."""
    model = build("token", FIXES_ONLY)
    adapters = apply_lora(model, LoraConfig(2, targets="all-linear"))
    assert all(type(dense) is LoraDense for _, dense, _ in adapters.pairs())
    _randomise_adapters(adapters, seed=3)
    inputs = esm_inputs([12, 30])
    expected = _logits(_merged_twin(model, adapters, FIXES_ONLY), inputs)
    mask = inputs["attention_mask"].numpy().astype(bool)
    assert np.abs(_logits(model, inputs) - expected)[mask].max() <= TOLERANCE


def test_merged_and_unmerged_logits_agree_and_the_kernels_come_back_exactly():
    model = tfprot.sequence_regressor("tiny-esm", precision="float32", lora_rank=8)
    _randomise_adapters(model.lora)
    inputs = esm_inputs([25, 9])
    kernels = [dense.kernel.numpy().copy() for _, dense, _ in model.lora.pairs()]
    unmerged = model(inputs, training=False).numpy()
    with model.merged_weights():
        merged = model(inputs, training=False).numpy()
        assert not np.array_equal(model.lora.pairs().__next__()[1].kernel.numpy(), kernels[0])
    assert np.abs(merged - unmerged).max() <= TOLERANCE
    for (_, dense, _), kernel in zip(model.lora.pairs(), kernels, strict=True):
        assert np.array_equal(dense.kernel.numpy(), kernel)
    assert np.array_equal(model(inputs, training=False).numpy(), unmerged)


def test_lora_dropout_is_active_in_training_only():
    model = tfprot.sequence_regressor(
        "tiny-esm", precision="float32", lora_rank=4, lora_dropout=0.5, compile=False
    )
    _randomise_adapters(model.lora)
    inputs = esm_inputs([30, 30])
    first, second = (model(inputs, training=True).numpy() for _ in range(2))
    assert not np.array_equal(first, second)
    assert np.array_equal(model(inputs, training=False), model(inputs, training=False))


# -- training ----------------------------------------------------------------------------------
def _snapshot(model):
    return {v.name: v.numpy().copy() for v in model.transformer.variables}


def _check_only_adapters_and_head_changed(model, before, adapters_before):
    head = {v.name for v in tfprot.models.lora.head_weights(model.transformer)}
    for variable in model.transformer.variables:
        same = np.array_equal(variable.numpy(), before[variable.name])
        if variable.name in head:
            assert not same, f"the head's {variable.name} did not train"
        else:
            assert same, f"{variable.name} changed: the encoder must stay frozen"
    changed = [
        not np.array_equal(a.numpy(), b)
        for a, b in zip(model.lora.weights, adapters_before, strict=True)
    ]
    assert all(changed), "every adapter variable trains"


@pytest.mark.parametrize(
    ("precision", "jit"),
    [
        ("float32", False),
        ("mixed_bfloat16", False),
        pytest.param("float32", True, marks=pytest.mark.slow),
        pytest.param("mixed_float16", False, marks=pytest.mark.slow),
    ],
)
def test_fit_trains_only_the_adapters_and_the_head(cytosol_membrane, precision, jit):
    model = tfprot.sequence_classifier(
        "tiny-esm", cytosol_membrane, precision=precision, jit_compile=jit, lora_rank=4
    )
    assert all(v.dtype == tf.float32 for v in model.lora.weights)
    trainable = {id(v) for v in model.trainable_weights}
    assert trainable == {id(v) for v in model.lora.weights} | {
        id(v) for v in tfprot.models.lora.head_weights(model.transformer)
    }
    before, adapters_before = _snapshot(model), [v.numpy().copy() for v in model.lora.weights]
    options = {"static_shapes": True} if jit else {}
    train = cytosol_membrane.tf_dataset("train", model.tokenizer, batch_tokens=2048, **options)
    history = model.fit(train.take(3), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    _check_only_adapters_and_head_changed(model, before, adapters_before)


@pytest.mark.slow
def test_mirrored_strategy_on_two_cpus():
    """In a fresh process (logical devices are set before TensorFlow starts)."""
    script = Path(__file__).with_name("lora_mirrored.py")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    run = subprocess.run(
        [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    result = json.loads(run.stdout.split("@@RESULT ", 1)[1].splitlines()[0])
    assert result["replicas"] == 2
    assert set(result["adapter_types"]) == {"MirroredVariable"}
    assert result["encoder_unchanged"] and result["adapters_changed"] and result["head_changed"]
    assert result["reload_error"] <= TOLERANCE


# -- saving and loading --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def torch_base(tmp_path_factory, hf_esm_tokenizer):
    """A PyTorch EsmForSequenceClassification saved with safetensors (PyTorch format only)."""
    from transformers import EsmForSequenceClassification

    folder = tmp_path_factory.mktemp("torch_base")
    torch.manual_seed(0)
    config = tiny_config(tfprot.PRESETS["tiny-esm"], initializer_range=0.2, num_labels=2)
    config.id2label = dict(enumerate(LABELS))
    config.label2id = {label: index for index, label in enumerate(LABELS)}
    model = EsmForSequenceClassification(config).eval()
    model.save_pretrained(folder)
    hf_esm_tokenizer.save_pretrained(folder)
    assert (folder / "model.safetensors").is_file() and not list(folder.glob("tf_model*"))
    return model, folder


def _torch_logits(model, tokenizer, sequences):
    batch = tokenizer(sequences, padding=True, return_tensors="pt")
    with torch.no_grad():
        return model(**batch).logits.numpy()


def test_a_pytorch_safetensors_checkpoint_is_the_base(torch_base, hf_esm_tokenizer):
    torch_model, folder = torch_base
    model = tfprot.sequence_classifier(folder, LABELS, precision="float32", lora_rank=4)
    expected = _torch_logits(torch_model, hf_esm_tokenizer, SEQUENCES)
    got = np.stack(model.predict_logits(SEQUENCES, progress=False))
    assert np.abs(got - expected).max() <= TOLERANCE
    assert model.info["lora"]["base_checkpoint"] == str(Path(folder).resolve())


@pytest.fixture(scope="module")
def trained(torch_base, cytosol_membrane, tmp_path_factory):
    """A LoRA model on the PyTorch base, fitted a few steps and saved."""
    _, folder = torch_base
    model = tfprot.sequence_classifier(
        folder, cytosol_membrane, precision="float32", lora_rank=4, lora_targets="all-linear"
    )
    train = cytosol_membrane.tf_dataset("train", model.tokenizer, batch_tokens=2048)
    model.fit(train.take(3), epochs=1, verbose=0)
    out = tmp_path_factory.mktemp("saved") / "model"
    model.save_pretrained(out)
    return model, out


def test_save_writes_merged_weights_that_plain_transformers_loads(trained):
    from transformers import TFAutoModelForSequenceClassification

    model, out = trained
    ids = model.tokenizer.tokenizer(SEQUENCES, padding=True, return_tensors="np")
    inputs = {k: tf.constant(ids[k], tf.int32) for k in ("input_ids", "attention_mask")}
    expected = model(inputs, training=False).numpy()
    plain = TFAutoModelForSequenceClassification.from_pretrained(str(out))
    assert type(plain.esm.encoder.layer[0]).__module__.startswith("transformers.")
    assert not [w for w in plain.weights if "lora" in w.name]
    got = plain(**inputs, training=False).logits.numpy()
    assert np.abs(got - expected).max() <= TOLERANCE
    with open(out / "config.json") as handle:
        assert json.load(handle)["architectures"] == ["EsmForSequenceClassification"]


def test_adapters_only_folder_is_small_and_reloads_to_identical_predictions(trained, torch_base):
    model, out = trained
    adapters = out / ADAPTER_FOLDER
    config = json.loads((adapters / ADAPTER_CONFIG).read_text())
    assert config["rank"] == 4 and config["alpha"] == 8.0
    assert config["targets"] == list(parse_targets("all-linear"))
    assert config["base_checkpoint"] == str(Path(torch_base[1]).resolve())
    size = (adapters / ADAPTER_WEIGHTS).stat().st_size
    assert size < (out / "model.safetensors").stat().st_size / 3
    reloaded = tfprot.load_model(adapters)
    expected = model.predict_logits(SEQUENCES, progress=False)
    got = reloaded.predict_logits(SEQUENCES, progress=False)
    for a, b in zip(got, expected, strict=True):
        np.testing.assert_array_equal(a, b)
    assert [p.label for p in reloaded.predict_sequences(SEQUENCES, progress=False)] == [
        p.label for p in model.predict_sequences(SEQUENCES, progress=False)
    ]
    assert reloaded.info["loaded_from"] == str(adapters)


def test_merged_folder_reloads_with_fresh_adapters(trained):
    model, out = trained
    reloaded = tfprot.load_model(out)
    assert reloaded.lora is not None and reloaded.lora.config == model.lora.config
    assert reloaded.info["lora"]["base_checkpoint"] == str(out.resolve())
    expected = np.stack(model.predict_logits(SEQUENCES, progress=False))
    got = np.stack(reloaded.predict_logits(SEQUENCES, progress=False))
    assert np.abs(got - expected).max() <= TOLERANCE


def test_export_uses_the_merged_weights(trained, tmp_path):
    model, _ = trained
    exported = model.export_saved_model(tmp_path / "export")
    loaded = tf.saved_model.load(str(exported))
    assert len(loaded.weights) == len(model.transformer.variables)  # no adapters
    ids = model.tokenizer.tokenizer(SEQUENCES, padding=True, return_tensors="np")
    out = loaded.signatures["serving_default"](
        input_ids=tf.constant(ids["input_ids"], tf.int32),
        attention_mask=tf.constant(ids["attention_mask"], tf.int32),
    )
    expected = model(
        {k: tf.constant(ids[k], tf.int32) for k in ("input_ids", "attention_mask")},
        training=False,
    ).numpy()
    assert np.abs(out["logits"].numpy() - expected).max() <= TOLERANCE


def test_damaged_adapter_folders_are_named(trained, tmp_path):
    import shutil

    _, out = trained
    copy = tmp_path / "adapters"
    shutil.copytree(out / ADAPTER_FOLDER, copy)
    config = json.loads((copy / ADAPTER_CONFIG).read_text())
    config["base_checkpoint"] = str(tmp_path / "gone")
    (copy / ADAPTER_CONFIG).write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="gone"):
        tfprot.load_model(copy)
    config["base_checkpoint"] = "tiny-esm"
    config["targets"] = ["query"]
    (copy / ADAPTER_CONFIG).write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="lacks|is \\(|does not have"):
        tfprot.load_model(copy)


# -- options ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"lora_rank": 0}, "lora_rank must be"),
        ({"lora_rank": 4, "lora_alpha": -1}, "lora_alpha must be"),
        ({"lora_rank": 4, "lora_dropout": 1.0}, "lora_dropout must be"),
        ({"lora_rank": 4, "lora_targets": "qeury"}, "Did you mean 'query'"),
        ({"lora_alpha": 16}, "lora_alpha needs lora_rank"),
        ({"lora_rank": 4, "trainable_layers": 1}, "cannot go together"),
        ({"lora_rank": 4, "lora_rnak": 4}, "Did you mean 'lora_rank'"),
    ],
)
def test_bad_options_are_refused_by_name(options, message):
    with pytest.raises(OptionError, match=message):
        tfprot.sequence_classifier("tiny-esm", LABELS, precision="float32", **options)


def test_save_adapters_without_adapters_is_refused(tmp_path):
    model = tfprot.sequence_regressor("tiny-esm", precision="float32", compile=False)
    with pytest.raises(OptionError, match="no LoRA adapters"):
        model.save_adapters(tmp_path / "a")


def test_no_class_is_changed_only_the_models_own_layers():
    """LoRA and recomputation change the classes of this model's layer instances only: Keras'
    Dense and transformers' ESM layer keep their own ``call``, and another model built in the
    same process has none of tfprot's LoRA or recomputing classes."""
    from transformers.models.esm.modeling_tf_esm import TFEsmLayer

    from tfprot._keras import keras

    dense_call, layer_call = keras().layers.Dense.call, TFEsmLayer.call
    model = tfprot.token_classifier(
        "tiny-esm", ["C", "E", "H"], precision="float32", lora_rank=2, recompute=True
    )
    assert keras().layers.Dense.call is dense_call and TFEsmLayer.call is layer_call
    other = build("sequence")
    assert not [layer for layer in other.submodules if isinstance(layer, LoraDense)]
    assert not [
        layer for layer in other.submodules if type(layer).__name__.startswith("Recomputed")
    ]
    assert sum(isinstance(layer, LoraDense) for layer in model.transformer.submodules) == 4
