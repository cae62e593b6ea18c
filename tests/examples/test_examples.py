"""Every example runs, as a script and as a notebook, and produces real, checked outputs.

Both run in quick mode (``TFPROT_EXAMPLES_QUICK=1``: a small real subset, one epoch), offline:
the UniProt example talks to the tests' real HTTP server on 127.0.0.1. Each example's outputs are
checked against an independent reference (Biopython reading the data files and the PDBs, numpy
and scipy recomputing metrics from written predictions), identically for script and notebook.
"""

from __future__ import annotations

import csv
import functools
import gzip
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
sys.path.insert(0, str(EXAMPLES))
sys.path.insert(0, str(REPO / "tests" / "uniprot"))
sys.path.insert(0, str(REPO / "tests" / "data"))

import make_notebooks  # noqa: E402
from planted import align  # noqa: E402
from uniprot_server import UniProtServer, multiloc_entries  # noqa: E402

NOTEBOOKED = [name.removesuffix(".py") for name in make_notebooks.SCRIPTS]
UNIPROT_PER_CLASS = 40
KERNEL = "tfprot-examples"


# -- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def uniprot_entries(shared_data):
    return multiloc_entries(shared_data, UNIPROT_PER_CLASS)


@pytest.fixture
def example_env(monkeypatch, tmp_path, shared_data, uniprot_entries):
    """Quick mode, the shared data, a local UniProt server, a kernel spec that runs this very
    interpreter; yields (tmp_path, server). Script and notebook get their own output folders."""
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    kernels = tmp_path / "jupyter" / "kernels" / KERNEL
    kernels.mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "tfprot examples",
        "language": "python",
    }
    (kernels / "kernel.json").write_text(json.dumps(spec))
    with UniProtServer([dict(e) for e in uniprot_entries]) as server:
        for name, value in {
            "TFPROT_EXAMPLES_QUICK": "1",
            "TFPROT_SHARED_DATA": str(shared_data),
            "TFPROT_UNIPROT_URL": server.url,
            "JUPYTER_PATH": str(tmp_path / "jupyter"),
            "TF_CPP_MIN_LOG_LEVEL": "2",
        }.items():
            monkeypatch.setenv(name, value)
        yield tmp_path, server


def start_script(name: str, tmp_path: Path) -> subprocess.Popen:
    """Start ``examples/NAME.py`` as a user would, outputs and cache in ``tmp_path/script``."""
    env = {
        **os.environ,
        "TFPROT_EXAMPLES_OUT": str(tmp_path / "script" / "out"),
        "TFPROT_CACHE": str(tmp_path / "script" / "cache"),
    }
    return subprocess.Popen(
        [sys.executable, str(EXAMPLES / f"{name}.py")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env=env,
    )


def finish_script(process: subprocess.Popen) -> str:
    try:
        stdout, stderr = process.communicate(timeout=600)
    finally:
        process.kill()
    assert process.returncode == 0, stderr[-3000:]
    return stdout


def run_notebook(name: str, tmp_path: Path, monkeypatch) -> tuple[str, list[dict]]:
    """Execute the notebook top to bottom in a fresh kernel (outputs and cache in
    ``tmp_path/notebook``); its printed text and rich outputs."""
    import nbformat
    from jupyter_client.kernelspec import KernelSpecManager
    from nbclient import NotebookClient

    assert KernelSpecManager().get_kernel_spec(KERNEL).argv[0] == sys.executable
    monkeypatch.setenv("TFPROT_EXAMPLES_OUT", str(tmp_path / "notebook" / "out"))
    monkeypatch.setenv("TFPROT_CACHE", str(tmp_path / "notebook" / "cache"))
    notebook = nbformat.read(EXAMPLES / f"{name}.ipynb", as_version=4)
    client = NotebookClient(
        notebook,
        timeout=600,
        kernel_name=KERNEL,
        resources={"metadata": {"path": str(EXAMPLES)}},
    )
    client.execute()
    text, rich = [], []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if output["output_type"] == "stream" and output["name"] == "stdout":
                text.append(output["text"])
            elif output["output_type"] in ("display_data", "execute_result"):
                rich.append(dict(output["data"]))
    return "".join(text), rich


# -- independent references -----------------------------------------------------------------


def read_fasta(path: Path) -> dict[str, str]:
    from Bio import SeqIO

    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as handle:
        return {record.id: str(record.seq) for record in SeqIO.parse(handle, "fasta")}


def bundled() -> dict[str, dict[str, str]]:
    folder = REPO / "tfprot" / "data" / "bundled" / "cytosol_membrane"
    return {
        name: read_fasta(folder / f"{name}.fasta.gz") for name in ("cytoplasmic", "plasma_membrane")
    }


def number(pattern: str, text: str) -> float:
    found = re.search(pattern, text)
    assert found, f"{pattern!r} not in output:\n{text[-2000:]}"
    return float(found.group(1))


# -- what each example must have produced ---------------------------------------------------


def check_classification(out: Path, text: str, shared_data: Path, server, rich) -> None:
    accuracy = number(r"test accuracy (\d\.\d+) \(majority baseline", text)
    baseline = number(r"majority baseline (\d\.\d+)\)", text)
    assert 0 <= accuracy <= 1 and 0.5 <= baseline <= 1
    classes = bundled()
    predictions = re.findall(r"^(\S+)\s+true (\S+)\s+predicted (\S+)\s+p=(\S+)$", text, re.M)
    assert len(predictions) == 4
    for identifier, true, predicted, probability in predictions:
        assert identifier in classes[true]  # the label printed is the one in the data file
        assert predicted in classes and 0.5 <= float(probability) <= 1
    config = json.loads((out / "classification" / "model" / "config.json").read_text())
    assert sorted(config["id2label"].values()) == sorted(classes)
    assert {true for _, true, _, _ in predictions} == set(classes)  # two of each class
    # the reloaded model predicts what the trained one did for the first sequence
    assert re.search(rf"reloaded predicts {predictions[0][2]}$", text, re.M)


def check_secondary_structure(out: Path, text: str, shared_data: Path, server, rich) -> None:
    q3 = number(r"test Q3 (\d\.\d+)", text)
    assert 0 <= q3 <= 1
    flip = shared_data / "flip_secondary_structure"
    identifier = re.search(r"^(\S+)\s+\((\d+) residues\)$", text, re.M).group(1)
    sequence = read_fasta(flip / "sequences.fasta")[identifier]
    labels = read_fasta(flip / "sampled.fasta")[identifier]
    assert re.search(rf"^true\s+{labels[:60]}$", text, re.M)
    written_sequence, predicted = (
        (out / "secondary_structure" / f"{identifier}.ss3.txt").read_text().split()
    )
    assert written_sequence == sequence
    assert len(predicted) == len(sequence) and set(predicted) <= set("CEH")


def check_regression(out: Path, text: str, shared_data: Path, server, rich) -> None:
    from scipy.stats import spearmanr

    table = np.loadtxt(out / "regression" / "test_predictions.tsv", skiprows=1, ndmin=2)
    measured, predicted = table[:, 0], table[:, 1]
    with open(shared_data / "flip_gb1" / "sampled.csv") as handle:
        test_targets = {
            float(row["target"]) for row in csv.DictReader(handle) if row["set"] == "test"
        }
    assert len(measured) > 10 and all(
        any(abs(value - t) < 1e-9 for t in test_targets) for value in measured[:10]
    )
    mse = number(r"test MSE (\d+\.\d+)", text)
    rho = number(r"Spearman (-?\d\.\d+)", text)
    assert mse == pytest.approx(np.mean((predicted - measured) ** 2), abs=2e-3)
    assert rho == pytest.approx(spearmanr(predicted, measured).statistic, abs=2e-3)


def check_folding(out: Path, text: str, shared_data: Path, server, rich) -> None:
    from Bio.PDB import PDBParser
    from Bio.SeqUtils import seq1

    sequences = {k: v for both in bundled().values() for k, v in both.items()}
    rows = re.findall(r"^(\S+)\s+folded\s+pLDDT\s+(\S+)\s+pTM (\S+)\s+-> (\S+)$", text, re.M)
    assert len(rows) == 3 and rows[-1][0] == "complex"
    chains_seen = {}
    for identifier, plddt, ptm, pdb in rows:
        structure = PDBParser(QUIET=True).get_structure(identifier, pdb)
        chains = {
            chain.id: "".join(seq1(residue.get_resname()) for residue in chain)
            for chain in structure[0]
        }
        bfactors = [atom.get_bfactor() for atom in structure.get_atoms()]
        assert all(0 <= b <= 100 for b in bfactors) and 0 <= float(ptm) <= 1
        if identifier == "complex":
            assert list(chains.values()) == list(chains_seen.values())[:2]
        else:
            assert chains == {"A": sequences[identifier]}
            chains_seen[identifier] = sequences[identifier]
            per_residue = [residue["CA"].get_bfactor() for residue in structure[0]["A"]]
            assert float(plddt) == pytest.approx(np.mean(per_residue), abs=0.1)
    if rich is None:  # script
        assert re.search(r"open \S+\.html in a browser", text)
    else:
        views = [data["text/html"] for data in rich if "text/html" in data]
        assert len(views) == 1 and "<iframe srcdoc=" in views[0] and "3Dmol" in views[0]


def check_uniprot_dataset(out: Path, text: str, shared_data: Path, server, rich) -> None:
    assert f"UniProt server: {server.url}" in text
    assert server.requests and all(r.path == "/uniprotkb/search" for r in server.requests)
    expected = {
        e["accession"]: (e["sequence"], {"cytoplasmic": "cytosolic"}.get(e["_class"], "membrane"))
        for e in server.entries
    }
    with open(out / "uniprot_dataset" / "cytosol_membrane.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert {r["id"]: (r["sequence"], r["label"]) for r in rows} == expected
    assert {r["set"] for r in rows} == {"train", "validation", "test"}
    assert f"kept {len(expected)} of {len(expected)} rows" in text


def check_homology_split(out: Path, text: str, shared_data: Path, server, rich) -> None:
    """The printed table is results.json; the random split leaks, the homology split does not;
    the published split file lists MultiLoc's proteins, and no test protein in it has a training
    protein above 30% identity over 80% of both for Biopython's pairwise alignment."""
    results = json.loads((out / "homology_split" / "results.json").read_text())
    pattern = r"^(random|homology)\s+(\d+)\s+([\d.]+)%\s+([\d.]+)%\s+([\d.]+)%\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)$"
    rows = re.findall(pattern, text, re.M)
    assert [row[0] for row in rows] == ["random", "homology"], text[-2000:]
    for name, test, *above, accuracy, macro_f1, majority in rows:
        row = results[name]
        assert int(test) == row["test_records"]
        for printed, key in zip(above, ("30%", "50%", "90%"), strict=True):
            assert float(printed) == pytest.approx(100 * row["leakage_above"][key], abs=0.06)
        assert float(accuracy) == pytest.approx(row["test_accuracy"], abs=6e-4)
        assert float(macro_f1) == pytest.approx(row["macro_f1"], abs=6e-4)
        assert float(majority) == pytest.approx(row["majority_baseline"], abs=6e-4)
    assert results["random"]["leakage_above"]["30%"] > 0
    assert results["homology"]["leakage_above"]["30%"] == 0
    sequences = {}
    for path in sorted((shared_data / "multiloc").glob("*.fasta")):
        sequences.update(read_fasta(path))
    with open(out / "homology_split" / "homology_split.csv", newline="") as handle:
        split = {row["id"]: row["set"] for row in csv.DictReader(handle)}
    assert set(split) <= set(sequences) and set(split.values()) <= {
        "train",
        "validation",
        "test",
        "removed",
    }
    train = tuple(i for i, name in split.items() if name == "train")
    test = tuple(i for i, name in split.items() if name == "test")
    assert_no_relative_across(test, train, tuple(sequences[i] for i in test + train))


@functools.cache
def assert_no_relative_across(test: tuple, train: tuple, sequences: tuple) -> None:
    """No test protein has a training protein above 30% identity over 80% of both (Biopython).
    Cached: the script and the notebook publish the same split (same seed), aligned once."""
    sequence_of = dict(zip(test + train, sequences, strict=True))
    for identifier in test:
        for other in train:
            found = align(sequence_of[identifier], sequence_of[other])
            assert found.identity <= 0.32 or min(found.coverage) < 0.8, (identifier, other)


def check_zero_shot_gb1(out: Path, text: str, shared_data: Path, server, rich) -> None:
    """The variants written in the field's notation are FLIP's sequences (rebuilt here from the
    wild type by hand), and the printed Spearman rho is scipy's over the written scores."""
    from scipy.stats import spearmanr

    folder = out / "zero_shot_gb1"
    with open(shared_data / "flip_gb1" / "sampled.csv") as handle:
        flip = [(row["sequence"], float(row["target"])) for row in csv.DictReader(handle)]
    with open(folder / "gb1_dms.csv") as handle:
        dms = list(csv.DictReader(handle))
    assert [(row["mutated_sequence"], float(row["DMS_score"])) for row in dms] == flip
    wildtype = read_fasta(folder / "gb1_wildtype.fasta")["GB1_wildtype"]
    for row in dms[:200]:
        sequence = list(wildtype)
        for change in [] if row["mutant"] == "WT" else row["mutant"].split(":"):
            assert wildtype[int(change[1:-1]) - 1] == change[0]
            sequence[int(change[1:-1]) - 1] = change[-1]
        assert "".join(sequence) == row["mutated_sequence"]
    with open(folder / "gb1_scores.tsv") as handle:
        scores = list(csv.DictReader(handle, delimiter="\t"))
    assert [row["mutant"] for row in scores] == [row["mutant"] for row in dms]
    fitness = [float(row["fitness"]) for row in scores]
    for method, column in (("masked-marginal", "masked_marginal"), ("wt-marginal", "wt_marginal")):
        expected = spearmanr([float(row[column]) for row in scores], fitness).statistic
        assert number(rf"{method}: Spearman (-?\d\.\d+) over 8733 variants", text) == (
            pytest.approx(expected, abs=1e-4)
        )
    assert "(4 passes)" in text and "untrained" in text  # one pass per mutated position
    contact_map = np.load(folder / "gb1_wildtype.contacts.npy")
    assert contact_map.shape == (len(wildtype), len(wildtype))
    assert np.allclose(contact_map, contact_map.T, atol=1e-6)


CHECKS = {
    "classification": check_classification,
    "secondary_structure": check_secondary_structure,
    "regression": check_regression,
    "folding": check_folding,
    "uniprot_dataset": check_uniprot_dataset,
    "homology_split": check_homology_split,
    "zero_shot_gb1": check_zero_shot_gb1,
}


# -- the tests ------------------------------------------------------------------------------


def test_every_notebook_has_a_check():
    assert sorted(CHECKS) == sorted(NOTEBOOKED)


def test_notebooks_are_generated_from_their_scripts_with_outputs_cleared():
    import nbformat

    assert make_notebooks.main(["--check"]) == 0
    for name in NOTEBOOKED:
        notebook = nbformat.read(EXAMPLES / f"{name}.ipynb", as_version=4)
        nbformat.validate(notebook)
        code = [cell for cell in notebook.cells if cell.cell_type == "code"]
        assert code and all(not c.outputs and c.execution_count is None for c in code)
        assert any('CHECKPOINT = "tiny-' in c.source and "# real:" in c.source for c in code)


@pytest.mark.slow
@pytest.mark.parametrize("name", NOTEBOOKED)
def test_example_script_and_notebook(name, example_env, shared_data, monkeypatch, request):
    """The script (in a subprocess) and the notebook (in a kernel) run side by side, each into
    its own folder, and pass the same checks."""
    tmp_path, server = example_env
    if name == "homology_split":
        request.getfixturevalue("mmseqs")  # skipped without MMseqs2 (failed in CI)
    if name == "folding":
        # transformers imports TensorFlow with its torch ESMFold unless told not to; the fold
        # example never uses TensorFlow, and this saves ~7 s of CPU per run here.
        monkeypatch.setenv("USE_TF", "0")
    script = start_script(name, tmp_path)
    try:
        text, rich = run_notebook(name, tmp_path, monkeypatch)
    finally:
        script_text = finish_script(script)
    CHECKS[name](tmp_path / "script" / "out", script_text, shared_data, server, None)
    CHECKS[name](tmp_path / "notebook" / "out", text, shared_data, server, rich)


def test_data_pipeline_script(shared_data):
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "data_pipeline.py"), str(shared_data)],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    described = re.findall(r"^ProteinDataset\('([^']+)', task='(\w+)'", result.stdout, re.M)
    assert [task for _, task in described] == ["classification", "token", "regression"]
    assert len(re.findall(r"padding \d+\.\d% bucketed", result.stdout)) == 3


def test_make_notebooks_doctests():
    import doctest

    assert doctest.testmod(make_notebooks).failed == 0


def test_a_notebook_out_of_date_is_reported(tmp_path, monkeypatch):
    """--check fails (exit 1) when a script changed after its notebook was written."""
    for name in make_notebooks.SCRIPTS:
        (tmp_path / name).write_text((EXAMPLES / name).read_text())
        notebook = (EXAMPLES / name).with_suffix(".ipynb")
        (tmp_path / notebook.name).write_text(notebook.read_text())
    monkeypatch.setattr(make_notebooks, "EXAMPLES", tmp_path)
    assert make_notebooks.main(["--check"]) == 0
    script = tmp_path / "regression.py"
    script.write_text(script.read_text().replace("EPOCHS = 1 if QUICK else 3", "EPOCHS = 2"))
    assert make_notebooks.main(["--check"]) == 1
    assert make_notebooks.main([]) == 0 and make_notebooks.main(["--check"]) == 0
    assert "EPOCHS = 2" in (tmp_path / "regression.ipynb").read_text()


def test_settings_subset_paths_and_outputs(monkeypatch, tmp_path):
    """The quick-mode subset is real records, evenly spaced (both classes of a class-sorted
    file), within the length limit; paths come from argv / the environment as documented."""
    import _settings

    import tfprot

    classes = bundled()
    records = [
        tfprot.ProteinRecord(identifier, sequence, label=name)
        for name, entries in classes.items()
        for identifier, sequence in entries.items()
    ]
    picked = _settings.subset(records, {"train": 10}, max_residues=200)
    assert len(picked) == 10 and all(r.split == "train" and len(r) <= 200 for r in picked)
    assert {r.label for r in picked} == set(classes)
    assert all(classes[r.label][r.id] == r.sequence for r in picked)

    monkeypatch.setattr(sys, "argv", ["script.py", str(tmp_path / "given")])
    assert _settings.shared_data() == tmp_path / "given"
    monkeypatch.setattr(sys, "argv", ["script.py"])
    monkeypatch.setenv("TFPROT_SHARED_DATA", str(tmp_path / "env"))
    assert _settings.shared_data() == tmp_path / "env"
    monkeypatch.delenv("TFPROT_SHARED_DATA")
    assert _settings.shared_data() == REPO.parent / "shared" / "data"
    monkeypatch.setenv("TFPROT_EXAMPLES_OUT", str(tmp_path / "out"))
    assert _settings.output_dir("x") == tmp_path / "out" / "x" and (tmp_path / "out" / "x").is_dir()


def test_readme_example_commands_name_tested_examples():
    """Every `examples/...` file the README's bash blocks mention exists and is run above."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    blocks = "\n".join(re.findall(r"```bash\n(.*?)```", text, re.S))
    named = set(re.findall(r"examples/(\w+)\.(?:py|ipynb)", blocks))
    assert named <= set(NOTEBOOKED) | {"data_pipeline", "make_notebooks"}, named


def test_jupyter_execute_runs_a_notebook_with_the_venv_kernel(example_env, tmp_path):
    """What a reader types: ``jupyter execute examples/NAME.ipynb`` with the notebook's own
    kernel spec (``python3``), which resolves to this interpreter; the table it writes is the
    server's entries."""
    from jupyter_client import KernelManager

    assert KernelManager(kernel_name="python3").format_kernel_cmd()[0] == sys.executable
    _, server = example_env
    env = {
        **os.environ,
        "TFPROT_EXAMPLES_OUT": str(tmp_path / "jx" / "out"),
        "TFPROT_CACHE": str(tmp_path / "jx" / "cache"),
    }
    env.pop("JUPYTER_PATH")  # the notebook's own kernel spec, as a reader has it
    result = subprocess.run(
        [str(Path(sys.executable).parent / "jupyter"), "execute", "examples/uniprot_dataset.ipynb"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=REPO,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    with open(tmp_path / "jx" / "out" / "uniprot_dataset" / "cytosol_membrane.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert sorted(r["id"] for r in rows) == sorted(e["accession"] for e in server.entries)
    assert server.requests
