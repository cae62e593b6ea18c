"""# Sequence classification: cytosol or membrane?

Fine-tune a protein language model to tell cytoplasmic from plasma-membrane proteins, on the
MultiLoc sequences bundled with tfprot (Höglund et al. 2006). Offline with the `tiny-esm` preset
(the ESM-2 architecture at a tiny size, random weights); switch `CHECKPOINT` to a real ESM-2 for
real accuracy (it downloads once from the Hugging Face Hub).

Run: `python examples/classification.py` (`TFPROT_EXAMPLES_QUICK=1`: a small subset, one epoch).
"""

# %%
import dataclasses

import tensorflow as tf
from _settings import QUICK, batching, output_dir, subset

import tfprot

CHECKPOINT = "tiny-esm"  # real: "esm2_t6_8M" (or "esm2_t12_35M", "esm2_t30_150M"...)
EPOCHS = 1 if QUICK else 6
MAX_LENGTH = 256  # tokens per sequence: the N-terminal signal and anchor regions
OUT = output_dir("classification")
tf.keras.utils.set_random_seed(0)

# %% [markdown]
# ## The data
# Cytoplasmic vs plasma-membrane proteins, split 80/10/10 (stratified, seeded). The quick mode
# keeps a few dozen short sequences of each split, evenly spaced through it.

# %%
data = tfprot.ProteinDataset.example(seed=0)
if QUICK:
    records = [
        dataclasses.replace(r, split=split)
        for split in ("train", "validation", "test")
        for r in data.records(split)
    ]
    small = subset(records, {"train": 96, "validation": 24, "test": 48}, 200)
    data = tfprot.ProteinDataset(small, "classification", name="cytosol_membrane_quick")
print(data)
baseline = data.majority_baseline("test")
print(f"majority baseline on test: always {baseline['prediction']!r}, {baseline['accuracy']:.1%}")

# %% [markdown]
# ## Fine-tune
# Length-bucketed batches under a token budget; AdamW with warm-up and decay (tfprot's default).

# %%
model = tfprot.sequence_classifier(CHECKPOINT, data)
model.run_eagerly = QUICK  # quick mode: a few steps run faster without tracing a graph
options = batching(batch_tokens=4096, max_length=MAX_LENGTH)
train = data.tf_dataset("train", model.tokenizer, **options)
validation = data.tf_dataset("validation", model.tokenizer, **options)
history = model.fit(train, validation_data=validation, epochs=EPOCHS, verbose=2)

# %% [markdown]
# ## Evaluate on the test split, beside the baseline

# %%
test = data.tf_dataset("test", model.tokenizer, **options)
scores = model.evaluate(test, return_dict=True, verbose=0)
print(
    f"test accuracy {scores['accuracy']:.3f} (majority baseline {baseline['accuracy']:.3f}), "
    f"macro-F1 {scores['macro_f1']:.3f}, MCC {scores['mcc']:.3f}"
)

# %% [markdown]
# ## Predict, save, reload

# %%
test_records = [  # two of each class
    record
    for name in data.label_encoder.classes
    for record in [r for r in data.records("test") if r.label == name][:2]
]
for record, prediction in zip(test_records, model.predict_sequences(test_records), strict=True):
    print(
        f"{record.id:<12} true {record.label:<16} predicted {prediction.label:<16} "
        f"p={prediction.probabilities[prediction.label]:.2f}"
    )
saved = model.save_pretrained(OUT / "model")
reloaded = tfprot.load_model(saved)
print(
    f"saved to {saved}; reloaded predicts {reloaded.predict_sequences(test_records[:1])[0].label}"
)
