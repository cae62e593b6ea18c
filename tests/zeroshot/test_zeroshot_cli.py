"""`tfprot score` and `tfprot contacts` on a PyTorch-only ESM-2 folder: the files they write,
Spearman's rho against scipy, precision against a structure, one-line errors naming the row."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from scipy.stats import spearmanr
from zeroshot_support import GB1

import tfprot
from tfprot.zeroshot import apply_mutant, contact_precisions, parse_mutant

pytest.importorskip("Bio")

MUTANTS = ["Y3A", "K4R:G9A", "V39D", "E19Q", "Y3W", "T16A:T18A", "D22N"]
DMS = [-0.8, -1.2, 0.3, 0.1, -0.2, -1.9, 0.7]


def _run(capsys, argv):
    from tfprot.cli import main

    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _one_line_error(code, err, *needles):
    assert code == 2, err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("tfprot: error: "), err
    for needle in needles:
        assert needle in last, last


@pytest.fixture()
def inputs(tmp_path):
    wildtype = tmp_path / "gb1.fasta"
    wildtype.write_text(f">GB1 protein G B1 domain\n{GB1[:30]}\n{GB1[30:]}\n")
    dms = tmp_path / "dms.csv"
    rows = [
        (m, apply_mutant(GB1, parse_mutant(m, GB1)), s, f"note {k}")
        for k, (m, s) in enumerate(zip(MUTANTS, DMS, strict=True))
    ]
    with dms.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["mutant", "mutated_sequence", "DMS_score", "comment, with comma"])
        writer.writerows(rows)
    return wildtype, dms


def test_score_writes_scores_and_spearman(capsys, tmp_path, inputs, torch_folder):
    wildtype, dms = inputs
    out = tmp_path / "out" / "scores.csv"
    argv = ["score", "--checkpoint", str(torch_folder[1]), "--wildtype", str(wildtype)]
    argv += ["--mutations", str(dms), "--out", str(out), "--precision", "float32"]
    code, stdout, err = _run(capsys, argv)
    assert code == 0, err
    with out.open() as handle:
        rows = list(csv.DictReader(handle))
    with dms.open() as handle:
        original = list(csv.DictReader(handle))
    assert list(rows[0]) == [*original[0], "score"]
    assert [{k: r[k] for k in original[0]} for r in rows] == original  # input kept as it was
    scores = np.array([float(r["score"]) for r in rows])
    api = tfprot.score_variants(torch_folder[1], GB1, MUTANTS, precision="float32")
    assert np.abs(scores - api.scores).max() < 1e-5  # written with 6 significant digits
    metrics = json.loads((out.parent / "metrics.json").read_text())
    expected = spearmanr(scores, DMS).statistic
    assert metrics["spearman"] == pytest.approx(expected, abs=1e-9)
    assert metrics["variants"] == len(MUTANTS) and metrics["method"] == "masked-marginal"
    assert f"Spearman rho {expected:.4f}" in stdout
    assert (
        f"{len(set(s.position for m in MUTANTS for s in parse_mutant(m, GB1)))} forward" in stdout
    )


def test_score_refuses_a_mismatched_row_and_writes_nothing(capsys, tmp_path, inputs):
    wildtype, dms = inputs
    text = dms.read_text().splitlines()
    text[3] = text[3].replace("V39D", "A39D", 1)
    dms.write_text("\n".join(text) + "\n")
    out = tmp_path / "scores.csv"
    argv = ["score", "--checkpoint", "tiny-esm", "--wildtype", str(wildtype)]
    code, _, err = _run(capsys, [*argv, "--mutations", str(dms), "--out", str(out)])
    _one_line_error(code, err, "dms.csv, line 4", "'A39D'", "the wild type has V there")
    assert not out.exists() and not (tmp_path / "metrics.json").exists()
    code, _, err = _run(capsys, [*argv, "--mutations", str(dms), "--out", str(dms)])
    _one_line_error(code, err, "is the input file")


def test_score_without_measurements_writes_no_metrics(capsys, tmp_path, inputs):
    wildtype, _ = inputs
    table = tmp_path / "m.tsv"
    table.write_text("id\tmutant\nv1\tY3A\nv2\tWT\n")
    out = tmp_path / "s.tsv"
    argv = ["score", "--checkpoint", "tiny-esm", "--wildtype", str(wildtype), "--mutations"]
    argv += [str(table), "--out", str(out), "--method", "wt-marginal", "--precision", "float32"]
    code, stdout, err = _run(capsys, argv)
    assert code == 0, err
    lines = out.read_text().splitlines()
    assert lines[0] == "id\tmutant\tscore" and lines[2] == "v2\tWT\t0"
    assert not (tmp_path / "metrics.json").exists()
    assert "untrained" in stdout


def test_contacts_writes_maps_pictures_and_precision(capsys, tmp_path, torch_folder):
    from test_zeroshot_structure import _pdb

    sequences = {"gb1": GB1, "gb1/half": GB1[:40]}
    fasta = tmp_path / "in.fasta"
    fasta.write_text("".join(f">{k}\n{v}\n" for k, v in sequences.items()))
    structures = tmp_path / "structures"
    structures.mkdir()
    rng = np.random.default_rng(2)
    ca = np.cumsum(rng.normal(0, 2.2, size=(len(GB1), 3)), axis=0)
    (structures / "gb1.pdb").write_text(_pdb(GB1, ca, ca + 1.0))
    out = tmp_path / "maps"
    argv = ["contacts", "--checkpoint", str(torch_folder[1]), "--input", str(fasta)]
    argv += ["--out", str(out), "--pdb", str(structures), "--precision", "float32"]
    code, stdout, err = _run(capsys, argv)
    assert code == 0, err
    api = tfprot.contacts(torch_folder[1], list(sequences.values()), precision="float32")
    with (out / "contacts.tsv").open() as handle:
        summary = list(csv.DictReader(handle, delimiter="\t"))
    assert [row["id"] for row in summary] == list(sequences)
    for row, expected in zip(summary, api, strict=True):
        saved = np.load(out / row["file"])
        assert saved.shape == (len(expected.sequence),) * 2
        assert np.abs(saved - expected.probabilities).max() < 1e-6
        png = out / row["file"].replace(".npy", ".png")
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "/" not in summary[1]["file"]  # the id was made a safe file name
    from tfprot.zeroshot.contact_maps import structure_contacts

    truth = structure_contacts(structures / "gb1.pdb", GB1)
    precisions = contact_precisions(api[0].probabilities, truth)
    assert summary[0]["P@L"] == f"{precisions['P@L']:.4f}" and summary[1]["P@L"] == ""
    assert f"P@L {precisions['P@L']:.4f}" in stdout
    code, _, err = _run(capsys, [*argv[:-4], "--pdb", str(structures / "gb1.pdb")])
    _one_line_error(code, err, "is one structure but --input has 2 sequences")


@pytest.mark.parametrize("command", ["score", "contacts"])
def test_help_has_an_example_and_loads_no_tensorflow(command):
    import subprocess
    import sys

    code = (
        f"import sys\nfrom tfprot.cli import main\ntry:\n    main([{command!r}, '--help'])\n"
        "except SystemExit as stop:\n    assert stop.code == 0\n"
        "assert 'tensorflow' not in sys.modules and 'torch' not in sys.modules\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert f"usage: tfprot {command}" in done.stdout
    assert f"Example:\n  tfprot {command}" in done.stdout and "--debug" in done.stdout


def test_cli_methods_are_the_librarys():
    from tfprot.cli.score import METHODS
    from tfprot.zeroshot import METHODS as LIBRARY

    assert METHODS == LIBRARY


def test_checkpoints_without_the_heads_are_refused(
    capsys, tmp_path, inputs, hf_esm_tokenizer, torch_folder
):
    """A classifier folder has no masked-LM head, a masked LM saved without its contact head has
    none of that: their heads would be random, and are refused by name."""
    import shutil

    from safetensors.numpy import load_file, save_file
    from transformers import EsmForSequenceClassification

    from tfprot.models.checkpoints import tiny_config
    from tfprot.presets import PRESETS

    folder = tmp_path / "classifier"
    config = tiny_config(PRESETS["tiny-esm"], num_labels=2)
    EsmForSequenceClassification(config).save_pretrained(folder)
    hf_esm_tokenizer.save_pretrained(folder)
    wildtype, dms = inputs
    argv = ["score", "--checkpoint", str(folder), "--wildtype", str(wildtype)]
    code, _, err = _run(capsys, [*argv, "--mutations", str(dms), "--out", str(tmp_path / "s.csv")])
    _one_line_error(code, err, "has no masked-LM head weights", "lm_head")

    headless = tmp_path / "no_contact_head"
    shutil.copytree(torch_folder[1], headless)
    weights = load_file(headless / "model.safetensors")
    assert any("contact_head" in key for key in weights)
    kept = {key: value for key, value in weights.items() if "contact_head" not in key}
    save_file(kept, headless / "model.safetensors", metadata={"format": "pt"})
    fasta = tmp_path / "one.fasta"
    fasta.write_text(f">gb1\n{GB1}\n")
    argv = ["contacts", "--checkpoint", str(headless), "--input", str(fasta)]
    code, _, err = _run(capsys, [*argv, "--out", str(tmp_path / "maps")])
    _one_line_error(code, err, "has no contact head weights")
    assert not (tmp_path / "maps").exists()


def test_corrupt_weights_fail_score_naming_the_folder_without_writing(
    capsys, tmp_path, inputs, torch_folder
):
    """Issue 22, case 2 for ``score``: NaN weights give a one-line error naming the checkpoint
    folder, and no scores file (before the check, every score was ``nan`` with exit 0)."""
    import shutil

    folder = tmp_path / "corrupt"
    shutil.copytree(torch_folder[1], folder)
    weights = folder / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-40_000:] = b"\xff" * 40_000  # still parses; the last tensors are NaN (0xFFFFFFFF)
    weights.write_bytes(bytes(data))
    wildtype, dms = inputs
    out = tmp_path / "scores.csv"
    argv = ["score", "--checkpoint", str(folder), "--wildtype", str(wildtype)]
    argv += ["--mutations", str(dms), "--out", str(out), "--precision", "float32"]
    code, _, err = _run(capsys, argv)
    _one_line_error(code, err, str(folder))
    assert "NaN" in err or "nan" in err.lower()
    assert not out.exists() and not (tmp_path / "metrics.json").exists()
