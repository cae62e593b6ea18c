"""# Per-residue secondary structure (3 states: helix H, strand E, coil C)

Fine-tune a per-residue classifier on FLIP's secondary-structure task (Dallago et al. 2021; data
from NetSurfP-2.0, Klausen et al. 2019). Residues FLIP marks unresolved (`mask.fasta`) do not
count. The data lives in the shared data folder: the script's first argument,
`$TFPROT_SHARED_DATA`, or `../shared/data` beside the repository.

Run: `python examples/secondary_structure.py [SHARED_DATA]` (`TFPROT_EXAMPLES_QUICK=1`: a small
subset, one epoch).
"""

# %%
import tensorflow as tf
from _settings import QUICK, batching, output_dir, shared_data, subset

import tfprot

CHECKPOINT = "tiny-esm"  # real: "esm2_t6_8M" (or "esm2_t12_35M", "esm2_t30_150M"...)
EPOCHS = 1 if QUICK else 3
MAX_LENGTH = 512  # tokens; longer chains are truncated for training (cut residues do not count)
FLIP = shared_data() / "flip_secondary_structure"
OUT = output_dir("secondary_structure")
tf.keras.utils.set_random_seed(0)

# %% [markdown]
# ## The data: FLIP's `sampled` split (train, validation and test sets carried in the file)

# %%
records = tfprot.read_flip(FLIP, split="sampled")
if QUICK:
    records = subset(records, {"train": 64, "validation": 16, "test": 32}, max_residues=200)
data = tfprot.ProteinDataset(records, "token", name="flip_secondary_structure")
print(data)
baseline = data.majority_baseline("test")
print(f"baseline: every residue {baseline['prediction']!r}, Q3 {baseline['accuracy']:.3f}")

# %% [markdown]
# ## Fine-tune a token classifier
# Masked cross-entropy: special tokens, padding and unresolved residues do not count.

# %%
model = tfprot.token_classifier(CHECKPOINT, data)
model.run_eagerly = QUICK  # quick mode: a few steps run faster without tracing a graph
options = batching(batch_tokens=8192, max_length=MAX_LENGTH)
train = data.tf_dataset("train", model.tokenizer, **options)
validation = data.tf_dataset("validation", model.tokenizer, **options)
model.fit(train, validation_data=validation, epochs=EPOCHS, verbose=2)

# %% [markdown]
# ## Per-residue accuracy (Q3) on the test set, beside the baseline

# %%
test = data.tf_dataset("test", model.tokenizer, **options)
scores = model.evaluate(test, return_dict=True, verbose=0)
print(
    f"test Q3 {scores['accuracy']:.3f} (baseline {baseline['accuracy']:.3f}), "
    f"macro-F1 {scores['macro_f1']:.3f}"
)

# %% [markdown]
# ## Predict one chain: one label per residue

# %%
record = data.records("test")[0]
prediction = model.predict_sequences([record])[0]
print(f"{record.id}  ({len(record)} residues)")
print("sequence ", record.sequence[:60])
print("true     ", record.residue_labels[:60])
print("predicted", prediction.label[:60])
(OUT / f"{record.id}.ss3.txt").write_text(f"{record.sequence}\n{prediction.label}\n")
