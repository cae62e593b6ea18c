"""# Regression: GB1 fitness

Predict the fitness of protein G B1-domain variants (Wu et al. 2016, via FLIP) from sequence: a
sequence regressor (mean squared error, Spearman correlation). The data lives in the shared data
folder: the script's first argument, `$TFPROT_SHARED_DATA`, or `../shared/data` beside the
repository.

Run: `python examples/regression.py [SHARED_DATA]` (`TFPROT_EXAMPLES_QUICK=1`: a small subset,
one epoch).
"""

# %%
import numpy as np
import tensorflow as tf
from _settings import QUICK, batching, output_dir, shared_data, subset
from scipy.stats import spearmanr

import tfprot

CHECKPOINT = "tiny-esm"  # real: "esm2_t6_8M" (or "esm2_t12_35M", "esm2_t30_150M"...)
EPOCHS = 1 if QUICK else 3
GB1 = shared_data() / "flip_gb1" / "sampled.csv"  # FLIP split "sampled": random train/test
OUT = output_dir("regression")
tf.keras.utils.set_random_seed(0)

# %% [markdown]
# ## The data: variants with their measured fitness, FLIP's train/test sets (validation carved
# from train by FLIP's `validation` column)

# %%
records = tfprot.read_records(GB1, format="flip")
if QUICK:
    records = subset(records, {"train": 64, "validation": 16, "test": 32})
data = tfprot.ProteinDataset(records, "regression", name="gb1")
print(data)
baseline = data.majority_baseline("test")
print(f"mean predictor on test: MSE {baseline['mse']:.3f} (always {baseline['prediction']:.3f})")

# %% [markdown]
# ## Fine-tune

# %%
model = tfprot.sequence_regressor(CHECKPOINT, data)
model.run_eagerly = QUICK  # quick mode: a few steps run faster without tracing a graph
options = batching(batch_tokens=8192)
train = data.tf_dataset("train", model.tokenizer, **options)
validation = data.tf_dataset("validation", model.tokenizer, **options)
model.fit(train, validation_data=validation, epochs=EPOCHS, verbose=2)

# %% [markdown]
# ## Test: MSE beside the mean predictor, and Spearman's rho (checked with scipy)

# %%
test_records = data.records("test")
predicted = np.array([p.label for p in model.predict_sequences(test_records)])
measured = np.array([float(r.label) for r in test_records])
mse = float(np.mean((predicted - measured) ** 2))
rho = spearmanr(predicted, measured).statistic
print(f"test MSE {mse:.3f} (mean predictor {baseline['mse']:.3f}), Spearman {rho:.3f}")
np.savetxt(
    OUT / "test_predictions.tsv",
    np.c_[measured, predicted],
    delimiter="\t",
    header="measured\tpredicted",
    comments="",
)
