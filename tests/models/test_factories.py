"""The factories on real data: each fits ``tiny-esm`` and lowers the loss; FLIP secondary structure
beats the majority class; freezing; the default learning rates; clear errors for bad input.

References are independent of Keras' training plumbing: losses recomputed in numpy from the
model's logits on one fixed, hand-padded batch; accuracy and Spearman from ``predict_logits``
with numpy and scipy; the "changed/unchanged" weights compared value by value.
"""

from __future__ import annotations

import logging
import shutil

import numpy as np
import pytest
from scipy.stats import spearmanr

import tfprot
from tfprot._keras import keras
from tfprot.data.encoding import encode_records
from tfprot.data.labels import IGNORE_INDEX, Task
from tfprot.errors import CheckpointError, DataFormatError, LabelError, TfprotError
from tfprot.models import factories
from tfprot.models.checkpoints import load_transformer

GRADIENT_WARNING = "Gradients do not exist for variables"


# -- helpers ---------------------------------------------------------------------------------
def _fixed_batch(data, model, split="train", n=32):
    """The first ``n`` records of a split as one padded batch, built by hand (no tf.data)."""
    records = data.records(split)[:n]
    encoded = encode_records(records, model.tokenizer, data.label_encoder)
    width = int(encoded.lengths.max())
    ids = np.full((len(records), width), encoded.pad_id, dtype=np.int32)
    mask = np.zeros((len(records), width), dtype=np.int32)
    for row, tokens in enumerate(encoded.input_ids):
        ids[row, : len(tokens)] = tokens
        mask[row, : len(tokens)] = 1
    if data.task == Task.TOKEN:
        labels = np.full((len(records), width), IGNORE_INDEX, dtype=np.int32)
        for row, target in enumerate(encoded.labels):
            labels[row, : len(target)] = target
    else:
        labels = np.asarray(encoded.labels)
    return {"input_ids": ids, "attention_mask": mask}, labels


def _log_softmax(logits):
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def _numpy_loss(task: Task, logits: np.ndarray, labels: np.ndarray) -> float:
    """The task's loss, computed by hand: the mean cross-entropy (over counted residues for
    token tasks), mean binary cross-entropy, or mean squared error."""
    logits = logits.astype(np.float64)
    if task == Task.REGRESSION:
        return float(np.mean((logits - labels) ** 2))
    if task == Task.MULTILABEL:
        terms = np.maximum(logits, 0) - logits * labels + np.log1p(np.exp(-np.abs(logits)))
        return float(terms.mean())
    log_p = _log_softmax(logits)
    counted = labels != IGNORE_INDEX
    safe = np.where(counted, labels, 0)
    picked = np.take_along_axis(log_p, safe[..., None], axis=-1)[..., 0]
    return float(-(picked * counted).sum() / counted.sum())


def _loss_on(model, batch) -> float:
    features, labels = batch
    return _numpy_loss(model.task, model(features, training=False).numpy(), labels)


def _weights(model) -> dict[str, np.ndarray]:
    return {w.name: w.numpy().copy() for w in model.weights}


def _changed(before, model) -> set[str]:
    return {w.name for w in model.weights if not np.array_equal(before[w.name], w.numpy())}


def _peak_learning_rate(model) -> float:
    schedule = model.optimizer.get_config()["learning_rate"]
    return float(schedule["config"]["peak"])


@pytest.fixture
def tf_warnings():
    """Messages of the ``tensorflow`` logger, where tf_keras' optimizer warns about missing
    gradients (``tf_logging.warning`` at trace time). A handler on that logger itself catches them
    whatever its propagation or the root logger's handlers; its level is set to WARNING for the
    test (a user's ``tf.get_logger().setLevel(ERROR)`` would hide the warning)."""
    messages: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record):
            messages.append(record.getMessage())

    handler = Collect(level=logging.WARNING)
    tf_logger = logging.getLogger("tensorflow")
    level = tf_logger.level
    tf_logger.addHandler(handler)
    tf_logger.setLevel(logging.WARNING)
    yield messages
    tf_logger.removeHandler(handler)
    tf_logger.setLevel(level)


def _gradient_warnings(messages):
    return [m for m in messages if GRADIENT_WARNING in m]


@pytest.fixture(scope="module")
def pretrained_folder(tmp_path_factory):
    """A local checkpoint folder as a pretrained backbone is distributed: a bare ESM-2 encoder
    (``TFEsmModel``, tiny, random weights) saved with ``save_pretrained``, and its tokenizer."""
    folder = tmp_path_factory.mktemp("checkpoint") / "tiny_backbone"
    loaded = load_transformer("tiny-esm", None)
    loaded.model.save_pretrained(str(folder))
    tfprot.ProteinTokenizer.from_pretrained("tiny-esm").save_pretrained(folder)
    embeddings = loaded.model.esm.embeddings.word_embeddings.weights[0].numpy()
    return folder, embeddings


@pytest.fixture(scope="module")
def untrained_classifier(cytosol_membrane):
    return tfprot.sequence_classifier("tiny-esm", cytosol_membrane, precision="float32")


# -- each factory fits real data ---------------------------------------------------------------
def test_factories_are_exported_from_tfprot():
    for name in ("sequence_classifier", "sequence_regressor", "token_classifier"):
        assert getattr(tfprot, name) is getattr(factories, name)
        assert name in tfprot.__all__


def test_sequence_classifier_fits_cytosol_membrane(cytosol_membrane, tf_warnings):
    model = tfprot.sequence_classifier("tiny-esm", cytosol_membrane, precision="float32")
    assert model.task == Task.CLASSIFICATION
    assert model.label_encoder.classes == ("cytoplasmic", "plasma_membrane")
    batch = _fixed_batch(cytosol_membrane, model)
    before = _loss_on(model, batch)
    train = cytosol_membrane.tf_dataset("train", model.tokenizer, batch_tokens=4096)
    model.fit(train, epochs=4, verbose=0)
    after = _loss_on(model, batch)
    assert after < before - 0.02, (before, after)
    # Default options: the contact head and rotary position table are out of the gradient list.
    assert _gradient_warnings(tf_warnings) == []


def test_multilabel_classifier_fits_and_evaluates_multiloc(multiloc, tf_warnings):
    """MultiLoc read as multilabel: the real single-location records, each a one-class set."""
    records = [r for split in ("train", "validation", "test") for r in multiloc.records(split)]
    data = tfprot.ProteinDataset(records, "multilabel", name="multiloc_multilabel")
    model = tfprot.sequence_classifier("tiny-esm", data, multi_label=True, precision="float32")
    assert model.task == Task.MULTILABEL and len(model.label_encoder.classes) == 11
    batch = _fixed_batch(data, model)
    before = _loss_on(model, batch)
    model.fit(data.tf_dataset("train", model.tokenizer, batch_tokens=8192), epochs=2, verbose=0)
    after = _loss_on(model, batch)
    assert after < before - 0.05, (before, after)
    assert _gradient_warnings(tf_warnings) == []

    scores = model.evaluate(
        data.tf_dataset("test", model.tokenizer, batch_tokens=8192), return_dict=True, verbose=0
    )
    test = data.records("test")
    logits = np.stack(model.predict_logits(test, progress=False))
    targets = np.stack([data.label_encoder.encode(r) for r in test])
    assert scores["loss"] == pytest.approx(_numpy_loss(Task.MULTILABEL, logits, targets), rel=1e-4)
    decisions_right = np.mean((logits > 0) == (targets > 0.5))
    assert scores["accuracy"] == pytest.approx(decisions_right, abs=1e-6)


def test_sequence_regressor_fits_gb1_and_reports_spearman(gb1, tf_warnings):
    model = tfprot.sequence_regressor("tiny-esm", gb1, precision="float32")
    assert model.task == Task.REGRESSION
    batch = _fixed_batch(gb1, model)
    before = _loss_on(model, batch)
    model.fit(gb1.tf_dataset("train", model.tokenizer, batch_tokens=8192), epochs=3, verbose=0)
    after = _loss_on(model, batch)
    assert after < 0.5 * before, (before, after)
    assert _gradient_warnings(tf_warnings) == []

    test_data = gb1.tf_dataset("test", model.tokenizer, batch_tokens=8192)
    scores = model.evaluate(test_data, return_dict=True, verbose=0)
    test = gb1.records("test")
    predictions = np.array(model.predict_logits(test, progress=False), dtype=np.float64)
    targets = np.array([gb1.label_encoder.encode(r) for r in test], dtype=np.float64)
    assert np.std(predictions) > 0  # not a constant: Spearman is defined
    assert scores["loss"] == pytest.approx(np.mean((predictions - targets) ** 2), rel=1e-4)
    # Spearman against scipy on the very predictions evaluate saw (the same batches: other
    # batches pad differently, and float rounding can swap near-tied ranks); the metric ranks
    # and sums in float32 over every test pair (tests/models/test_metrics.py holds it to a
    # relative 1e-5 on small inputs).
    seen = [(model(x, training=False).numpy(), y.numpy()) for x, y in test_data]
    seen_predictions = np.concatenate([p for p, _ in seen]).astype(np.float64)
    seen_targets = np.concatenate([t for _, t in seen]).astype(np.float64)
    assert sorted(seen_targets) == pytest.approx(sorted(targets))  # every test record, once
    assert scores["spearman"] == pytest.approx(
        spearmanr(seen_targets, seen_predictions)[0], abs=1e-3
    )
    assert spearmanr(targets, predictions)[0] == pytest.approx(scores["spearman"], abs=5e-3)


@pytest.mark.slow
def test_token_classifier_beats_majority_on_flip_secondary_structure(
    secondary_structure, tf_warnings
):
    """A short CPU run (6 epochs over 400 FLIP chains <= 300 residues, the default 1e-3 learning
    rate of random presets) beats the majority class per residue on the held-out test chains.

    Measured (seeds 0-2, 6-10 epochs): Q3 0.53-0.54 against the majority ('H') 0.377.
    """
    keras().utils.set_random_seed(0)
    data = secondary_structure
    model = tfprot.token_classifier("tiny-esm", data, precision="float32")
    assert model.label_encoder.classes == ("C", "E", "H")
    batch = _fixed_batch(data, model)
    before = _loss_on(model, batch)
    model.fit(data.tf_dataset("train", model.tokenizer, batch_tokens=8192), epochs=6, verbose=0)
    after = _loss_on(model, batch)
    assert after < before - 0.1, (before, after)
    assert _gradient_warnings(tf_warnings) == []

    test = data.records("test")
    logits = model.predict_logits(test, progress=False)
    truth = np.concatenate([data.label_encoder.encode(r) for r in test])
    predicted = np.concatenate([values.argmax(axis=-1) for values in logits])
    counted = truth != IGNORE_INDEX
    accuracy = float(np.mean(predicted[counted] == truth[counted]))
    baseline = data.majority_baseline("test")["accuracy"]
    scores = model.evaluate(
        data.tf_dataset("test", model.tokenizer, batch_tokens=8192), return_dict=True, verbose=0
    )
    assert scores["accuracy"] == pytest.approx(accuracy, abs=1e-6)
    assert accuracy > baseline + 0.08, (accuracy, baseline)


# -- freezing ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("trainable_layers", "trained"),
    [
        (0, ("/classifier/",)),
        (1, ("/classifier/", "/layer_._1/", "/emb_layer_norm_after/")),
    ],
)
def test_trainable_layers_train_only_the_head_and_top_layers(
    cytosol_membrane, tf_warnings, trainable_layers, trained
):
    model = tfprot.sequence_classifier(
        "tiny-esm",
        cytosol_membrane,
        precision="float32",
        trainable_layers=trainable_layers,
        learning_rate=1e-2,
    )
    expected = {
        w.name
        for w in model.weights
        if any(part in w.name for part in trained) and "inv_freq" not in w.name  # a constant
    }
    assert expected and {w.name for w in model.trainable_weights} == expected
    before = _weights(model)
    train = cytosol_membrane.tf_dataset("train", model.tokenizer, batch_tokens=4096)
    model.fit(train.take(3), verbose=0)
    # Every trainable weight moved, nothing else did (embeddings, lower layers, contact head).
    assert _changed(before, model) == expected
    assert model.info["trainable_layers"] == trainable_layers
    assert _gradient_warnings(tf_warnings) == []


@pytest.mark.parametrize("value", [-1, True, 1.5, "1"])
def test_trainable_layers_of_the_wrong_kind_are_refused(value):
    with pytest.raises(factories.OptionError, match="trainable_layers") as caught:
        tfprot.sequence_classifier("tiny-esm", ["a", "b"], trainable_layers=value)
    assert isinstance(caught.value, TfprotError) and isinstance(caught.value, ValueError)
    assert repr(value) in str(caught.value) or str(value) in str(caught.value)


def test_trainable_layers_accepts_numpy_integers():
    model = tfprot.token_classifier(
        "tiny-esm", ["C", "E", "H"], precision="float32", trainable_layers=np.int64(0)
    )
    assert {w.name.split("/")[-2] for w in model.trainable_weights} == {"classifier"}


def test_trainable_layers_above_the_depth_are_refused():
    with pytest.raises(factories.OptionError, match=r"between 0 and 2 .*got 3"):
        tfprot.sequence_classifier("tiny-esm", ["a", "b"], precision="float32", trainable_layers=3)


def test_unused_weights_warn_without_the_silencing(cytosol_membrane, tf_warnings, monkeypatch):
    """The warning the factories prevent is real: skip ``_silence_unused_weights`` and tf_keras
    names the contact head and the rotary model's absolute position table on the first step."""
    monkeypatch.setattr(factories, "_silence_unused_weights", lambda transformer: None)
    model = tfprot.sequence_classifier("tiny-esm", cytosol_membrane, precision="float32")
    train = cytosol_membrane.tf_dataset("train", model.tokenizer, batch_tokens=4096)
    model.fit(train.take(1), verbose=0)
    warnings = _gradient_warnings(tf_warnings)
    assert warnings
    assert "contact_head" in warnings[0] and "position_embeddings" in warnings[0]


# -- learning rate and compile options ---------------------------------------------------------
def test_random_presets_get_the_larger_default_learning_rate(caplog):
    with caplog.at_level(logging.INFO, logger="tfprot.models.factories"):
        model = tfprot.token_classifier("tiny-esm", ["C", "E", "H"], precision="float32")
    assert _peak_learning_rate(model) == pytest.approx(1e-3)
    assert model.info["pretrained"] is False
    assert "Learning rate 0.001: the default for randomly initialised weights" in caplog.text


def test_pretrained_checkpoints_get_a_fine_tuning_learning_rate(pretrained_folder, caplog):
    folder, saved_embeddings = pretrained_folder
    with caplog.at_level(logging.INFO, logger="tfprot.models.factories"):
        model = tfprot.sequence_classifier(folder, ["a", "b"], precision="float32")
    assert model.info["pretrained"] is True
    # The backbone comes from the folder (not a fresh random one).
    loaded = model.transformer.esm.embeddings.word_embeddings.weights[0].numpy()
    np.testing.assert_array_equal(loaded, saved_embeddings)
    assert _peak_learning_rate(model) == pytest.approx(5e-5)
    assert "Learning rate 5e-05: the default for pretrained weights" in caplog.text


def test_a_given_learning_rate_wins_and_is_logged(caplog):
    with caplog.at_level(logging.INFO, logger="tfprot.models.factories"):
        model = tfprot.sequence_regressor("tiny-esm", precision="float32", learning_rate=3e-4)
    assert _peak_learning_rate(model) == pytest.approx(3e-4)
    assert "Learning rate 0.0003 (given)" in caplog.text
    with pytest.raises(factories.OptionError, match="learning_rate must be positive"):
        tfprot.sequence_regressor("tiny-esm", precision="float32", learning_rate=0.0)


def test_compile_model_overrides_optimizer_loss_and_metrics(gb1):
    model = tfprot.sequence_regressor("tiny-esm", gb1, precision="float32")
    sgd = keras().optimizers.SGD(learning_rate=1e-3)
    factories.compile_model(
        model,
        optimizer=sgd,
        loss=keras().losses.MeanAbsoluteError(),
        metrics=[keras().metrics.MeanSquaredError(name="mse")],
    )
    features, targets = _fixed_batch(gb1, model, n=8)
    predictions = model(features, training=False).numpy()
    scores = model.test_on_batch(features, targets, return_dict=True)
    assert set(scores) == {"loss", "mse"}  # the defaults (spearman, mae) are replaced
    assert scores["loss"] == pytest.approx(np.mean(np.abs(predictions - targets)), rel=1e-5)
    assert scores["mse"] == pytest.approx(np.mean((predictions - targets) ** 2), rel=1e-5)
    model.train_on_batch(features, targets)
    assert model.optimizer is sgd and int(sgd.iterations.numpy()) == 1


def test_default_metrics_are_weighted(untrained_classifier):
    """The default metrics go to ``weighted_metrics``: zero-weight (filler) rows do not count."""
    model = untrained_classifier
    data_batch = np.array([[0, 20, 15, 11, 2], [0, 6, 6, 8, 2]], dtype=np.int32)
    features = {"input_ids": data_batch, "attention_mask": np.ones_like(data_batch)}
    predicted = model(features, training=False).numpy().argmax(axis=-1)
    # Row 0 labelled right, row 1 wrong, but row 1 weighs 0: accuracy is 1.
    labels = np.array([predicted[0], 1 - predicted[1]], dtype=np.int32)
    scores = model.test_on_batch(
        features, labels, sample_weight=np.array([1.0, 0.0]), return_dict=True
    )
    assert scores["accuracy"] == pytest.approx(1.0)


# -- bad input ----------------------------------------------------------------------------------
def test_an_unknown_label_in_evaluation_data_names_the_record(untrained_classifier, multiloc):
    """MultiLoc's ER proteins (real records, ER.fasta) against the vocabulary of a model trained
    on cytoplasmic vs plasma membrane."""
    records = [r for split in ("train", "validation", "test") for r in multiloc.records(split)]
    er = [r for r in records if r.label == "ER"]
    with pytest.raises(LabelError) as caught:
        tfprot.ProteinDataset(er, label_encoder=untrained_classifier.label_encoder)
    message = str(caught.value)
    named = [r.id for r in er if f"id {r.id!r}" in message]
    assert len(named) == 1 and "ER.fasta, line " in message
    assert "unknown label 'ER'" in message and "['cytoplasmic', 'plasma_membrane']" in message
    assert "retrain" in message


def test_per_residue_labels_of_the_wrong_length_name_the_record(secondary_structure, tmp_path):
    """A FLIP folder whose label line is one residue short."""
    record = secondary_structure.records("train")[0]
    (tmp_path / "sequences.fasta").write_text(f">{record.id}\n{record.sequence}\n")
    labels = "".join(record.residue_labels)[:-1]
    (tmp_path / "sampled.fasta").write_text(f">{record.id} SET=train VALIDATION=False\n{labels}\n")
    with pytest.raises(DataFormatError) as caught:
        tfprot.read_flip(tmp_path, split="sampled")
    message = str(caught.value)
    assert "sampled.fasta" in message and record.id in message
    assert str(len(record.sequence)) in message and str(len(labels)) in message


def test_empty_input_is_refused(untrained_classifier):
    with pytest.raises(DataFormatError, match="input is empty"):
        untrained_classifier.predict_sequences([])
    with pytest.raises(LabelError, match="labels is empty.*class names"):
        tfprot.sequence_classifier("tiny-esm", [])
    with pytest.raises(LabelError, match="labels is empty"):
        tfprot.token_classifier("tiny-esm", ())


def test_labels_as_one_string_are_refused():
    with pytest.raises(LabelError, match=r"got the string 'HEC'.*list\('HEC'\)"):
        tfprot.token_classifier("tiny-esm", "HEC")
    with pytest.raises(LabelError, match="class names, a LabelEncoder or a ProteinDataset"):
        tfprot.sequence_classifier("tiny-esm", None)


def test_a_task_mismatch_names_the_data_and_the_factory(cytosol_membrane, gb1):
    with pytest.raises(LabelError) as caught:
        tfprot.token_classifier("tiny-esm", cytosol_membrane)
    message = str(caught.value)
    assert "'cytosol_membrane_short'" in message and "'classification'" in message
    assert "Use sequence_classifier for this data" in message
    with pytest.raises(LabelError, match=r"Use sequence_regressor.*task='multilabel'"):
        tfprot.sequence_classifier("tiny-esm", gb1, multi_label=True)
    with pytest.raises(LabelError, match=r"label encoder is for a 'classification' task"):
        tfprot.sequence_regressor("tiny-esm", cytosol_membrane.label_encoder)


@pytest.mark.parametrize(
    ("remove", "named"),
    [
        (("tf_model.h5",), "no weights"),
        (("config.json",), "no config.json"),
        (("vocab.txt", "tokenizer_config.json", "special_tokens_map.json"), "no tokenizer files"),
    ],
)
def test_a_checkpoint_folder_missing_files_says_which(pretrained_folder, tmp_path, remove, named):
    source, _ = pretrained_folder
    folder = tmp_path / "broken"
    shutil.copytree(source, folder)
    for name in remove:
        (folder / name).unlink()
    with pytest.raises(CheckpointError) as caught:
        tfprot.sequence_classifier(folder, ["a", "b"], precision="float32")
    message = str(caught.value)
    assert str(folder) in message and named in message and "save_pretrained" in message


def test_a_missing_checkpoint_folder_is_reported(tmp_path):
    with pytest.raises(CheckpointError, match="no such checkpoint folder"):
        tfprot.sequence_classifier(tmp_path / "nothing_here", ["a", "b"], precision="float32")
