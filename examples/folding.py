"""# Folding with ESMFold, and a 3D view

Fold sequences into PDB structures with per-residue confidence (pLDDT), pTM and PAE, through
tfprot's ESMFold bridge (PyTorch: `pip install "tfprot[fold]"`). Offline, the `tiny-esmfold`
preset is ESMFold's architecture at a tiny size with random weights: the files and the viewer are
real, the structures are not. Switch `CHECKPOINT` to `"facebook/esmfold_v1"` (a GPU helps) for
real structures. A complex is written as chains joined by `:`.

Run: `python examples/folding.py` (`TFPROT_EXAMPLES_QUICK=1`: the two shortest sequences).
"""

# %%
import html

from _settings import QUICK, output_dir

import tfprot
from tfprot.fold import fold

CHECKPOINT = "tiny-esmfold"  # real: "facebook/esmfold_v1"
NUM_RECYCLES = 0 if CHECKPOINT == "tiny-esmfold" else None  # None: the model's default (4)
OUT = output_dir("folding")

# %% [markdown]
# ## Sequences: a few real proteins from the bundled data, and a two-chain complex

# %%
data = tfprot.ProteinDataset.example()
proteins = sorted(data.records("test"), key=len)[: 2 if QUICK else 4]
sequences = {record.id: record.sequence for record in proteins}
sequences["complex"] = f"{proteins[0].sequence}:{proteins[1].sequence}"
for name, sequence in sequences.items():
    print(f"{name:<10} {len(sequence.replace(':', '')):>4} residues")

# %% [markdown]
# ## Fold (re-running skips structures already written)

# %%
report = fold(sequences, OUT, model=CHECKPOINT, num_recycles=NUM_RECYCLES, progress=False)
print(f"model {report.model} on {report.device}" + (" (UNTRAINED)" if report.untrained else ""))
for result in report.results:
    print(
        f"{result.id:<10} {result.status:<7} pLDDT {result.mean_plddt:5.1f}  pTM {result.ptm:.3f}"
        f"  -> {result.files['pdb']}"
    )
print(f"summary: {report.summary_path}")

# %% [markdown]
# ## The 3D view (coloured by pLDDT), inline in a notebook; a script prints where it is

# %%
view = report.results[0].files["html"]
try:
    from IPython import get_ipython
    from IPython.display import HTML, display

    in_notebook = get_ipython() is not None
except ImportError:
    in_notebook = False
if in_notebook:
    page = html.escape(view.read_text(encoding="utf-8"))
    display(HTML(f'<iframe srcdoc="{page}" width="100%" height="520" frameborder="0"></iframe>'))
else:
    print(f"open {view} in a browser for the 3D view")
