"""The machine's matmul peak per precision, measured now: FLOP/s of large square matmuls.

MFU (model FLOP utilisation) divides a recipe's useful FLOP/s by the peak of the precision it
computes in. The peaks are measured in the same run as the recipes (a busy machine lowers both),
as the best of several timed 2048×2048 matmuls in TensorFlow (float32 and bfloat16, oneDNN) and
PyTorch (float32, for recipe B); the float32 peak is the faster of the two frameworks.

Run alone: ``python -m benchmarks.peak``
"""

from __future__ import annotations

import json
import time

SIDE = 2048


def _best(run, repeats: int) -> float:
    run()  # warm up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best


def tensorflow_peak(dtype: str, repeats: int = 4, chain: int = 3) -> float:
    import tfprot  # noqa: F401, I001  (first: Keras 2 before TensorFlow)
    import tensorflow as tf

    a = tf.cast(tf.random.stateless_normal((SIDE, SIDE), seed=(0, 1)), dtype)
    # distinct right-hand sides: identical products would be computed once (common
    # subexpression elimination)
    bs = [
        tf.cast(tf.random.stateless_normal((SIDE, SIDE), seed=(1, i)), dtype) for i in range(chain)
    ]

    @tf.function
    def products():
        return [tf.matmul(a, b) for b in bs]

    seconds = _best(lambda: [p.numpy() for p in products()], repeats)
    return chain * 2 * SIDE**3 / seconds


def torch_peak(repeats: int = 4, chain: int = 3) -> float:
    import torch

    a, b = torch.randn(SIDE, SIDE), torch.randn(SIDE, SIDE)

    def run():
        with torch.inference_mode():
            for _ in range(chain):
                torch.mm(a, b)

    return chain * 2 * SIDE**3 / _best(run, repeats)


def machine() -> dict:
    """The CPU's model name, core count and native bfloat16 features; the Python version."""
    import os
    import platform
    from pathlib import Path

    from tfprot.models.precision import cpu_bf16_features

    model = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "bf16_features": list(cpu_bf16_features()),
        "python": platform.python_version(),
    }


def measure() -> dict:
    tf32, tfbf16, torch32 = tensorflow_peak("float32"), tensorflow_peak("bfloat16"), torch_peak()
    return {
        "machine": machine(),
        "float32": max(tf32, torch32),
        "bfloat16": tfbf16,
        "detail": {
            "tensorflow_float32": tf32,
            "tensorflow_bfloat16": tfbf16,
            "torch_float32": torch32,
            "matmul": f"{SIDE}x{SIDE}",
        },
    }


if __name__ == "__main__":
    print(json.dumps(measure()))
