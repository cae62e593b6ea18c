"""benchmarks.peft's arithmetic: its ratios (doctest) and trainable shares against a hand count.

The benchmark itself runs with ``python -m benchmarks.peft`` (minutes; its numbers are measured
side by side, never asserted here).
"""

from __future__ import annotations

import doctest

import numpy as np

from benchmarks import peft


def test_docstring_examples():
    result = doctest.testmod(peft)
    assert result.attempted > 0 and result.failed == 0


def test_trainable_share_is_adapters_and_head_by_hand():
    """tiny-esm (2 layers, width 64), LoRA r=8 on query and value: per layer 2 × (64·8 + 8·64)
    adapter weights; the head is dense 64×64 + 64 and out_proj 64×2 + 2."""
    import tfprot

    model = tfprot.sequence_classifier(
        "tiny-esm", ["a", "b"], precision="float32", compile=False, lora_rank=8
    )
    adapters = 2 * 2 * (64 * 8 + 8 * 64)
    head = 64 * 64 + 64 + 64 * 2 + 2
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert trainable == adapters + head


def test_table_shows_each_way_beside_full_fine_tuning():
    rows = peft.ratios(
        [
            {
                "size": "s",
                "way": "full",
                "trainable_share": 0.99,
                "peak_rss_mb": 2000.0,
                "step_s": 4.0,
            },
            {
                "size": "s",
                "way": "lora_r8",
                "trainable_share": 0.01,
                "peak_rss_mb": 1000.0,
                "step_s": 3.0,
            },
        ]
    )
    text = peft.table(rows)
    assert "0.50" in text and "0.75" in text and "1.00%" in text
