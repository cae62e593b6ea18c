"""tfprot's CPU ops (attention here; GELU, layer norm and QKV heads in test_esm_fast.py) against
float64 numpy, TensorFlow's kernels and transformers' layer; their build, its failures, switches.

The tests marked ``cpu_ops`` (here and in test_esm_fast.py) also run against the library built
for each lower x86-64 target this CPU runs (test_cpu_ops_variants.py). Where the library is not
available they are skipped, or fail under ``TFPROT_REQUIRE_CPU_OPS=1`` (CI).
"""

from __future__ import annotations

import logging
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf
from cpu_targets import expected_code_path

import tfprot
from tfprot.errors import CpuOpsError, TfprotError
from tfprot.models import cpu_ops, cpu_ops_build


@pytest.fixture
def ops():
    """The library's status; a skip where it is unavailable (an error under
    ``TFPROT_REQUIRE_CPU_OPS=1``: :func:`cpu_ops.status` raises)."""
    found = cpu_ops.status()
    if not found.available:
        pytest.skip(f"tfprot's CPU ops unavailable: {found.reason}")
    return found


@pytest.fixture
def fresh(monkeypatch, tmp_path):
    """A process state where the library was never loaded, and an empty cache."""
    monkeypatch.setattr(cpu_ops, "_LOADED", {})
    monkeypatch.setenv("TFPROT_CACHE_DIR", str(tmp_path / "cache"))
    for name in (cpu_ops.ENV_SWITCH, cpu_ops.ENV_SWITCH_ALIAS, cpu_ops.REQUIRE_ENV, "CXX"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv(cpu_ops_build.MARCH_ENV, raising=False)
    return tmp_path


def numpy_attention(query, key, value, mask, d_out):
    """softmax(q·kᵀ + mask)·v and its gradient, by hand in float64."""
    q, k, v, m, g = (np.asarray(x, np.float64) for x in (query, key, value, mask, d_out))
    scores = q @ np.swapaxes(k, -1, -2) + m
    scores -= scores.max(-1, keepdims=True)
    p = np.exp(scores)
    p /= p.sum(-1, keepdims=True)
    out = p @ v
    d_p = g @ np.swapaxes(v, -1, -2)
    d_s = p * (d_p - (d_p * p).sum(-1, keepdims=True))
    return out, d_s @ k, np.swapaxes(d_s, -1, -2) @ q, np.swapaxes(p, -1, -2) @ g


def inputs(batch, heads, queries, keys, depth, seed=0):
    rng = np.random.default_rng(seed)
    query = rng.normal(size=(batch, heads, queries, depth)) * 0.5
    key = rng.normal(size=(batch, heads, keys, depth)) * 0.5
    value = rng.normal(size=(batch, heads, keys, depth))
    lengths = rng.integers(1, keys + 1, size=batch)
    lengths[0] = keys
    mask = np.where(np.arange(keys) < lengths[:, None], 0.0, -1e4)[:, None, None, :]
    d_out = rng.normal(size=(batch, heads, queries, depth))
    return query, key, value, mask, d_out


def fused_with_gradient(query, key, value, mask, d_out, dtype):
    q, k, v, g = (tf.constant(x, dtype) for x in (query, key, value, d_out))
    with tf.GradientTape() as tape:
        tape.watch([q, k, v])
        out = cpu_ops.fused(q, k, v, tf.constant(mask, dtype))
    grads = tape.gradient(out, [q, k, v], output_gradients=g)
    return [tf.cast(x, tf.float64).numpy() for x in (out, *grads)]


@pytest.mark.cpu_ops
@pytest.mark.parametrize(
    ("batch", "heads", "queries", "keys", "depth"),
    [
        (2, 3, 37, 37, 16),  # ESM-2 8M's head size; 37 = 4 blocks of 8 rows + 5 single rows
        (3, 2, 40, 40, 24),  # ESM-2 35M's; keys padded to 48
        (1, 2, 33, 33, 32),
        (2, 1, 17, 17, 64),
        (2, 2, 1, 21, 16),  # the first token only (a classifier's last layer)
        (1, 1, 5, 1, 16),  # a single key
        (2, 2, 9, 9, 8),  # depth padded to 16
        (1, 2, 11, 19, 80),  # beyond the vectorised depths: the portable loops
    ],
)
def test_float32_forward_and_gradients_equal_float64_numpy(ops, batch, heads, queries, keys, depth):
    data = inputs(batch, heads, queries, keys, depth)
    got = fused_with_gradient(*data, tf.float32)
    want = numpy_attention(*data)
    for name, g, w in zip(("output", "d_query", "d_key", "d_value"), got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=2e-5, err_msg=name)


@pytest.mark.cpu_ops
@pytest.mark.parametrize(
    ("batch", "heads", "queries", "keys", "depth"),
    [
        (2, 4, 50, 50, 16),
        (2, 2, 37, 37, 24),  # 32 + 5 query rows; keys padded to 48 (64 on AMX)
        (1, 2, 1, 21, 16),
        (1, 1, 5, 1, 16),
        (2, 2, 9, 9, 8),
        (1, 2, 20, 20, 40),  # depth padded to 48 (64 on AMX)
        (1, 2, 33, 33, 64),
        (1, 1, 11, 19, 80),  # portable loops
    ],
)
def test_bfloat16_is_as_accurate_as_tensorflows_bfloat16_kernels(
    ops, batch, heads, queries, keys, depth
):
    """bfloat16 in and out (on AMX the forward's products are bfloat16 tile products with float32
    sums, the probabilities rounded to bfloat16 as TensorFlow's matmul takes them): errors against
    float64 no larger than those of TensorFlow's kernels on the same bfloat16 inputs."""
    data = inputs(batch, heads, queries, keys, depth, seed=1)
    rounded = [tf.cast(tf.cast(x, tf.bfloat16), tf.float64).numpy() for x in data]
    want = numpy_attention(*rounded)
    got = fused_with_gradient(*rounded, tf.bfloat16)
    q, k, v, mask, g = (tf.constant(x, tf.bfloat16) for x in rounded)
    with tf.GradientTape() as tape:
        tape.watch([q, k, v])
        with cpu_ops.disabled():
            out = cpu_ops.attention(q, k, v, mask)
    grads = tape.gradient(out, [q, k, v], output_gradients=g)
    tensorflow = [tf.cast(x, tf.float64).numpy() for x in (out, *grads)]
    for name, g, t, w in zip(
        ("output", "d_query", "d_key", "d_value"), got, tensorflow, want, strict=True
    ):
        scale = np.abs(w).max()
        assert np.abs(g - w).max() <= max(np.abs(t - w).max(), 2**-8 * scale), name


@pytest.mark.cpu_ops
def test_padded_keys_get_no_weight_and_no_gradient(ops):
    query, key, value, mask, d_out = inputs(1, 2, 6, 20, 16)
    mask[:, :, :, 12:] = -1e4
    out, _, d_key, d_value = fused_with_gradient(query, key, value, mask, d_out, tf.float32)
    key[:, :, 12:], value[:, :, 12:] = 100.0, -100.0  # what padding holds does not matter
    moved, *_ = fused_with_gradient(query, key, value, mask, d_out, tf.float32)
    np.testing.assert_allclose(moved, out, atol=1e-6)
    assert np.abs(d_key[:, :, 12:]).max() < 1e-6 and np.abs(d_value[:, :, 12:]).max() < 1e-6


def tensorflow_attention_with_gradient(query, key, value, mask, d_out):
    q, k, v, g = (tf.constant(x, tf.float32) for x in (query, key, value, d_out))
    with cpu_ops.disabled(), tf.GradientTape() as tape:
        tape.watch([q, k, v])
        out = cpu_ops.attention(q, k, v, tf.constant(mask, tf.float32))
    grads = tape.gradient(out, [q, k, v], output_gradients=g)
    return [tf.cast(x, tf.float64).numpy() for x in (out, *grads)]


def test_tensorflows_attention_and_its_gradient_equal_float64_numpy():
    data = inputs(2, 3, 37, 37, 24)
    got = tensorflow_attention_with_gradient(*data)
    want = numpy_attention(*data)
    for name, g, w in zip(("output", "d_query", "d_key", "d_value"), got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=2e-5, err_msg=name)


def test_tensorflows_attention_keeps_no_probabilities_for_the_gradient():
    """The gradient recomputes the probabilities (the forward pass's feed its product with the
    values only), after the incoming gradient (a control input, so that Grappler cannot merge
    the two softmaxes back into one kept tensor)."""
    q = k = v = tf.zeros([1, 2, 8, 16])
    mask = tf.zeros([1, 1, 1, 8])

    @tf.function
    def step(q, k, v):
        with cpu_ops.disabled(), tf.GradientTape() as tape:
            tape.watch([q, k, v])
            out = cpu_ops.attention(q, k, v, mask)
        return tape.gradient(out, [q, k, v], output_gradients=tf.ones_like(out))

    graph = step.get_concrete_function(q, k, v).graph
    softmaxes = [op for op in graph.get_operations() if op.type == "Softmax"]
    forward = [op for op in softmaxes if "attention_gradient" not in op.name]
    again = [op for op in softmaxes if "attention_gradient" in op.name]
    assert len(forward) == 1 and len(again) == 1
    assert [op.type for op in forward[0].outputs[0].consumers()] == ["BatchMatMulV2"]
    scores = again[0].inputs[0].op  # q·kᵀ + mask, recomputed after the gradient arrives
    product = scores.inputs[0].op
    assert product.type == "BatchMatMulV2" and product.control_inputs


@pytest.mark.cpu_ops
def test_the_op_is_in_the_graph_only_where_it_can_run(ops):
    q = k = v = tf.zeros([1, 2, 8, 16])
    mask = tf.zeros([1, 1, 1, 8])

    def op_types(function):
        graph = function.get_concrete_function(q, k, v, mask).graph
        return {op.type for op in graph.get_operations()}

    # used on code paths where the op beats TensorFlow's kernels at this size (not avx2, portable)
    pays = cpu_ops.HEAD_SIZE_LIMITS[ops.code_path].limit(tf.float32, training=True) >= 16
    assert ("TfprotAttention" in op_types(tf.function(cpu_ops.attention))) == pays
    assert "TfprotAttention" not in op_types(tf.function(cpu_ops.attention, jit_compile=True))
    with cpu_ops.disabled():
        assert "TfprotAttention" not in op_types(tf.function(cpu_ops.attention))
    # a mask of another shape (per query): TensorFlow's kernels
    per_query = tf.zeros([1, 1, 8, 8])
    graph = tf.function(cpu_ops.attention).get_concrete_function(q, k, v, per_query).graph
    assert "TfprotAttention" not in {op.type for op in graph.get_operations()}


@pytest.mark.cpu_ops
def test_the_code_path_is_the_one_the_target_and_this_cpu_call_for(ops):
    """What the library reports (its compiler macros) against what the CPU's flags and the
    target's level say (tests/models/cpu_targets.py)."""
    target = os.environ.get(cpu_ops_build.MARCH_ENV) or "native"
    assert ops.target == target
    assert ops.code_path == expected_code_path(target)
    assert ops.code_path in ops.reason and f"-march={target}" in ops.reason


@pytest.mark.cpu_ops
def test_the_op_is_used_for_the_head_sizes_where_it_is_faster_on_its_code_path(ops):
    def uses_op(depth, training, dtype):
        q = k = v = tf.zeros([1, 2, 8, depth], dtype)
        function = tf.function(
            lambda q, k, v: cpu_ops.attention(
                q, k, v, tf.zeros([1, 1, 1, 8], dtype), training=training
            )
        )
        graph = function.get_concrete_function(q, k, v).graph
        return "TfprotAttention" in {op.type for op in graph.get_operations()}

    limits = cpu_ops.HEAD_SIZE_LIMITS[ops.code_path]
    for dtype in (tf.float32, tf.bfloat16):
        for training in (True, False):
            limit = limits.limit(dtype, training)
            for depth in (8, 16, 24, 32, 64, 80):
                assert uses_op(depth, training, dtype) == (depth <= limit), (dtype, training, depth)


def test_head_size_limits_hold_the_measured_readings():
    """The table as measured (benchmarks/attention_cpu.py; its docstring): bfloat16 training up
    to head size 64 on the AVX-512 paths (tile products on AMX; TensorFlow's bfloat16 matmuls
    are slow without them), float32 training up to 16 with AMX (against oneDNN's AMX matmuls)
    and 32 without; on AVX2 (the blocked code on 8-lane registers against Eigen's kernels)
    float32 training up to 32, the rest up to 64; never on the portable loops, which
    TensorFlow's kernels beat."""
    limits = cpu_ops.HEAD_SIZE_LIMITS
    assert set(limits) == set(cpu_ops.CODE_PATHS)
    assert limits["amx-bf16"] == cpu_ops.HeadSizeLimits(16, 64, 64, 64)
    assert limits["avx512"] == cpu_ops.HeadSizeLimits(32, 64, 64, 64)
    assert limits["avx2"] == cpu_ops.HeadSizeLimits(32, 64, 64, 64)
    assert limits["portable"] == cpu_ops.HeadSizeLimits(0, 0, 0, 0)


def test_the_switch_and_its_old_name_turn_it_off(monkeypatch):
    monkeypatch.delenv(cpu_ops.ENV_SWITCH, raising=False)
    monkeypatch.delenv(cpu_ops.ENV_SWITCH_ALIAS, raising=False)
    enabled = cpu_ops.is_enabled()
    for name in (cpu_ops.ENV_SWITCH, cpu_ops.ENV_SWITCH_ALIAS):
        monkeypatch.setenv(name, "0")
        assert not cpu_ops.is_enabled()
        found = cpu_ops.status()
        assert not found.available and found.reason == f"turned off by {name}=0"
        monkeypatch.delenv(name)
    assert cpu_ops.is_enabled() == enabled


def fake_compiler(folder, version="fake-g++ 1.0", error_lines=9):
    """A compiler that answers ``--version`` and ``-dM -E`` like g++ (an x86-64 target) and fails
    every compilation with ``error_lines`` lines of errors; logs each compilation's arguments."""
    script = folder / "fake-g++"
    errors = "\n".join(f"kernel.cc:{i}:1: error: broken line {i}" for i in range(error_lines))
    script.write_text(
        "#!/bin/sh\n"
        f'case "$*" in *--version*) echo "{version}"; exit 0;; '
        '*-dM*) echo "#define __x86_64__ 1"; exit 0;; esac\n'
        f'echo "$*" >> "{folder}/compilations"\n'
        f"printf '%s\\n' '{errors}' >&2\n"
        "exit 1\n"
    )
    script.chmod(0o755)
    return script


def compilations(folder) -> int:
    log = folder / "compilations"
    return len(log.read_text().splitlines()) if log.exists() else 0


def warnings_of(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def test_no_compiler_gives_tensorflows_kernels_and_one_log_line(fresh, monkeypatch, caplog):
    monkeypatch.setenv("CXX", str(fresh / "no-such-compiler"))
    with caplog.at_level(logging.INFO, logger="tfprot"):
        found = cpu_ops.status()
        cpu_ops.status()
    assert not found.available and "no C++ compiler" in found.reason
    [line] = warnings_of(caplog)
    assert "no C++ compiler" in line and "TensorFlow's kernels" in line and "\n" not in line
    with pytest.raises(CpuOpsError, match="no C[+][+] compiler") as raised:
        cpu_ops.custom_ops()
    assert isinstance(raised.value, TfprotError) and isinstance(raised.value, RuntimeError)
    # the same function through TensorFlow's kernels
    q, k, v, mask, _ = (tf.constant(x, tf.float32) for x in inputs(1, 2, 5, 5, 16))
    want = numpy_attention(q, k, v, mask, np.zeros(q.shape))[0]
    np.testing.assert_allclose(cpu_ops.attention(q, k, v, mask), want, rtol=1e-5, atol=1e-6)


def test_a_failed_build_is_one_line_and_remembered_until_its_key_changes(
    fresh, monkeypatch, caplog
):
    """Issue 22, point 10: a failed build costs no compiler time on the next run and logs one
    line (the compiler's nine lines of errors go into a log file that the line names)."""
    monkeypatch.setenv("CXX", str(fake_compiler(fresh)))
    with caplog.at_level(logging.INFO, logger="tfprot"):
        first = cpu_ops._load()
    assert not first.available and compilations(fresh) >= 1
    announced, line = warnings_of(caplog)  # the first build says it starts, then how it ended
    assert announced.startswith("Building tfprot's CPU ops for this CPU")
    assert "error: broken line 0" in line and "\n" not in line and "broken line 8" not in line
    [log] = (fresh / "cache").rglob(cpu_ops_build.FAILED_LOG)
    assert str(log) in line
    assert all(f"broken line {i}" in log.read_text() for i in range(9))
    assert not list((fresh / "cache").rglob("*.so"))

    before = compilations(fresh)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="tfprot"):
        again = cpu_ops._load()
    assert compilations(fresh) == before  # not retried
    [line] = warnings_of(caplog)
    assert "earlier build" in line and str(log) in line and "error: broken line 0" in line
    assert not again.available

    monkeypatch.setenv("CXX", str(fake_compiler(fresh, version="fake-g++ 2.0")))
    cpu_ops._load()
    assert compilations(fresh) > before  # another compiler: another key, built again
    before = compilations(fresh)
    monkeypatch.setenv(cpu_ops_build.MARCH_ENV, "x86-64")
    cpu_ops._load()
    assert compilations(fresh) > before  # other flags too
    log.unlink()
    before = compilations(fresh)
    monkeypatch.setenv("CXX", str(fake_compiler(fresh)))
    monkeypatch.delenv(cpu_ops_build.MARCH_ENV)
    cpu_ops._load()
    assert compilations(fresh) > before  # the log deleted: retried


def test_require_mode_makes_an_unavailable_library_an_error(fresh, monkeypatch):
    monkeypatch.setenv("CXX", str(fresh / "no-such-compiler"))
    monkeypatch.setenv(cpu_ops.REQUIRE_ENV, "1")
    with pytest.raises(CpuOpsError, match="TFPROT_REQUIRE_CPU_OPS=1.*no C[+][+] compiler"):
        cpu_ops.status()
    with pytest.raises(CpuOpsError):
        cpu_ops.is_enabled()
    monkeypatch.setenv(cpu_ops.ENV_SWITCH, "0")  # turned off on purpose: not an error
    assert not cpu_ops.status().available


def test_an_unwritable_cache_folder_says_so(fresh, monkeypatch):
    blocked = fresh / "a-file"
    blocked.write_text("not a folder")
    monkeypatch.setenv("TFPROT_CACHE_DIR", str(blocked))
    found = cpu_ops._load()
    assert not found.available and "TFPROT_CACHE_DIR" in found.reason


def test_targets_are_refused_by_name_or_before_a_build_this_cpu_could_not_run(fresh, monkeypatch):
    compiler = fake_compiler(fresh)
    monkeypatch.setenv("CXX", str(compiler))
    monkeypatch.setenv(cpu_ops_build.MARCH_ENV, "x86-64 -O0")
    found = cpu_ops._load()
    assert (
        not found.available and "TFPROT_CPU_OPS_MARCH='x86-64 -O0' is not a target" in found.reason
    )
    monkeypatch.setenv("CXX", "g++")
    monkeypatch.setenv(cpu_ops_build.MARCH_ENV, "no-such-cpu")
    found = cpu_ops._load()
    assert not found.available and "refuses -march=no-such-cpu" in found.reason
    # an AVX2-only CPU asked for x86-64-v4: refused before compiling (its library would stop
    # the process with an illegal instruction)
    flags = "fpu sse2 ssse3 sse4_1 sse4_2 popcnt avx avx2 fma bmi1 bmi2 f16c movbe abm"
    haswell = f"model name\t: Haswell\nflags\t\t: {flags}\n"
    monkeypatch.setattr(cpu_ops_build, "_cpuinfo", lambda: haswell)
    monkeypatch.setenv(cpu_ops_build.MARCH_ENV, "x86-64-v4")
    found = cpu_ops._load()
    assert not found.available
    assert "needs avx512bw, avx512cd, avx512dq, avx512f, avx512vl, which this CPU" in found.reason
    assert not (fresh / "cache").exists()


def test_targets_are_described_by_their_x86_64_level():
    def macros(target):
        return cpu_ops_build.target_macros("g++", target)

    if not shutil.which("g++"):
        pytest.skip("no g++")
    assert cpu_ops_build.describe_target(macros("x86-64")) == "x86-64"
    assert cpu_ops_build.describe_target(macros("x86-64-v2")) == "x86-64-v2"
    assert cpu_ops_build.describe_target(macros("x86-64-v3")) == "x86-64-v3"
    assert cpu_ops_build.describe_target(macros("x86-64-v4")) == "x86-64-v4"
    assert cpu_ops_build.describe_target(macros("sapphirerapids")) == "x86-64-v4 + AMX-BF16"
    assert cpu_ops_build.describe_target(macros("haswell")) == "x86-64-v3"


def dense(value) -> np.ndarray:
    return tf.convert_to_tensor(value).numpy()  # embedding gradients are IndexedSlices


@pytest.mark.cpu_ops
def test_a_classifier_trains_the_same_with_and_without_the_ops(ops):
    """The ESM layer's fused path (esm_fast) with the ops against TensorFlow's kernels, float32:
    same logits and gradients, and the ops are in the training function's graph (attention
    where it pays on this code path)."""
    model = tfprot.sequence_classifier("tiny-esm", ["a", "b"], precision="float32")
    rows = [model.tokenizer.encode(s) for s in ("MKTAYIAKQRQISFVKSHFSRQ", "GGSWLLK")]
    ids = np.full((2, 24), model.tokenizer.pad_id, np.int32)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = row
    batch = {
        "input_ids": tf.constant(ids),
        "attention_mask": tf.constant((ids != model.tokenizer.pad_id).astype(np.int32)),
    }

    def logits_and_gradients():
        with tf.GradientTape() as tape:
            logits = model(batch, training=True)
            loss = tf.reduce_sum(logits * [[1.0, -2.0]])
        return [logits, *tape.gradient(loss, model.trainable_variables)]

    fused = logits_and_gradients()
    with cpu_ops.disabled():
        reference = logits_and_gradients()
    for got, want in zip(fused, reference, strict=True):
        np.testing.assert_allclose(dense(got), dense(want), rtol=1e-4, atol=1e-5)
    graph = tf.function(model.__call__).get_concrete_function(batch, training=True).graph
    types = {op.type for op in graph.get_operations()}
    assert {"TfprotLayerNorm", "TfprotGelu", "TfprotHeads"} <= types
    pays = cpu_ops.HEAD_SIZE_LIMITS[ops.code_path].limit(tf.float32, training=True) >= 16
    assert ("TfprotAttention" in types) == pays
