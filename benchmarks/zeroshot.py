"""Zero-shot variant scoring: tfprot's plan and TensorFlow against PyTorch, side by side.

All 8,733 FLIP GB1 variants (up to four mutations at four positions of a 265-residue wild type)
are scored by masked marginals with a random-weight ``EsmForMaskedLM`` at the ``esm2_t6_8M`` size
(no pretrained weights are reachable here; the work per pass does not depend on the weights):

- ``tfprot``: ``tfprot.score_variants(..., "masked-marginal")``: one pass per distinct mutated
  position (4), float32 and ``precision="auto"``;
- ``pytorch-fair-esm``: fair-esm's ``examples/variant-prediction/predict.py`` plan for
  ``masked-marginals``: one pass per residue of the wild type (265), one sequence per pass, under
  ``torch.no_grad``, then a table lookup per variant;
- ``pytorch-same-plan``: PyTorch with tfprot's plan (the 4 passes in one batch): the framework
  alone.

Pseudo-likelihoods (L masked passes per distinct sequence) are timed the same way for a few
variants: tfprot against PyTorch batching the same passes. Scores are checked to agree (float32:
≤ 1e-3) before any time is printed. tfprot's first call (tracing) and PyTorch's same-plan first
call are not timed; the median of ``--repeats`` runs is (the slow runs: one).

Run: ``python -m benchmarks.zeroshot [--repeats 3] [--pll-variants 2]``
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("TFPROT_SHARED_DATA", ROOT.parent / "shared" / "data"))
CACHE = Path(os.environ.get("TFPROT_BENCH_CACHE", ROOT / "benchmarks" / ".cache"))


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def gb1() -> tuple[str, list[str]]:
    """The wild type (fitness 1.0) and every variant in ProteinGym's notation."""
    with open(DATA / "flip_gb1" / "sampled.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    wildtype = next(row["sequence"] for row in rows if float(row["target"]) == 1.0)
    mutants = []
    for row in rows:
        pairs = enumerate(zip(wildtype, row["sequence"], strict=True))
        mutants.append(":".join(f"{w}{i + 1}{m}" for i, (w, m) in pairs if w != m) or "WT")
    return wildtype, mutants


def masked_lm_folder(seed: int = 0) -> Path:
    """A random ``EsmForMaskedLM`` at the esm2_t6_8M size, PyTorch safetensors only (as the Hub
    ships ESM-2), with the ESM-2 tokenizer; written once."""
    folder = CACHE / f"esm2_t6_8M-masked-lm-random-{seed}"
    if (folder / "model.safetensors").is_file():
        return folder
    import torch
    from transformers import EsmConfig, EsmForMaskedLM, EsmTokenizer

    from tfprot.data.tokenizer import esm2_vocab_file

    torch.manual_seed(seed)
    config = EsmConfig(
        vocab_size=33,
        pad_token_id=1,
        mask_token_id=32,
        hidden_size=320,
        num_hidden_layers=6,
        num_attention_heads=20,
        intermediate_size=1280,
        position_embedding_type="rotary",
        max_position_embeddings=1026,
        emb_layer_norm_before=False,
        token_dropout=True,
        layer_norm_eps=1e-5,
    )
    EsmForMaskedLM(config).eval().save_pretrained(folder)
    EsmTokenizer(vocab_file=str(esm2_vocab_file())).save_pretrained(folder)
    return folder


def timed(function, repeats: int, *, warm: bool = True) -> tuple[float, object]:
    """Median seconds of ``repeats`` calls; ``warm``: one untimed call first (tracing, caches)."""
    result = function() if warm else None
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        seconds.append(time.perf_counter() - start)
    return float(np.median(seconds)), result


def parse(mutant: str) -> list[tuple[int, str, str]]:
    return [] if mutant == "WT" else [(int(p[1:-1]) - 1, p[0], p[-1]) for p in mutant.split(":")]


def torch_fair_esm(model, tokenizer, wildtype, mutants):
    """fair-esm's masked-marginals: every residue masked in turn, one pass each."""
    import torch

    ids = tokenizer(wildtype, return_tensors="pt")["input_ids"]
    rows = []
    with torch.no_grad():
        for i in range(len(wildtype)):
            masked = ids.clone()
            masked[0, i + 1] = tokenizer.mask_token_id
            rows.append(torch.log_softmax(model(input_ids=masked).logits[0, i + 1], dim=-1))
    table = torch.stack(rows).numpy()
    token = tokenizer.convert_tokens_to_ids
    return np.array(
        [sum(table[i, token(m)] - table[i, token(w)] for i, w, m in parse(v)) for v in mutants]
    )


def torch_same_plan(model, tokenizer, wildtype, mutants):
    """tfprot's plan in PyTorch: one pass per distinct mutated position, in one batch."""
    import torch

    positions = sorted({i for v in mutants for i, _, _ in parse(v)})
    ids = tokenizer(wildtype, return_tensors="pt")["input_ids"].repeat(len(positions), 1)
    for row, i in enumerate(positions):
        ids[row, i + 1] = tokenizer.mask_token_id
    with torch.no_grad():
        logits = model(input_ids=ids).logits
    table = dict(zip(positions, torch.log_softmax(logits, dim=-1).numpy(), strict=True))
    token = tokenizer.convert_tokens_to_ids
    return np.array(
        [
            sum(table[i][i + 1, token(m)] - table[i][i + 1, token(w)] for i, w, m in parse(v))
            for v in mutants
        ]
    )


def torch_pll(model, tokenizer, wildtype, mutants, batch: int = 64):
    """PLL(variant) − PLL(wild type), the same masked passes batched ``batch`` at a time."""
    import torch

    def pll(sequence):
        ids = tokenizer(sequence, return_tensors="pt")["input_ids"]
        total = 0.0
        with torch.no_grad():
            for start in range(0, len(sequence), batch):
                rows = torch.arange(start, min(start + batch, len(sequence)))
                masked = ids.repeat(len(rows), 1)
                truth = masked[torch.arange(len(rows)), rows + 1].clone()
                masked[torch.arange(len(rows)), rows + 1] = tokenizer.mask_token_id
                logp = torch.log_softmax(model(input_ids=masked).logits, dim=-1)
                total += float(logp[torch.arange(len(rows)), rows + 1, truth].sum())
        return total

    reference = pll(wildtype)
    sequences = []
    for v in mutants:
        residues = list(wildtype)
        for i, _, m in parse(v):
            residues[i] = m
        sequences.append("".join(residues))
    return np.array([pll(s) - reference for s in sequences])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--pll-variants", type=int, default=2)
    args = parser.parse_args(argv)

    import torch
    from transformers import EsmForMaskedLM, EsmTokenizer

    import tfprot
    from tfprot.zeroshot import load_masked_lm

    wildtype, mutants = gb1()
    folder = masked_lm_folder()
    reference = EsmForMaskedLM.from_pretrained(folder).eval()
    tokenizer = EsmTokenizer.from_pretrained(folder)
    threads = torch.get_num_threads()
    rows = []

    model32 = load_masked_lm(folder, precision="float32")
    auto = load_masked_lm(folder, precision="auto")
    tf32, ours = timed(lambda: tfprot.score_variants(model32, wildtype, mutants), args.repeats)
    tf_auto, ours_auto = timed(lambda: tfprot.score_variants(auto, wildtype, mutants), args.repeats)
    # PyTorch traces nothing, and the same-plan run below has warmed its caches.
    fair, theirs = timed(
        lambda: torch_fair_esm(reference, tokenizer, wildtype, mutants), 1, warm=False
    )
    same, same_scores = timed(
        lambda: torch_same_plan(reference, tokenizer, wildtype, mutants), args.repeats
    )
    for name, scores in (("pytorch-fair-esm", theirs), ("pytorch-same-plan", same_scores)):
        error = float(np.abs(ours.scores - scores).max())
        assert error <= 1e-3, f"{name} disagrees with tfprot by {error}"
    rows += [
        ("masked-marginal", "tfprot float32", tf32, ours.passes),
        (
            "masked-marginal",
            f"tfprot auto ({auto.transformer.compute_dtype})",
            tf_auto,
            ours_auto.passes,
        ),
        ("masked-marginal", "pytorch-fair-esm (one pass per residue)", fair, len(wildtype)),
        ("masked-marginal", "pytorch-same-plan", same, ours.passes),
    ]
    few = mutants[1 : 1 + args.pll_variants]
    # tfprot's forward pass is traced once for every batch shape (traced above).
    tf_pll, pll = timed(
        lambda: tfprot.score_variants(model32, wildtype, few, "pseudo-likelihood"), 1, warm=False
    )
    torch_time, torch_scores = timed(
        lambda: torch_pll(reference, tokenizer, wildtype, few), 1, warm=False
    )
    error = float(np.abs(pll.scores - torch_scores).max())
    assert error <= 1e-3, f"pseudo-likelihoods disagree by {error}"
    rows += [
        ("pseudo-likelihood", "tfprot float32", tf_pll, pll.passes),
        ("pseudo-likelihood", "pytorch batched (64 passes/batch)", torch_time, pll.passes),
    ]

    print(f"CPU: {cpu_model()}, {os.cpu_count()} cores visible, torch threads {threads}")
    print(f"GB1: {len(mutants)} variants, wild type {len(wildtype)} residues; esm2_t6_8M size")
    base = {"masked-marginal": tf32, "pseudo-likelihood": tf_pll}
    print(f"{'method':<18} {'run':<44} {'seconds':>9} {'passes':>7} {'x tfprot f32':>13}")
    for method, name, seconds, passes in rows:
        ratio = seconds / base[method]
        print(f"{method:<18} {name:<44} {seconds:>9.3f} {passes:>7} {ratio:>13.2f}")


if __name__ == "__main__":
    main()
