"""Adding a task is one module and its test: a task defined here (not in tfprot) trains, predicts,
saves, reloads and is described through tfprot's own code paths and CLI, and no module outside
``tfprot/tasks`` branches on a task's name."""

from __future__ import annotations

import ast
import csv
import json
from pathlib import Path

import numpy as np
import pytest

import tfprot
from tfprot.tasks import ProteinTask, registry, task_names
from tfprot.tasks.base import label_names

PACKAGE = Path(tfprot.__file__).parent


class BinaryClassification(ProteinTask):
    """A task tfprot does not ship: two classes from ONE output (a sigmoid on one logit), where
    every built-in classifier has one output per class."""

    name = "binary"
    description = "binary classifier (one logit per protein)"
    baseline_what = "always the training set's more common class"
    label_padding = np.float32(0)

    def class_names(self, record, separator):
        return label_names(record, None)

    def encode(self, record, vocabulary):
        (name,) = label_names(record, None)
        return np.float32(vocabulary.class_index(name, record))

    def target_summary(self, targets, classes):
        positive = int(np.sum(targets))
        return {classes[0]: len(targets) - positive, classes[1]: positive}

    def baseline(self, train, test, classes):
        majority = int(np.mean(train) >= 0.5)
        return {
            "accuracy": float(np.mean(np.asarray(test) == majority)),
            "prediction": classes[majority],
        }

    def describe_baseline(self, baseline):
        return f"always {baseline['prediction']!r}: accuracy {baseline['accuracy']:.1%}"

    def output_names(self, classes):
        return (classes[1],)

    def loss(self):
        from tfprot.tasks.losses import WeightedBinaryCrossentropy

        return WeightedBinaryCrossentropy()

    def metrics(self, num_labels):
        from tfprot.tasks.metrics import MaskedAccuracy

        return [MaskedAccuracy(multilabel=True)]

    def probabilities(self, logits):
        import tensorflow as tf

        return tf.sigmoid(logits)

    def decode(self, logits, vocabulary, *, threshold=0.5):
        positive = float(1.0 / (1.0 + np.exp(-logits[0])))
        first, second = vocabulary.classes
        label = second if positive > threshold else first
        return label, {first: 1.0 - positive, second: positive}


@pytest.fixture
def binary_task(monkeypatch):
    """The toy task registered for one test (the registry is restored afterwards)."""
    monkeypatch.setattr(registry, "_TASKS", dict(registry._TASKS))
    return registry.register(BinaryClassification())


def _small_table(path: Path) -> Path:
    """20 + 20 bundled sequences of at most 200 residues, split 28/6/6 by row."""
    data = tfprot.ProteinDataset.example()
    records = [r for r in data.records("train") if len(r) <= 200]
    chosen = [r for r in records if r.label == "cytoplasmic"][:20]
    chosen += [r for r in records if r.label == "plasma_membrane"][:20]
    chosen = [r for pair in zip(chosen[:20], chosen[20:], strict=True) for r in pair]
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "sequence", "location", "set"])
        for index, record in enumerate(chosen):
            split = "train" if index < 28 else "validation" if index < 34 else "test"
            writer.writerow([record.id, record.sequence, record.label, split])
    return path


def test_a_task_defined_outside_tfprot_trains_predicts_and_reloads_through_the_cli(
    binary_task, tmp_path, capsys
):
    from tfprot.cli import main

    assert "binary" in task_names()
    table = _small_table(tmp_path / "small.csv")
    out = tmp_path / "run"
    code = main(
        [
            "train", "--task", "binary", "--data", str(table), "--checkpoint", "tiny-esm",
            "--epochs", "1", "--max-length", "64", "--batch-tokens", "256",
            "--precision", "float32", "--out", str(out),
        ]
    )  # fmt: skip
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "tfprot train (binary)" in printed and "always '" in printed

    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["task"] == "binary"
    assert metrics["baseline"]["what"] == BinaryClassification.baseline_what
    assert set(metrics["test"]) == {"loss", "accuracy"}
    saved = json.loads((out / "model" / "tfprot.json").read_text())
    config = json.loads((out / "model" / "config.json").read_text())
    assert saved["task"] == "binary"
    assert config["id2label"] == {"0": "plasma_membrane"}  # one output

    model = tfprot.load_model(out / "model", compile=False)
    assert model.task is binary_task
    fasta = tmp_path / "input.fasta"
    fasta.write_text(">p1\nMKTAYIAKQRQISFVKSHFSRQ\n>p2\nMLLLAVLLLLAGGAWA\n")
    predictions_csv = tmp_path / "predictions.csv"
    code = main(
        [
            "predict",
            "--model",
            str(out / "model"),
            "--input",
            str(fasta),
            "--out",
            str(predictions_csv),
        ]
    )
    assert code == 0, capsys.readouterr().err
    with open(predictions_csv, newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["id", "label", "probability_cytoplasmic", "probability_plasma_membrane"]

    # The reference: one logit per sequence from the reloaded model, through numpy's sigmoid.
    logits = model.predict_logits(["MKTAYIAKQRQISFVKSHFSRQ", "MLLLAVLLLLAGGAWA"])
    for row, logit in zip(rows[1:], logits, strict=True):
        assert logit.shape == (1,)
        positive = 1.0 / (1.0 + np.exp(-float(logit[0])))
        assert float(row[3]) == pytest.approx(positive, rel=1e-4)
        assert float(row[2]) == pytest.approx(1.0 - positive, rel=1e-4, abs=1e-6)
        assert row[1] == ("plasma_membrane" if positive > 0.5 else "cytoplasmic")

    from tfprot.sharing.card import model_card
    from tfprot.sharing.facts import ModelFacts

    card = model_card(ModelFacts.from_metadata(saved), "someone/binary")
    assert "binary classifier (one logit per protein)" in card
    assert "tfprot-binary" in card and "TFAutoModelForSequenceClassification" in card


def test_the_cli_offers_every_registered_task(binary_task):
    from tfprot.cli.train import create_parser

    (action,) = [a for a in create_parser()._actions if a.dest == "task"]
    assert tuple(action.choices) == task_names() and "binary" in action.choices


def _task_branches(source: str, names: tuple[str, ...]) -> list[int]:
    """Lines of ``source`` that compare with a task name (``== 'token'``, ``is Task.TOKEN``,
    ``in ('regression', ...)``) or key a dict literal by task names."""

    def is_task(node: ast.AST) -> bool:
        if isinstance(node, ast.Constant) and node.value in names:
            return True
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            return node.value.id == "Task"
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            return any(is_task(item) for item in node.elts)
        return False

    def branches(node: ast.AST) -> bool:
        if isinstance(node, ast.Compare):
            return any(map(is_task, [node.left, *node.comparators]))
        return isinstance(node, ast.Dict) and sum(map(is_task, filter(None, node.keys))) >= 2

    return sorted(node.lineno for node in ast.walk(ast.parse(source)) if branches(node))


def test_no_module_outside_tfprot_tasks_branches_on_a_task_name():
    found = {
        str(path.relative_to(PACKAGE)): lines
        for path in sorted(PACKAGE.rglob("*.py"))
        if "tasks" not in path.relative_to(PACKAGE).parts
        for lines in [_task_branches(path.read_text(encoding="utf-8"), task_names())]
        if lines
    }
    assert found == {}


def test_the_branch_finder_finds_the_branches_this_layout_removed():
    old = (
        "if self.task is Task.REGRESSION:\n    pass\n"
        "if args.task == 'classification':\n    pass\n"
        "if task in ('classification', 'multilabel'):\n    pass\n"
        "TAGS = {'classification': 'a', 'token': 'b'}\n"
        "if labels.task is not task:\n    pass\n"
    )
    assert _task_branches(old, task_names()) == [1, 3, 5, 7]
