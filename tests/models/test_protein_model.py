"""ProteinModel: save/reload for the four tasks, atomic saves, fit's schedule, prediction from raw
sequences (lists and FASTA, order, several batches, long sequences, progress bar).

References are independent of tfprot's inference plumbing: the transformers model called on one
sequence at a time, unpadded, and softmax/sigmoid/argmax in numpy.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging

import numpy as np
import pytest

import tfprot
from tfprot.data.batching import length_sorted_batches
from tfprot.errors import CheckpointError, DataFormatError, LabelError
from tfprot.models.inference import progress_bar, residue_windows
from tfprot.models.protein_model import ProteinModel

TASKS = ("classification", "multilabel", "regression", "token")
MULTILABEL_CLASSES = ("cytosol", "membrane", "secreted")
# Non-sorted lengths, so length-sorted batching reorders them.
SEQUENCES = [
    "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRVGDGTQDNLSGAEK",
    "GGSW",
    "MSDNELQKLAEQ",
    "MKVLAAGIVALLLAAGCSSSKEETPKAEAPKAESSAGEAKAE",
    "PEPTIDE",
    "MHHHHHHSSGLVPRGSHMASMTGGQQMGRGS",
]


def _multilabel_data(cytosol_membrane):
    """A small multilabel set: real sequences, labels assigned by position (1 or 2 classes)."""
    names = ("cytosol;membrane", "membrane", "cytosol;secreted", "secreted")
    records = [r for split in ("train", "test") for r in cytosol_membrane.records(split)][:60]
    return tfprot.ProteinDataset(
        tfprot.from_lists(
            [r.sequence for r in records],
            labels=[names[k % len(names)] for k in range(len(records))],
            ids=[r.id for r in records],
        ),
        "multilabel",
        name="multilabel_small",
    )


def _build(task, data):
    if task == "regression":
        return tfprot.sequence_regressor("tiny-esm", data, precision="float32")
    if task == "token":
        return tfprot.token_classifier("tiny-esm", data, precision="float32")
    return tfprot.sequence_classifier(
        "tiny-esm", data, multi_label=task == "multilabel", precision="float32"
    )


@pytest.fixture(scope="module")
def trained(request, tmp_path_factory, cytosol_membrane, secondary_structure, gb1):
    """Per task: the data set, the model trained for 2 steps, its initial head weights, its
    save folder and the reloaded model."""
    datasets = {
        "classification": cytosol_membrane,
        "multilabel": _multilabel_data(cytosol_membrane),
        "regression": gb1,
        "token": secondary_structure,
    }
    out = {}
    for task, data in datasets.items():
        model = _build(task, data)
        initial = [w.numpy().copy() for w in model.transformer.trainable_weights]
        train = data.tf_dataset("train", model.tokenizer, batch_tokens=2048).take(2)
        # Eagerly: 5x faster than tracing a train step per task; the weights are what matters here.
        model.run_eagerly = True
        model.fit(train, epochs=1, verbose=0)
        folder = model.save_pretrained(tmp_path_factory.mktemp(task) / "model")
        out[task] = {
            "data": data,
            "model": model,
            "initial": initial,
            "folder": folder,
            "reloaded": tfprot.load_model(folder),
        }
    return out


def _reference_logits(model, sequence):
    """The transformers model on one unpadded sequence: float32 ``[tokens, ...]`` logits."""
    ids = model.tokenizer.encode(sequence)[None]
    logits = model.transformer(input_ids=ids, attention_mask=np.ones_like(ids)).logits
    return np.asarray(logits, dtype=np.float32)[0]


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


# -- save / reload --------------------------------------------------------------------------------
@pytest.mark.parametrize("task", TASKS)
def test_saved_folder_holds_weights_config_tokenizer_and_metadata(trained, task):
    entry = trained[task]
    folder, data = entry["folder"], entry["data"]
    names = {p.name for p in folder.iterdir()}
    assert {"model.safetensors", "config.json", "tfprot.json", "tfprot_tokenizer.json"} <= names
    assert {"vocab.txt", "tokenizer_config.json", "special_tokens_map.json"} <= names

    config = json.loads((folder / "config.json").read_text())
    classes = data.label_encoder.classes or ("target",)
    assert config["id2label"] == {str(i): name for i, name in enumerate(classes)}
    assert config["label2id"] == {name: i for i, name in enumerate(classes)}

    metadata = json.loads((folder / "tfprot.json").read_text())
    assert metadata["task"] == task
    assert metadata["precision"] == "float32"
    assert metadata["labels"] == data.label_encoder.to_dict()
    assert metadata["data"] == json.loads(json.dumps(data.summary()))
    assert metadata["base_checkpoint"] == "tiny-esm"
    assert json.loads((folder / "tfprot_tokenizer.json").read_text()) == {
        "spaced": False,
        "rare_residues_to_x": False,
        "max_length": 1024,
    }
    # The staging folder was renamed into place: nothing left beside it.
    assert [p.name for p in folder.parent.iterdir()] == ["model"]


@pytest.mark.parametrize("task", TASKS)
def test_reload_after_training_gives_identical_predictions(trained, task):
    entry = trained[task]
    model, reloaded = entry["model"], entry["reloaded"]
    changed = [
        not np.array_equal(before, after.numpy())
        for before, after in zip(entry["initial"], model.transformer.trainable_weights, strict=True)
    ]
    assert sum(changed) > len(changed) // 2, "training must have moved the weights"

    assert type(reloaded) is ProteinModel
    assert reloaded.task is model.task
    assert reloaded.label_encoder == model.label_encoder
    assert reloaded.tokenizer.get_config() == model.tokenizer.get_config()
    assert reloaded.info["data"] == json.loads(json.dumps(entry["data"].summary()))
    for before, after in zip(model.transformer.weights, reloaded.transformer.weights, strict=True):
        np.testing.assert_array_equal(before.numpy(), after.numpy())
    records = entry["data"].records("test")[:5]
    for a, b in zip(model.predict_logits(records), reloaded.predict_logits(records), strict=True):
        np.testing.assert_array_equal(a, b)
    first = model.predict_sequences(records)
    second = reloaded.predict_sequences(records)
    assert [p.label for p in first] == [p.label for p in second]


def test_fit_sets_the_schedule_to_the_run_length(trained):
    # 2 steps x 1 epoch: ScheduleSteps, added by ProteinModel.fit, set the unset schedule to 2.
    for entry in trained.values():
        schedule = entry["model"].optimizer.schedule
        assert int(schedule.total_steps.numpy()) == 2


def _digest(folder):
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_failed_save_leaves_the_previous_folder_intact(trained, tmp_path, monkeypatch):
    model = trained["classification"]["model"]
    folder = model.save_pretrained(tmp_path / "model")
    before = _digest(folder)

    def fail(*args, **kwargs):
        raise RuntimeError("disk full")

    # The weights and tokenizer are written, then writing tfprot.json fails.
    monkeypatch.setattr("tfprot.models.protein_model.write_text_atomic", fail)
    with pytest.raises(RuntimeError, match="disk full"):
        trained["multilabel"]["model"].save_pretrained(folder)
    assert _digest(folder) == before
    assert [p.name for p in tmp_path.iterdir()] == ["model"]  # no staging folder left
    monkeypatch.undo()
    assert tfprot.load_model(folder, compile=False).task == tfprot.Task.CLASSIFICATION


def test_save_refuses_to_replace_a_folder_that_is_not_a_model(trained, tmp_path):
    model = trained["classification"]["model"]
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(CheckpointError, match="not a tfprot model folder"):
        model.save_pretrained(tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "mine"
    (tmp_path / "file").write_text("x")
    with pytest.raises(CheckpointError, match="is a file"):
        model.save_pretrained(tmp_path / "file")


def test_a_save_inside_a_staging_folder_logs_the_folder_it_becomes(trained, tmp_path, caplog):
    """``tfprot train`` saves the model into its output's hidden staging folder: the log names
    ``OUT/model``, where the model will be, not ``.OUT.<key>.tmp/model``."""
    from tfprot._io import atomic_folder

    out = tmp_path / "out"
    with caplog.at_level(logging.INFO, logger="tfprot"), atomic_folder(out) as staging:
        trained["classification"]["model"].save_pretrained(staging / "model")
    (message,) = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Saved")]
    assert message == f"Saved the model to {out / 'model'}."
    assert (out / "model" / "tfprot.json").is_file()


# -- predict_sequences ----------------------------------------------------------------------------
@pytest.mark.parametrize("task", TASKS)
def test_predict_keeps_order_across_batches_and_matches_one_sequence_at_a_time(trained, task):
    model = trained[task]["model"]
    batch_tokens = 120
    lengths = np.array([len(s) + 2 for s in SEQUENCES])
    assert len(length_sorted_batches(lengths, batch_tokens)) >= 3
    predictions = model.predict_sequences(SEQUENCES, batch_tokens=batch_tokens, threshold=0.5)
    classes = model.label_encoder.classes
    assert [p.id for p in predictions] == [f"seq{i}" for i in range(len(SEQUENCES))]
    assert [p.sequence for p in predictions] == SEQUENCES
    for sequence, prediction in zip(SEQUENCES, predictions, strict=True):
        logits = _reference_logits(model, sequence)
        if task == "regression":
            assert prediction.probabilities is None
            assert prediction.label == pytest.approx(float(logits[0]), abs=1e-5)
        elif task == "multilabel":
            probabilities = _sigmoid(logits)
            chosen = [c for c, p in zip(classes, probabilities, strict=True) if p > 0.5]
            assert prediction.label == ";".join(chosen)
            np.testing.assert_allclose(
                [prediction.probabilities[c] for c in classes], probabilities, atol=1e-5
            )
        elif task == "classification":
            probabilities = _softmax(logits)
            assert prediction.label == classes[int(probabilities.argmax())]
            assert list(prediction.probabilities) == list(classes)
            np.testing.assert_allclose(
                list(prediction.probabilities.values()), probabilities, atol=1e-5
            )
        else:  # token: special tokens removed, one label per residue
            probabilities = _softmax(logits[1:-1])
            assert len(prediction.label) == len(sequence)
            assert prediction.probabilities.shape == (len(sequence), len(classes))
            assert prediction.label == "".join(classes[i] for i in probabilities.argmax(-1))
            np.testing.assert_allclose(prediction.probabilities, probabilities, atol=1e-5)


def test_multilabel_threshold(trained):
    model = trained["multilabel"]["model"]
    probabilities = np.array(
        [list(p.probabilities.values()) for p in model.predict_sequences(SEQUENCES)]
    )
    threshold = float(np.median(probabilities))
    predictions = model.predict_sequences(SEQUENCES, threshold=threshold)
    counts = []
    for prediction, row in zip(predictions, probabilities, strict=True):
        chosen = [c for c, p in zip(MULTILABEL_CLASSES, row, strict=True) if p > threshold]
        assert prediction.label == ";".join(chosen)
        counts.append(len(chosen))
    assert 0 < sum(counts) < probabilities.size  # the threshold did select, and did reject
    assert all(p.label == "" for p in model.predict_sequences(SEQUENCES, threshold=1.0))
    with pytest.raises(LabelError, match="threshold"):
        model.predict_sequences(SEQUENCES, threshold=1.5)


def test_predict_from_fasta_keeps_ids_and_order(trained, tmp_path):
    model = trained["classification"]["model"]
    ids = [f"sp|P{k:05d}|PROT_{k}" for k in range(len(SEQUENCES))]
    path = tmp_path / "query.fasta"
    path.write_text(
        "".join(f">{i} some description\n{s}\n" for i, s in zip(ids, SEQUENCES, strict=True))
    )
    from_file = model.predict_sequences(path, batch_tokens=120)
    from_list = model.predict_sequences(SEQUENCES)
    assert [p.id for p in from_file] == ids
    assert [p.sequence for p in from_file] == SEQUENCES
    for a, b in zip(from_file, from_list, strict=True):
        assert a.label == b.label
        # Different batches pad differently; oneDNN may sum in another order (~1e-7 relative).
        np.testing.assert_allclose(
            list(a.probabilities.values()), list(b.probabilities.values()), rtol=1e-5, atol=1e-6
        )


def _short_window_model(model):
    """The same weights behind a tokenizer limited to 24 tokens (22 residues)."""
    short = tfprot.ProteinTokenizer.from_pretrained("tiny-esm", max_length=24)
    return ProteinModel(model.transformer, model.task, model.label_encoder, short)


def test_token_predictions_cover_sequences_longer_than_max_length(trained):
    model = _short_window_model(trained["token"]["model"])
    size, overlap = 22, 5
    long = SEQUENCES[0] + SEQUENCES[3]  # 95 residues
    logits = model.predict_logits([long, "GGSW"], window_overlap=overlap, batch_tokens=80)
    assert [x.shape[0] for x in logits] == [len(long), 4]

    # Reference: windows starting every size - overlap residues, the last ending with the
    # sequence; each residue from the window where it is farthest from an edge (ties: later).
    starts = [*range(0, len(long) - size, size - overlap), len(long) - size]
    windows = {s: _reference_logits(model, long[s : s + size])[1:-1] for s in starts}
    for i in range(len(long)):
        best = max(
            (s for s in starts if s <= i < s + size),
            key=lambda s: (min(i - s, s + size - 1 - i), s),
        )
        np.testing.assert_allclose(logits[0][i], windows[best][i - best], atol=1e-5)
    prediction = model.predict_sequences([long], window_overlap=overlap)[0]
    assert len(prediction.label) == len(long)
    assert prediction.probabilities.shape == (len(long), 3)


def test_residue_windows_cover_every_residue_once():
    for length in (1, 21, 22, 23, 60, 95, 400):
        for overlap in (0, 5, 21):
            windows = residue_windows(length, 22, overlap)
            kept = [i for _, lo, hi in windows for i in range(lo, hi)]
            assert kept == list(range(length))
            assert all(
                s <= lo and hi <= s + 22 and s + 22 <= max(length, 22) for s, lo, hi in windows
            )
    with pytest.raises(DataFormatError, match="overlap"):
        residue_windows(50, 22, 22)


def test_sequence_predictions_of_long_sequences_use_the_first_residues(trained, caplog):
    model = _short_window_model(trained["classification"]["model"])
    long = SEQUENCES[0]
    with caplog.at_level(logging.WARNING, logger="tfprot"):
        logits = model.predict_logits([long])[0]
    np.testing.assert_allclose(logits, _reference_logits(model, long[:22]), atol=1e-5)
    assert "truncated" in caplog.text


def test_progress_bar_is_off_by_default_and_on_request(trained, capsys):
    model = trained["classification"]["model"]
    model.predict_sequences(SEQUENCES, batch_tokens=120)  # stderr is captured: not a terminal
    assert capsys.readouterr().err == ""
    model.predict_sequences(SEQUENCES, batch_tokens=120, progress=True)
    err = capsys.readouterr().err
    assert "predict" in err and "batch" in err
    model.predict_sequences(SEQUENCES, batch_tokens=120, progress=False)
    assert capsys.readouterr().err == ""


class _Terminal(io.StringIO):
    def isatty(self):
        return True


_Notebook = type("OutStream", (io.StringIO,), {"__module__": "ipykernel.iostream"})


@pytest.mark.parametrize("stream", [_Terminal, _Notebook])
def test_progress_bar_is_on_by_default_in_a_terminal_or_notebook(stream, monkeypatch):
    fake = stream()
    monkeypatch.setattr("sys.stderr", fake)
    assert list(progress_bar(range(3), None, "predict")) == [0, 1, 2]
    assert "predict" in fake.getvalue() and "3/3" in fake.getvalue()
    fake.seek(0)
    fake.truncate(0)
    assert list(progress_bar(range(1), None, "predict")) == [0]  # one batch: no bar
    assert list(progress_bar(range(3), False, "predict")) == [0, 1, 2]
    assert fake.getvalue() == ""


def test_bad_prediction_input_is_a_tfprot_error(trained):
    model = trained["token"]["model"]
    with pytest.raises(DataFormatError, match="batch_tokens"):
        model.predict_sequences(SEQUENCES, batch_tokens=0)
    with pytest.raises(DataFormatError, match="overlap"):
        model.predict_sequences(SEQUENCES, window_overlap=5000)
    with pytest.raises(DataFormatError, match="empty"):
        model.predict_sequences([])
    with pytest.raises(tfprot.InvalidSequenceError):
        model.predict_sequences(["MKT1"])
