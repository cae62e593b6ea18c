"""The benchmarks' arithmetic: parameter and FLOP counts, padding, medians, ratios, the table.

The benchmarks themselves run with ``make bench`` (minutes, and their numbers are ratios measured
side by side, never asserted here); these tests check that what they report is computed right,
each against an independent reference: the PyTorch model's own parameters, hand counts.
"""

from __future__ import annotations

import doctest

import numpy as np
import pytest

from benchmarks import common
from benchmarks.__main__ import ratios, table
from benchmarks.common import SIZES, Subset, median, pad_fraction_of, training_row
from benchmarks.profile_step import _area


def test_docstring_examples():
    result = doctest.testmod(common)
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize("size", sorted(SIZES))
def test_non_embedding_parameters_match_the_pytorch_model(size):
    from transformers import EsmConfig, EsmModel

    shape = SIZES[size]
    config = EsmConfig(
        vocab_size=33,
        hidden_size=shape.hidden,
        num_hidden_layers=shape.layers,
        num_attention_heads=shape.heads,
        intermediate_size=shape.ffn,
        position_embedding_type="rotary",
        pad_token_id=1,
    )
    model = EsmModel(config, add_pooling_layer=False)
    counted = sum(
        parameter.numel()
        for name, parameter in model.named_parameters()
        if not name.startswith(("embeddings.", "contact_head."))
    )
    assert shape.non_embedding_parameters == counted


def test_training_flops_by_hand():
    # 8M: N = 6 · (4·320² + 2·320·1280 + 9·320 + 1280) + 2·320 = 7,398,400 (checked above);
    # forward per token 2·N + 4·6·300·320 = 17,100,800; training 3× that.
    assert SIZES["esm2_t6_8M"].non_embedding_parameters == 7_398_400
    forward = common.train_flops_per_token(SIZES["esm2_t6_8M"], context=300, training=False)
    assert forward == 17_100_800
    assert common.train_flops_per_token(SIZES["esm2_t6_8M"], context=300) == 3 * 17_100_800


def test_training_row_rates_and_mfu():
    subset = Subset(("A" * 98, "C" * 198), (0, 1))  # 100 + 200 tokens with <cls> and <eos>
    size = SIZES["esm2_t6_8M"]
    row = training_row("x", size, subset, [3.0, 1.0, 2.0], 0.25, peak_flops=1e9)
    assert row.real_tokens_per_s == pytest.approx(300 / 2.0)  # the median epoch: 2 s
    assert row.seq_per_s == pytest.approx(1.0)
    useful = 6 * size.non_embedding_parameters * 300 + 12 * 6 * 320 * (100**2 + 200**2)
    assert row.mfu == pytest.approx(useful / 2.0 / 1e9)
    assert row.peak_rss_mb > 0 and row.detail["real_tokens"] == 300


def test_median_and_pad_fraction():
    assert median([5.0]) == 5.0 and median([4.0, 1.0, 2.0, 3.0]) == 2.5
    batches = [
        ({"attention_mask": np.array([[1, 1, 1, 0], [1, 1, 1, 1]])}, np.array([0, 1])),
        {"attention_mask": np.array([[1, 0]])},
    ]
    assert pad_fraction_of(batches) == pytest.approx(2 / 10)


def _row(name, size, tokens_per_s, **detail):
    return {
        "name": name,
        "size": size,
        "seq_per_s": tokens_per_s / 300,
        "real_tokens_per_s": tokens_per_s,
        "pad_fraction": None,
        "peak_rss_mb": 1000.0,
        "mfu": None,
        "detail": detail,
    }


def test_ratios_pair_rows_of_the_same_size():
    rows = [
        _row("recipe_a_hf_tf", "s", 100.0),
        _row("recipe_b_hf_pytorch", "s", 200.0),
        _row("tfprot", "s", 300.0),
        _row("recipe_a_hf_tf", "m", 10.0),
        _row("tfprot", "m", 25.0),
        _row("embed_pytorch_reference", "s", 40.0),
        _row("embed_tfprot", "s", 60.0),
        _row("fold_bare", "f", 1.0, seconds_per_sequence=2.0),
        _row("fold_tfprot", "f", 1.0, seconds_per_sequence=2.1),
    ]
    got = ratios(rows)
    assert got["train_vs_recipe_a"] == {"s": 3.0, "m": 2.5}
    assert got["train_vs_recipe_b"] == {"s": 1.5}  # no recipe B row at size m
    assert got["embed_vs_pytorch"] == {"s": 1.5}
    assert got["fold_overhead"] == pytest.approx(0.05)
    assert ratios(rows[:3])["fold_overhead"] is None


def test_table_has_a_line_per_row_with_padding_and_mfu_in_percent():
    row = _row("tfprot", "esm2_t6_8M", 3419.4, precision="mixed_bfloat16")
    row.update(pad_fraction=0.036, mfu=0.467)
    lines = table([row, _row("fold_bare", "tiny", 1.0, device="cpu")]).splitlines()
    assert len(lines) == 4 and lines[0].startswith("| measurement")
    cells = [cell.strip() for cell in lines[2].split("|")[1:-1]]
    expected = ["tfprot", "esm2_t6_8M", "11.40", "3419", "3.6%", "1000", "46.7%", "mixed_bfloat16"]
    assert cells == expected
    assert lines[3].rstrip("| ").endswith("cpu")


@pytest.mark.parametrize(
    "op, area",
    [
        ("layer_N/attention/qkv/MatMul (_MklMatMul)", "dense matmuls (QKV, output, FFN)"),
        ("layer_N/attention/MatMul_1 (_MklBatchMatMulV2)", "attention matmuls"),
        # Eigen's kernels, where TensorFlow leaves oneDNN off (AVX2-only CPUs)
        ("layer_N/MatMul_2/MatMul_1 (MatMul)", "dense matmuls (QKV, output, FFN)"),
        ("layer_N/BiasAdd_2 (_FusedMatMul)", "dense matmuls (QKV, output, FFN)"),
        ("layer_N/MatMul_1 (BatchMatMulV2)", "attention matmuls"),
        ("layer_N/attention_gradient (Mul)", "attention softmax"),
        ("layer_N/LayerNorm/batchnorm/mul (Mul)", "layer norms"),
        ("layer_N/gelu_gradient/Erfc (Erfc)", "GELU"),
        ("layer_N/add (AddV2)", "other element-wise"),
        ("AdamW/update/mul (Mul)", "optimizer"),
        ("classifier/dense/MatMul (_MklMatMul)", "embeddings, head"),
    ],
)
def test_profile_areas(op, area):
    assert _area(op).startswith(area)


def test_layer_step_speedup_is_a_ratio_of_two_timings():
    from benchmarks.precision_cpu import layer_step_speedup

    assert 0.05 < layer_step_speedup(64, repeats=2) < 20
