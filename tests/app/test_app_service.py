"""A request without the page (``Predictor``) for each task type: what the page shows against
the model's own predictions, and the CSV download against ``tfprot predict``'s file."""

from __future__ import annotations

import pytest
from app_support import bundled_sequences

from tfprot.app import AppSettings, Predictor
from tfprot.errors import DataFormatError, InvalidSequenceError


def _fasta(entries) -> str:
    return "".join(f">{identifier} x\n{sequence}\n" for identifier, sequence, _ in entries)


@pytest.fixture(scope="module")
def entries():
    return bundled_sequences(per_class=2, longest=120)


def _saved(tmp_path_factory, build) -> object:
    import tensorflow as tf

    tf.keras.utils.set_random_seed(1)
    folder = tmp_path_factory.mktemp("service") / "model"
    build().save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def token_model(tmp_path_factory):
    import tfprot

    return _saved(
        tmp_path_factory,
        lambda: tfprot.token_classifier("tiny-esm", ["C", "E", "H"], precision="float32"),
    )


@pytest.fixture(scope="module")
def regression_model(tmp_path_factory):
    import tfprot

    return _saved(
        tmp_path_factory, lambda: tfprot.sequence_regressor("tiny-esm", precision="float32")
    )


@pytest.fixture(scope="module")
def multilabel_model(tmp_path_factory):
    import tfprot

    return _saved(
        tmp_path_factory,
        lambda: tfprot.sequence_classifier(
            "tiny-esm", ["nucleus", "cytosol", "membrane"], multi_label=True, precision="float32"
        ),
    )


def _predict_csv(model_dir, text, tmp_path, capsys) -> bytes:
    """``tfprot predict``'s CSV for the same sequences: the reference for the download."""
    from tfprot.cli import main

    source = tmp_path / "input.fasta"
    source.write_text(text)
    out = tmp_path / "predict.csv"
    assert (
        main(["predict", "--model", str(model_dir), "--input", str(source), "--out", str(out)]) == 0
    )
    capsys.readouterr()
    return out.read_bytes()


def test_a_classifier_answers_with_chart_rows_and_predicts_csv(
    trained_model, entries, tmp_path, capsys
):
    import tfprot

    predictor = Predictor(trained_model)
    text = _fasta(entries)
    answer = predictor.answer(text)
    expected = tfprot.load_model(trained_model, compile=False).predict_sequences(
        [s for _, s, _ in entries], progress=False
    )
    assert answer.csv.read_bytes() == _predict_csv(trained_model, text, tmp_path, capsys)
    classes = predictor.classes
    assert [(row["id"], row["class"]) for row in answer.chart] == [
        (identifier, name) for identifier, _, _ in entries for name in classes
    ]
    for (identifier, _, _), prediction in zip(entries, expected, strict=True):
        rows = [row for row in answer.chart if row["id"] == identifier]
        assert [row["probability"] for row in rows] == pytest.approx(
            [prediction.probabilities[name] for name in classes], abs=1e-5
        )
        assert f"**{identifier}**: {prediction.label.replace('_', chr(92) + '_')}" in answer.summary
    assert answer.residues is None and answer.structure is None
    assert answer.result["labels"] == classes
    predictor.close()


def test_a_token_model_colours_every_residue_by_its_predicted_class(
    token_model, entries, tmp_path, capsys
):
    import tfprot

    predictor = Predictor(token_model)
    text = _fasta(entries[:2])
    answer = predictor.answer(text)
    expected = tfprot.load_model(token_model, compile=False).predict_sequences(
        [s for _, s, _ in entries[:2]], progress=False
    )
    assert answer.chart == [] and predictor.task.shows_residues
    # Rebuild each sequence and its labels from the coloured segments.
    coloured = {}
    current = None
    for text_part, label in answer.residues:
        if label is None:
            current = text_part.strip()
            coloured[current] = ("", "")
        else:
            residues, labels = coloured[current]
            coloured[current] = (residues + text_part, labels + label * len(text_part))
    for (identifier, sequence, _), prediction in zip(entries[:2], expected, strict=True):
        assert coloured[identifier] == (sequence, "".join(prediction.label))
    assert answer.csv.read_bytes() == _predict_csv(token_model, text, tmp_path, capsys)
    record = answer.result["predictions"][0]
    assert record["residue_labels"] == list(expected[0].label)
    predictor.close()


def test_a_regressor_shows_its_value(regression_model, entries, tmp_path, capsys):
    import tfprot

    predictor = Predictor(regression_model)
    text = _fasta(entries[:1])
    answer = predictor.answer(text)
    value = (
        tfprot.load_model(regression_model, compile=False)
        .predict_sequences([entries[0][1]], progress=False)[0]
        .label
    )
    assert answer.result["predictions"][0]["value"] == pytest.approx(float(value), abs=1e-5)
    assert answer.chart == [] and answer.residues is None
    assert answer.csv.read_bytes() == _predict_csv(regression_model, text, tmp_path, capsys)
    predictor.close()


def test_a_multilabel_model_draws_one_bar_per_sequence_and_class(multilabel_model, entries):
    predictor = Predictor(multilabel_model)
    answer = predictor.answer(_fasta(entries[:2]))
    assert predictor.task.chart_x == "bar"
    assert len({row["bar"] for row in answer.chart}) == 2 * 3
    predictor.close()


def test_limits_are_refused_with_the_limit_stated(trained_model, tmp_path):
    predictor = Predictor(trained_model, AppSettings(max_sequences=2, max_length=50))
    three = "".join(f">p{i}\nMKTAYIAK\n" for i in range(3))
    with pytest.raises(
        DataFormatError, match="3 sequences in one request, over this app's limit of 2"
    ):
        predictor.answer(three)
    with pytest.raises(
        InvalidSequenceError, match=r"id 'long': 60 residues, over this app's limit of 50"
    ):
        predictor.answer(">long\n" + "A" * 60)
    with pytest.raises(InvalidSequenceError, match=r"60 residues, over this app's limit of 50"):
        predictor.predict("A" * 60)
    upload = tmp_path / "mine.fasta"
    upload.write_text(">u1\nMKTAY\n")
    with pytest.raises(DataFormatError, match="Both the text box and a file hold sequences"):
        predictor.answer(">t1\nMKT", upload)
    assert [r["id"] for r in predictor.answer("", upload).result["predictions"]] == ["u1"]
    predictor.close()


def test_request_folders_do_not_pile_up(trained_model):
    from tfprot.app.service import KEPT_REQUESTS

    predictor = Predictor(trained_model)
    csvs = [predictor.answer("MKTAYIAK").csv for _ in range(KEPT_REQUESTS + 3)]
    assert [path.exists() for path in csvs] == [False] * 3 + [True] * KEPT_REQUESTS
    predictor.close()
    assert not any(path.exists() for path in csvs)
