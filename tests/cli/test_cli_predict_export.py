"""`tfprot predict` and `tfprot export` on the model `tfprot train` saved."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from Bio import SeqIO
from conftest import assert_one_line_error, run_cli


def test_predict_writes_one_row_per_sequence_like_the_python_api(
    capsys, trained, proteins_fasta, tmp_path
):
    out, _, _ = trained
    target = tmp_path / "predictions.csv"
    code, stdout, err = run_cli(
        capsys,
        [
            "predict",
            "--model",
            str(out / "model"),
            "--input",
            str(proteins_fasta),
            "--out",
            str(target),
        ],
    )
    assert code == 0, err
    assert f"6 sequences (classification) -> {target}" in stdout
    assert "\r" not in err and "batch/s" not in err  # no progress bar off a terminal
    with open(target, newline="") as handle:
        rows = list(csv.DictReader(handle))
    expected_ids = [r.id for r in SeqIO.parse(proteins_fasta, "fasta")]
    assert [row["id"] for row in rows] == expected_ids
    classes = ["cytoplasmic", "plasma_membrane"]
    for row in rows:
        probabilities = [float(row[f"probability_{c}"]) for c in classes]
        assert sum(probabilities) == pytest.approx(1.0, abs=1e-5)
        assert row["label"] == classes[int(np.argmax(probabilities))]

    import tfprot

    model = tfprot.load_model(out / "model", compile=False)
    reference = model.predict_sequences(str(proteins_fasta), progress=False)
    assert [row["label"] for row in rows] == [p.label for p in reference]


def test_predict_token_model_gives_one_label_per_residue(capsys, tmp_path, proteins_fasta):
    import tfprot

    model = tfprot.token_classifier("tiny-esm", ["C", "E", "H"], precision="float32")
    model.save_pretrained(tmp_path / "ss")
    target = tmp_path / "ss.csv"
    code, _, err = run_cli(
        capsys,
        [
            "predict",
            "--model",
            str(tmp_path / "ss"),
            "--input",
            str(proteins_fasta),
            "--out",
            str(target),
        ],
    )
    assert code == 0, err
    with open(target, newline="") as handle:
        rows = list(csv.DictReader(handle))
    sequences = [str(r.seq) for r in SeqIO.parse(proteins_fasta, "fasta")]
    assert [row["sequence"] for row in rows] == sequences
    for row in rows:
        assert len(row["residue_labels"]) == len(row["sequence"])
        assert set(row["residue_labels"]) <= {"C", "E", "H"}


def test_predict_bad_inputs(capsys, trained, tmp_path, proteins_fasta):
    out, _, _ = trained
    code, _, err = run_cli(
        capsys,
        [
            "predict",
            "--model",
            str(out / "model"),
            "--input",
            str(tmp_path / "none.fasta"),
            "--out",
            str(tmp_path / "p.csv"),
        ],
    )
    assert_one_line_error(code, err, "none.fasta", "no such file")
    bad = tmp_path / "bad.fasta"
    bad.write_text(">p1\nMKT1AY\n")
    code, _, err = run_cli(
        capsys,
        [
            "predict",
            "--model",
            str(out / "model"),
            "--input",
            str(bad),
            "--out",
            str(tmp_path / "p.csv"),
        ],
    )
    assert_one_line_error(code, err, "p1", "'1'")
    code, _, err = run_cli(
        capsys,
        [
            "predict",
            "--model",
            str(tmp_path),
            "--input",
            str(proteins_fasta),
            "--out",
            str(tmp_path / "p.csv"),
        ],
    )
    assert code == 2 and "not a tfprot model folder" in err
    assert not (tmp_path / "p.csv").exists()


def test_export_serves_the_same_probabilities(capsys, trained, tmp_path):
    import tensorflow as tf

    import tfprot

    out, _, _ = trained
    code, stdout, err = run_cli(
        capsys, ["export", "--model", str(out / "model"), "--out", str(tmp_path / "serving")]
    )
    assert code == 0, err
    assert "serving_default" in stdout
    loaded = tf.saved_model.load(str(tmp_path / "serving"))
    model = tfprot.load_model(out / "model", compile=False)
    sequence = "MKTAYIAKQRQISFVKSHFSRQ"
    ids = model.tokenizer.encode(sequence)[None, :]
    served = loaded.signatures["serving_default"](
        input_ids=tf.constant(ids, tf.int32), attention_mask=tf.ones_like(ids, dtype=tf.int32)
    )
    expected = model.predict_sequences([sequence], progress=False)[0].probabilities
    np.testing.assert_allclose(
        served["probabilities"].numpy()[0],
        [expected[c] for c in model.label_encoder.classes],
        atol=1e-5,
    )
    code, _, err = run_cli(
        capsys, ["export", "--model", str(tmp_path / "nope"), "--out", str(tmp_path / "s2")]
    )
    assert_one_line_error(code, err, "nope", "no such file")
