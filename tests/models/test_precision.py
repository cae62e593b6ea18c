"""Precision policies: the same weights under float32, mixed_bfloat16 and mixed_float16 give the
same float32 logits within the precision of the compute type; ``fit`` runs under each policy (with
loss scaling under float16); ``precision='auto'`` decides from the hardware and says why.

Tolerances for the logits (tiny-esm, 2 layers, token_dropout=True, logits of order 1): relative to
the largest float32 logit, the largest difference may be ``16·u`` and the mean ``2·u``, with
``u`` the unit roundoff of the compute type (bfloat16 ``2^-8``: 6.2%/0.8%; float16 ``2^-11``:
0.8%/0.1%). Activations are rounded to ``u`` after every matmul, GELU, softmax and residual sum
(about ten roundings per layer, partly cancelling), so a few ``u`` are expected; measured: see the
test. The weights are drawn with std 0.2 rather than ESM's 0.02 so that attention is sharp and
depends on the rotary positions: with 0.02 it is nearly uniform, and even upstream's wrong
rotary tables pass any tolerance (the test below shows these tolerances catch them).
"""

from __future__ import annotations

import json
import logging
import math

import numpy as np
import pytest
import tensorflow as tf

import tfprot
from tfprot._keras import keras
from tfprot.models import precision
from tfprot.models.esm_layers import SUBCLASSES, use_tfprot_layers
from tfprot.models.precision import (
    CPU_BF16_MIN_HIDDEN_SIZE,
    PrecisionChoice,
    PrecisionError,
    cpu_bf16_features,
    resolve_precision,
)

MASK_ID, CLS_ID, EOS_ID, PAD_ID = 32, 0, 2, 1
UNIT_ROUNDOFF = {"mixed_bfloat16": 2.0**-8, "mixed_float16": 2.0**-11}
LENGTHS = (600, 50)
logger = logging.getLogger(__name__)


# -- the same weights under each policy ------------------------------------------------------


@pytest.fixture(scope="module")
def saved_token_model(tmp_path_factory):
    """A float32 tiny-esm token classifier (token_dropout=True) saved with save_pretrained."""
    keras().utils.set_random_seed(0)  # the same random weights on every run
    model = tfprot.token_classifier(
        "tiny-esm", ["H", "E", "C"], precision="float32", initializer_range=0.2
    )
    assert model.transformer.config.token_dropout
    folder = model.save_pretrained(tmp_path_factory.mktemp("precision") / "tiny")
    return model, folder


def token_inputs(seed: int = 0) -> dict[str, np.ndarray]:
    """Two rows, 600 and 50 residues (the second padded), a tenth of the residues ``<mask>``."""
    rng = np.random.default_rng(seed)
    ids = np.full((len(LENGTHS), max(LENGTHS) + 2), PAD_ID, dtype=np.int32)
    for row, length in enumerate(LENGTHS):
        residues = rng.integers(4, 24, size=length)
        residues[rng.choice(length, size=length // 10, replace=False)] = MASK_ID
        ids[row, : length + 2] = [CLS_ID, *residues, EOS_ID]
    return {"input_ids": ids, "attention_mask": (ids != PAD_ID).astype(np.int32)}


def logit_deltas(mixed: np.ndarray, reference: np.ndarray) -> dict[int, tuple[float, float]]:
    """``{residues: (max |Δ|, mean |Δ|)}`` relative to the largest |reference| logit, per row,
    over the real tokens only."""
    out = {}
    for row, length in enumerate(LENGTHS):
        delta = np.abs(mixed[row, : length + 2] - reference[row, : length + 2])
        scale = np.abs(reference[row, : length + 2]).max()
        out[length] = (delta.max() / scale, delta.mean() / scale)
    return out


@pytest.mark.parametrize("name", ["mixed_bfloat16", "mixed_float16"])
def test_mixed_logits_match_float32_for_the_same_weights(saved_token_model, name):
    model, folder = saved_token_model
    inputs = token_inputs()
    reference = model(inputs).numpy()
    assert reference.dtype == np.float32
    assert (
        0.5 < np.abs(reference).max() < 50
    )  # logits of order 1: relative tolerances mean something

    mixed_model = tfprot.load_model(folder, precision=name)
    assert mixed_model.info["precision"] == name
    assert keras().mixed_precision.global_policy().name == "float32"  # restored after the build
    raw = mixed_model.transformer(**inputs).logits
    assert raw.dtype == tf.as_dtype(name.removeprefix("mixed_"))  # transformers: not float32...
    logits = mixed_model(inputs)
    assert logits.dtype == tf.float32  # ...ProteinModel: float32
    deltas = logit_deltas(logits.numpy(), reference)
    logger.info("%s vs float32, {residues: (max, mean) |Δ| / max |logit|}: %s", name, deltas)
    u = UNIT_ROUNDOFF[name]
    for length, (largest, mean) in deltas.items():
        assert 0 < largest <= 16 * u, f"{name}, {length} residues: max |Δ| {largest:.2e}"
        assert mean <= 2 * u, f"{name}, {length} residues: mean |Δ| {mean:.2e}"

    positions = np.arange(inputs["input_ids"].shape[1]) % 3
    labels = np.where(inputs["attention_mask"] == 1, positions, -100)
    labels[:, 0] = -100
    labels = tf.constant(labels)
    loss = mixed_model.compute_loss(inputs, labels, logits)
    reference_loss = model.compute_loss(inputs, labels, model(inputs))
    assert loss.dtype == tf.float32
    assert math.isclose(float(loss), float(reference_loss), rel_tol=8 * u)


def test_the_tolerance_catches_upstream_rotary_tables(saved_token_model):
    """transformers' own rotary embedding (float16 angles) and encoder layer under
    mixed_float16, the same saved weights loaded by transformers: 600 residues fall outside the
    tolerance that tfprot's layers meet. (tfprot's embeddings are kept: transformers' fail
    outright under a mixed policy, see test_esm_fixes.py.)"""
    from transformers import TFAutoModelForTokenClassification
    from transformers.models.esm.modeling_tf_esm import TFEsmEmbeddings

    model, folder = saved_token_model
    inputs = token_inputs()
    k = keras()
    k.mixed_precision.set_global_policy("mixed_float16")  # reset after the test (conftest)
    upstream = TFAutoModelForTokenClassification.from_pretrained(folder)
    use_tfprot_layers(upstream, {TFEsmEmbeddings: SUBCLASSES[TFEsmEmbeddings]})
    logits = tf.cast(upstream(**inputs).logits, tf.float32).numpy()
    deltas = logit_deltas(logits, model(inputs).numpy())
    logger.info("upstream rotary, mixed_float16 vs float32: %s", deltas)
    u = UNIT_ROUNDOFF["mixed_float16"]
    assert deltas[600][0] > 16 * u and deltas[600][1] > 2 * u


def test_float32_reload_is_exact(saved_token_model):
    model, folder = saved_token_model
    inputs = token_inputs()
    reloaded = tfprot.load_model(folder, precision="float32", compile=False)
    np.testing.assert_array_equal(reloaded(inputs).numpy(), model(inputs).numpy())


# -- fit under each policy -------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("name", ["float32", "mixed_bfloat16", "mixed_float16"])
def test_fit_under_each_policy(cytosol_membrane, name):
    k = keras()
    model = tfprot.sequence_classifier("tiny-esm", cytosol_membrane, precision=name)
    assert k.mixed_precision.global_policy().name == "float32"  # the factory restored it
    assert model.dtype_policy.name == name
    assert (
        model.transformer.esm.encoder.layer[0].compute_dtype
        == k.mixed_precision.Policy(name).compute_dtype
    )
    # tf_keras' compile wraps the optimizer of a model built under mixed_float16 (only).
    scaled = isinstance(model.optimizer, k.mixed_precision.LossScaleOptimizer)
    assert scaled == (name == "mixed_float16")
    before = [w.numpy().copy() for w in model.trainable_weights]

    train = cytosol_membrane.tf_dataset("train", model.tokenizer, batch_tokens=2048).take(3)
    history = model.fit(train, epochs=1, verbose=0)

    losses = history.history["loss"]
    assert len(losses) == 1 and np.isfinite(losses).all()
    assert all(w.dtype == tf.float32 for w in model.trainable_weights)  # float32 master weights
    changed = [
        not np.array_equal(b, w.numpy())
        for b, w in zip(before, model.trainable_weights, strict=True)
    ]
    assert sum(changed) > len(changed) // 2  # the update reached the weights
    if scaled:
        assert float(model.optimizer.loss_scale) > 1  # dynamic loss scale in use


# -- the 'auto' choice -----------------------------------------------------------------------

INTEL_SPR = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu vme sse2 avx2 avx512f avx512_bf16 amx_bf16 amx_tile amx_int8 avx512_fp16
vmx flags\t: vnmi preemption_timer
processor\t: 1
flags\t\t: fpu
"""
AMD_ZEN4 = "processor : 0\nflags : fpu sse2 avx2 avx512f avx512_bf16 avx512_vnni\n"
OLD_XEON = "processor : 0\nflags : fpu sse2 avx2 avx512f avx512_vnni\nvmx flags : amx_bf16\n"


@pytest.mark.parametrize(
    "text, expected",
    [
        (INTEL_SPR, ("amx_bf16", "avx512_bf16")),
        (AMD_ZEN4, ("avx512_bf16",)),
        (OLD_XEON, ()),  # the 'vmx flags' line does not count
        ("", ()),
    ],
)
def test_cpu_bf16_features(text, expected):
    assert cpu_bf16_features(text) == expected


class FakeDevice:
    def __init__(self, kind: str) -> None:
        self.name, self.device_type = f"/device:{kind}:0", kind


@pytest.fixture
def hardware(monkeypatch):
    """Fake the device queries: ``hardware(tpu=..., gpu_capability=..., bf16=...)``."""

    def fake(*, tpu=False, gpu_capability=None, bf16=(), matmul_speedup=2.0):
        monkeypatch.setattr(
            tf.config,
            "list_logical_devices",
            lambda kind=None: [FakeDevice("TPU")] if tpu and kind == "TPU" else [],
        )
        gpus = [FakeDevice("GPU")] if gpu_capability else []
        monkeypatch.setattr(
            tf.config, "list_physical_devices", lambda kind=None: gpus if kind == "GPU" else []
        )
        details = {"device_name": "Tesla T", "compute_capability": gpu_capability}
        monkeypatch.setattr(tf.config.experimental, "get_device_details", lambda device: details)
        monkeypatch.setattr(precision, "cpu_bf16_features", lambda: tuple(bf16))
        monkeypatch.setattr(precision, "cpu_bf16_matmul_speedup", lambda: matmul_speedup)

    return fake


@pytest.mark.parametrize(
    "setup, width, policy, reason",
    [
        ({"tpu": True, "gpu_capability": (8, 0)}, 64, "mixed_bfloat16", "TPU"),
        ({"gpu_capability": (8, 0)}, 320, "mixed_float16", "compute capability 8.0"),
        ({"gpu_capability": (7, 0)}, 64, "mixed_float16", "loss scaling"),
        ({"gpu_capability": (6, 1)}, 320, "float32", "compute capability 6.1, below 7.0"),
        ({"bf16": ()}, 1280, "float32", "without native bfloat16"),
        ({"bf16": ("avx512_bf16",)}, 64, "float32", "64-wide model is too narrow"),
        ({"bf16": ("avx512_bf16",)}, CPU_BF16_MIN_HIDDEN_SIZE - 1, "float32", "too narrow"),
        ({"bf16": ("avx512_bf16",)}, CPU_BF16_MIN_HIDDEN_SIZE, "mixed_bfloat16", "avx512_bf16"),
        ({"bf16": ("amx_bf16", "avx512_bf16")}, 480, "mixed_bfloat16", "amx_bf16/avx512_bf16"),
        # the Intel Xeon whose hypervisor hides AMX: AVX512-BF16 matmuls slower than float32
        (
            {"bf16": ("avx512_bf16",), "matmul_speedup": 0.69},
            320,
            "float32",
            "bfloat16 matmuls run 0.69x float32's on this CPU",
        ),
        ({"bf16": ("avx512_bf16",), "matmul_speedup": 1.93}, 320, "mixed_bfloat16", "1.93x"),
    ],
)
def test_auto_decision(hardware, caplog, setup, width, policy, reason):
    hardware(**setup)
    with caplog.at_level(logging.INFO, logger="tfprot.models.precision"):
        choice = resolve_precision("auto", hidden_size=width)
    assert choice.policy == policy
    assert reason in choice.reason
    logged = [r.getMessage() for r in caplog.records if r.name == "tfprot.models.precision"]
    assert logged == [f"precision='auto' chose {policy}: {choice.reason}."]


def test_auto_choice_reaches_the_model(hardware, monkeypatch):
    hardware(bf16=("avx512_bf16",))
    narrow = tfprot.sequence_classifier("tiny-esm", ["a", "b"], precision="auto", compile=False)
    assert narrow.dtype_policy.name == "float32"
    assert "64-wide model is too narrow" in narrow.info["precision_reason"]
    monkeypatch.setattr(precision, "CPU_BF16_MIN_HIDDEN_SIZE", 64)
    model = tfprot.sequence_classifier("tiny-esm", ["a", "b"], precision="auto", compile=False)
    assert model.dtype_policy.name == "mixed_bfloat16"
    assert model.info["precision"] == "mixed_bfloat16"
    assert "bfloat16 pays from 64 wide" in model.info["precision_reason"]


@pytest.mark.parametrize("bad", ["float16", "bfloat16", "AUTO", ""])
def test_unknown_precision(bad):
    with pytest.raises(PrecisionError, match=f"Unknown precision '{bad}'") as error:
        resolve_precision(bad)
    assert isinstance(error.value, ValueError) and isinstance(error.value, tfprot.TfprotError)
    with pytest.raises(PrecisionError):
        PrecisionChoice(bad, "because")


def test_explicit_precision_is_taken_as_asked(hardware):
    hardware(bf16=("amx_bf16",))
    assert resolve_precision("mixed_float16") == PrecisionChoice(
        "mixed_float16", "asked for explicitly"
    )


def test_the_matmul_probe_times_both_types_on_this_machine():
    record = precision._measure_matmuls()
    assert record["speedup"] > 0
    # the ratio is the two measured rates' ratio, for the probe's shape, on this machine
    assert record["bfloat16_gflops"] / record["float32_gflops"] == pytest.approx(record["speedup"])
    assert record["shape"] == list(precision.PROBE_SHAPE) and record["tensorflow"] == tf.__version__


def test_a_decisive_probe_is_kept_and_a_blurred_one_measured_again(tmp_path, monkeypatch):
    monkeypatch.setenv("TFPROT_CACHE_DIR", str(tmp_path))
    readings = []

    def measure(speedup):
        def fake():
            readings.append(speedup)
            return {"speedup": speedup, "shape": list(precision.PROBE_SHAPE)}

        monkeypatch.setattr(precision, "_measure_matmuls", fake)

    measure(1.05)  # within PROBE_UNDECIDED: used, not kept
    assert precision.cpu_bf16_matmul_speedup() == 1.05
    assert not list(tmp_path.glob("precision/*.json"))
    measure(0.7)
    assert precision.cpu_bf16_matmul_speedup() == 0.7
    (cached,) = (tmp_path / "precision").glob("matmul-*.json")
    assert json.loads(cached.read_text())["speedup"] == 0.7
    measure(3.0)
    assert precision.cpu_bf16_matmul_speedup() == 0.7  # the file decides, not a new timing
    assert readings == [1.05, 0.7]
    assert precision.cpu_bf16_matmul_speedup(refresh=True) == 3.0
    cached.write_text("{not json")  # unreadable: measured again, not a crash
    measure(2.0)
    assert precision.cpu_bf16_matmul_speedup() == 2.0
    assert json.loads(cached.read_text())["speedup"] == 2.0
