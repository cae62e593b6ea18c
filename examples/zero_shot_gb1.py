"""# Zero-shot variant effects: GB1 fitness from the masked-LM head, no training

Score the protein G B1-domain variants of Wu et al. 2016 (via FLIP: up to four mutations at
positions 39, 40, 41 and 54 of the 265-residue construct) with ESM-2's masked-language-model head
alone, and compare the scores with the measured fitness (Spearman's rho), as ProteinGym's
zero-shot baselines do. The data lives in the shared data folder: the script's first argument,
`$TFPROT_SHARED_DATA`, or `../shared/data` beside the repository.

**With `tiny-esm` (offline, random weights) the scores mean nothing and rho is near 0**: this
example then shows the mechanics only. Set `CHECKPOINT` to a real ESM-2 checkpoint (e.g.
`"esm2_t33_650M"`, downloaded from the Hugging Face Hub) for scores worth reading.

Run: `python examples/zero_shot_gb1.py [SHARED_DATA]` (`TFPROT_EXAMPLES_QUICK=1`: fewer variants
for the slow pseudo-likelihood).
"""

# %%
import csv

import numpy as np
from _settings import QUICK, output_dir, shared_data
from scipy.stats import spearmanr

import tfprot
from tfprot.zeroshot import load_masked_lm

CHECKPOINT = "tiny-esm"  # real: "esm2_t33_650M" (or "esm2_t30_150M", "esm2_t6_8M"...)
PLL_VARIANTS = 4 if QUICK else 100  # pseudo-likelihood: 265 forward passes per variant
OUT = output_dir("zero_shot_gb1")

# %% [markdown]
# ## The variants in the field's notation
#
# Fitness in Wu et al. is relative to the wild type (fitness 1.0), so the wild type is the one
# sequence measured at exactly 1.0. Each variant becomes ProteinGym's notation (`V39D:G41F`,
# 1-based positions), and the table is written as a ProteinGym DMS file (`mutant`,
# `mutated_sequence`, `DMS_score`), which `tfprot score` reads as it is.

# %%
with open(shared_data() / "flip_gb1" / "sampled.csv", newline="") as handle:
    rows = list(csv.DictReader(handle))
wildtype = next(row["sequence"] for row in rows if float(row["target"]) == 1.0)


def notation(sequence: str) -> str:
    pairs = enumerate(zip(wildtype, sequence, strict=True))
    changes = [f"{w}{i + 1}{m}" for i, (w, m) in pairs if w != m]
    return ":".join(changes) or "WT"


variants = [(notation(row["sequence"]), row["sequence"], float(row["target"])) for row in rows]
mutants = [mutant for mutant, _, _ in variants]
fitness = np.array([score for _, _, score in variants])
positions = sorted({int(part[1:-1]) for m in mutants if m != "WT" for part in m.split(":")})
print(f"{len(variants)} variants of a {len(wildtype)}-residue wild type, mutated at {positions}")
(OUT / "gb1_wildtype.fasta").write_text(f">GB1_wildtype\n{wildtype}\n")
with open(OUT / "gb1_dms.csv", "w", newline="") as handle:
    writer = csv.writer(handle)
    writer.writerow(["mutant", "mutated_sequence", "DMS_score"])
    writer.writerows(variants)

# %% [markdown]
# ## Masked marginals and wild-type marginals: every variant, a handful of forward passes
#
# A masked marginal needs one pass per distinct mutated position (four here), however many
# variants share it; a wild-type marginal needs one pass. The model is loaded once and reused.

# %%
model = load_masked_lm(CHECKPOINT)
if not model.pretrained:
    print(f"NOTE: {CHECKPOINT} is untrained (random weights): expect Spearman rho near 0.")
results = {}
for method in ("masked-marginal", "wt-marginal"):
    scores = tfprot.score_variants(model, wildtype, mutants, method)
    results[method] = scores.scores
    rho = scores.spearman(fitness)
    print(f"{method}: Spearman {rho:.4f} over {len(scores)} variants ({scores.passes} passes)")

# %% [markdown]
# ## Pseudo-likelihood on a few variants (265 masked passes each)

# %%
few = mutants[:PLL_VARIANTS]
pll = tfprot.score_variants(model, wildtype, few, "pseudo-likelihood")
print(f"pseudo-likelihood: {len(pll)} variants, {pll.passes} passes")
for mutant, score in zip(few, pll.scores, strict=True):
    print(f"  {mutant:<20s} PLL difference {score:+.3f}")

# %% [markdown]
# ## The scores beside the measurements, and the wild type's contact map

# %%
with open(OUT / "gb1_scores.tsv", "w", newline="") as handle:
    writer = csv.writer(handle, delimiter="\t")
    writer.writerow(["mutant", "fitness", "masked_marginal", "wt_marginal"])
    for k, mutant in enumerate(mutants):
        writer.writerow(
            [mutant, fitness[k], results["masked-marginal"][k], results["wt-marginal"][k]]
        )
contact_map = tfprot.contacts(model, [wildtype])[0]
np.save(OUT / "gb1_wildtype.contacts.npy", contact_map.probabilities)
print(f"contact map {contact_map.probabilities.shape} -> {OUT / 'gb1_wildtype.contacts.npy'}")
check = spearmanr(results["masked-marginal"], fitness).statistic
print(f"checked with scipy: masked-marginal Spearman {check:.4f}")
print(
    "The same from the command line: tfprot score --checkpoint "
    f"{CHECKPOINT} --wildtype {OUT / 'gb1_wildtype.fasta'} --mutations {OUT / 'gb1_dms.csv'} "
    f"--out {OUT / 'scores.csv'}"
)
