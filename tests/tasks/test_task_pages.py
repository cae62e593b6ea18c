"""What each task shows on the web page and returns from ``/predict`` (the task's own methods)."""

from types import SimpleNamespace as P

import numpy as np

from tfprot.tasks import ProteinTask, task_for


def prediction(label, probabilities=None, sequence="MKTAY"):
    return P(id="p1", sequence=sequence, label=label, probabilities=probabilities)


def test_a_classifier_answers_with_its_class_probability_and_charts_every_class():
    task = task_for("classification")
    p = prediction("membrane", {"cytosol": np.float32(0.25), "membrane": np.float32(0.75)})
    assert task.answer(p) == "membrane (75%)"
    assert task.api_record(p) == {
        "id": "p1",
        "label": "membrane",
        "probabilities": {"cytosol": 0.25, "membrane": 0.75},
    }
    assert [(r["id"], r["class"], r["probability"]) for r in task.chart_rows([p])] == [
        ("p1", "cytosol", 0.25),
        ("p1", "membrane", 0.75),
    ]
    assert (task.shows_chart, task.shows_residues, task.chart_x) == (True, False, "id")


def test_a_multilabel_answer_says_when_no_class_passes_the_threshold():
    task = task_for("multilabel")
    p = prediction("", {"a": 0.2, "b": 0.4})
    assert task.answer(p) == "no class above the threshold"
    assert task.answer(prediction("a;b", {"a": 0.6, "b": 0.9})) == "a;b"
    assert task.chart_x == "bar" and len(task.chart_rows([p])) == 2


def test_a_regressor_shows_its_value_and_draws_no_chart():
    task = task_for("regression")
    p = prediction(np.float32(1.23456))
    assert task.answer(p) == "1.235"
    assert task.api_record(p) == {"id": "p1", "value": float(np.float32(1.23456))}
    assert task.chart_rows([p]) == [] and not task.shows_chart


def test_a_token_model_summarises_its_residue_classes_and_colours_residues():
    task = task_for("token")
    p = prediction("HHHEC")
    assert task.answer(p) == "5 residues: H 60%, E 20%, C 20%"
    assert task.api_record(p)["residue_labels"] == ["H", "H", "H", "E", "C"]
    assert task.shows_residues and not task.shows_chart


def test_a_task_without_page_methods_shows_its_label_as_text():
    task = task_for("classification")
    assert ProteinTask.answer(task, prediction("x")) == "x"
    assert ProteinTask.api_record(task, prediction("x")) == {"id": "p1", "label": "x"}
    assert ProteinTask.chart_rows(task, [prediction("x")]) == []
