"""# Building a data set from UniProt: cytosol vs membrane

Download reviewed human proteins with their subcellular-location comments from the UniProt REST
API, label them cytosol or membrane (proteins annotated as both are dropped, and counted), and
save a table that `tfprot train` and `ProteinDataset.from_path` read. Downloads are cached
(`$TFPROT_CACHE`, default `~/.cache/tfprot/uniprot`), so a rerun works offline.

The server comes from `$TFPROT_UNIPROT_URL` (a mirror, or the tests' local server), else
`https://rest.uniprot.org`: the same rule as the client.

Run: `python examples/uniprot_dataset.py`.
"""

# %%
import csv

from _settings import QUICK, output_dir

import tfprot
from tfprot import uniprot
from tfprot.uniprot.request import base_url

CHECKPOINT = "tiny-esm"  # real: "esm2_t6_8M" (its tokenizer is the same ESM-2 vocabulary)
QUERY = "organism_id:9606 AND reviewed:true AND length:[80 TO 500]"
OUT = output_dir("uniprot_dataset")
print(f"UniProt server: {base_url()}" + (" (quick mode)" if QUICK else ""))

# %% [markdown]
# ## Download (paginated, retried, every page checked and counted) and label

# %%
labeler = uniprot.CytosolMembrane()
result = uniprot.fetch(QUERY, labeler.fields, progress=False)
print(f"{result.count} entries, release {result.release}, from cache: {result.from_cache}")
labelled = labeler.label(result)
print(labelled.summary)

# %% [markdown]
# ## A data set: seeded, stratified 80/10/10 split

# %%
data = labelled.dataset(name="uniprot_cytosol_membrane")
print(data)
for split in ("train", "validation", "test"):
    print(f"{split:<10} {data.summary()[split]['targets']}")

# %% [markdown]
# ## Save it as a table (`id,sequence,label,set`) and read it back

# %%
table = OUT / "cytosol_membrane.csv"
with table.open("w", newline="") as handle:
    writer = csv.writer(handle)
    writer.writerow(["id", "sequence", "label", "set"])
    for split in ("train", "validation", "test"):
        for record in data.records(split):
            writer.writerow([record.id, record.sequence, record.label, split])
again = tfprot.ProteinDataset.from_path(table, "classification")
print(f"wrote {table}: {again}")

# %% [markdown]
# ## Ready for the model: token lengths with the checkpoint's tokenizer
# Next step: `model = tfprot.sequence_classifier(CHECKPOINT, data)`, as in `classification.py`.

# %%
tokenizer = tfprot.ProteinTokenizer.from_pretrained(CHECKPOINT)
lengths = data.encode("train", tokenizer).lengths
print(f"train: {len(lengths)} sequences, {int(sum(lengths))} tokens, longest {int(max(lengths))}")
