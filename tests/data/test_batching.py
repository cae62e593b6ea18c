from collections import Counter

import numpy as np
import pytest
import tensorflow as tf

from tfprot.data import (
    IGNORE_INDEX,
    Batching,
    LabelEncoder,
    ProteinDataset,
    encode_records,
    from_lists,
    make_tf_dataset,
    padded_fraction,
    plain_batches_padded_fraction,
)
from tfprot.errors import DataFormatError


@pytest.fixture(scope="module")
def membrane(shared_data):
    return ProteinDataset.from_path(shared_data / "multiloc", "classification")


@pytest.fixture(scope="module")
def secondary(shared_data):
    return ProteinDataset.from_path(shared_data / "flip_secondary_structure", "token")


def rows(batch):
    """(tokens without padding, label) of every real row of a batch."""
    features, labels = batch[0], batch[1]
    weights = batch[2].numpy() if len(batch) == 3 else np.ones(len(labels))
    ids, mask = features["input_ids"].numpy(), features["attention_mask"].numpy()
    out = []
    for row in range(len(ids)):
        if weights[row] == 0:
            assert mask[row].sum() == 0
            continue
        label = labels[row].numpy()
        out.append((tuple(ids[row][mask[row] == 1]), label.tobytes()))
    return out


def expected_rows(examples):
    return Counter(
        (tuple(ids), np.asarray(label).tobytes())
        for ids, label in zip(examples.input_ids, examples.labels, strict=False)
    )


def test_bucketed_epoch_respects_the_budget_and_holds_every_example_once(membrane, esm_tokenizer):
    batching = Batching(batch_tokens=4096)
    dataset = membrane.tf_dataset("train", esm_tokenizer, batching)
    examples = membrane.encode("train", esm_tokenizer)
    seen = Counter()
    sizes_by_length = {}
    for batch in dataset:
        batch_size, length = batch[0]["input_ids"].shape
        assert batch_size * length <= 4096
        assert (
            batch[0]["input_ids"].dtype == tf.int32 and batch[0]["attention_mask"].dtype == tf.int32
        )
        assert batch[1].dtype == tf.int32 and batch[1].shape == (batch_size,)
        sizes_by_length.setdefault(length, []).append(batch_size)
        seen.update(rows(batch))
    assert seen == expected_rows(
        examples
    )  # nothing lost, nothing doubled, labels kept with their rows
    short = max(
        size for length, sizes in sizes_by_length.items() if length <= 200 for size in sizes
    )
    long = max(size for length, sizes in sizes_by_length.items() if length >= 800 for size in sizes)
    assert short >= 4096 // 200 > 4096 // 800 >= long  # a batch of short sequences holds more


def test_bucketing_pads_far_less_than_plain_batches_of_8(membrane, esm_tokenizer):
    dataset = membrane.tf_dataset("train", esm_tokenizer, batch_tokens=4096)
    bucketed = padded_fraction(dataset)
    plain = plain_batches_padded_fraction(membrane.encode("train", esm_tokenizer).lengths, 8)
    assert bucketed < 0.10 < plain
    assert bucketed < plain / 4


def test_shuffle_is_seeded_and_changes_every_epoch(esm_tokenizer):
    records = from_lists([("MKT" * (i % 7 + 1)) + "A" * i for i in range(60)], ["a", "b"] * 30)
    data = ProteinDataset(records, "classification", fractions=(1.0, 0.0, 0.0))

    def order(dataset):
        return [tuple(map(tuple, b[0]["input_ids"].numpy())) for b in dataset]

    first = data.tf_dataset("train", esm_tokenizer, batch_tokens=512, seed=3)
    epoch1, epoch2 = order(first), order(first)
    assert epoch1 != epoch2
    assert order(data.tf_dataset("train", esm_tokenizer, batch_tokens=512, seed=3)) == epoch1
    assert order(data.tf_dataset("train", esm_tokenizer, batch_tokens=512, seed=4)) != epoch1
    evaluation = data.tf_dataset("train", esm_tokenizer, batch_tokens=512, shuffle=False)
    assert order(evaluation) == order(evaluation)


def test_token_labels_are_padded_with_ignore_index(secondary, esm_tokenizer):
    dataset = secondary.tf_dataset("test", esm_tokenizer, batch_tokens=8192)
    for features, labels in dataset.take(5):
        assert labels.shape == features["input_ids"].shape
        assert np.all(labels.numpy()[features["attention_mask"].numpy() == 0] == IGNORE_INDEX)


def test_static_shapes_mode_has_a_few_fully_known_shapes_and_loses_nothing(
    secondary, esm_tokenizer
):
    batching = Batching(batch_tokens=8192, static_shapes=True, bucket_lengths=(128, 256, 512, 1024))
    dataset = secondary.tf_dataset("validation", esm_tokenizer, batching)
    examples = secondary.encode("validation", esm_tokenizer, max_length=1024)
    expected_shapes = {(64, 128), (32, 256), (16, 512), (8, 1024)}
    seen, shapes, weight = Counter(), set(), 0.0
    for features, labels, weights in dataset:
        shape = tuple(features["input_ids"].shape)
        assert None not in shape
        assert shape in expected_shapes and labels.shape == shape and weights.shape == (shape[0],)
        assert np.all(labels.numpy()[features["attention_mask"].numpy() == 0] == IGNORE_INDEX)
        shapes.add(shape)
        weight += float(weights.numpy().sum())
        for row in range(shape[0]):
            if weights[row] > 0:
                mask = features["attention_mask"][row].numpy() == 1
                seen[
                    (
                        tuple(features["input_ids"][row].numpy()[mask]),
                        labels[row].numpy()[mask].tobytes(),
                    )
                ] += 1
    assert len(shapes) >= 3
    assert weight == len(examples)
    assert seen == expected_rows(examples)


def test_static_single_bucket_has_a_fully_static_element_spec(membrane, esm_tokenizer):
    dataset = membrane.tf_dataset(
        "test", esm_tokenizer, static_shapes=True, bucket_lengths=(512,), batch_tokens=4096
    )
    features, labels, weights = dataset.element_spec
    assert features["input_ids"].shape == (8, 512) and features["attention_mask"].shape == (8, 512)
    assert labels.shape == (8,) and weights.shape == (8,)
    assert sum(float(w.numpy().sum()) for _, _, w in dataset) == len(membrane.records("test"))


def test_static_drop_remainder_skips_partial_batches(esm_tokenizer):
    records = from_lists(["MKT" * 10] * 10, ["a", "b"] * 5)
    examples = encode_records(records, esm_tokenizer, LabelEncoder("classification", ("a", "b")))
    batching = Batching(
        batch_tokens=4 * 64, static_shapes=True, bucket_lengths=(64,), remainder="drop"
    )
    batches = list(make_tf_dataset(examples, batching))
    assert [tuple(b[0]["input_ids"].shape) for b in batches] == [(4, 64), (4, 64)]


def test_batch_multiple_and_budget_errors(membrane, esm_tokenizer):
    dataset = membrane.tf_dataset(
        "test",
        esm_tokenizer,
        static_shapes=True,
        batch_multiple=8,
        batch_tokens=16384,
        bucket_lengths=(256, 1024),
    )
    assert {b[0]["input_ids"].shape[0] % 8 for b in dataset} == {0}
    with pytest.raises(DataFormatError, match="cannot hold a batch of length"):
        membrane.tf_dataset("test", esm_tokenizer, batch_tokens=100)


def test_features_only_for_prediction(esm_tokenizer):
    examples = encode_records(from_lists(["MKT", "GGSWA"]), esm_tokenizer)
    (batch,) = list(make_tf_dataset(examples, Batching(batch_tokens=64)))
    assert sorted(batch) == ["attention_mask", "input_ids"]


@pytest.mark.parametrize("task", ["classification", "token"])
def test_transformers_tf_models_fit_on_these_datasets(task, secondary, membrane, esm_tokenizer):
    from transformers import EsmConfig, TFEsmForSequenceClassification, TFEsmForTokenClassification

    import tfprot._keras

    keras = tfprot._keras.keras()
    data = membrane if task == "classification" else secondary
    config = EsmConfig(
        vocab_size=33,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=1026,
        pad_token_id=1,
        mask_token_id=32,
        position_embedding_type="rotary",
        token_dropout=True,
        num_labels=data.label_encoder.num_labels,
    )
    model_class = (
        TFEsmForSequenceClassification if task == "classification" else TFEsmForTokenClassification
    )
    model = model_class(config)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3)
    )  # transformers' internal loss from `labels`
    dataset = data.tf_dataset("test", esm_tokenizer, batch_tokens=2048, max_length=256).take(3)
    history = model.fit(dataset, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


@pytest.mark.parametrize(
    "options",
    [
        {"batch_tokens": 4096},
        {"batch_tokens": 4096, "static_shapes": True},
        {"batch_tokens": 4096, "static_shapes": True, "remainder": "drop"},
        {"batch_tokens": 2048, "max_batch_size": 5},
    ],
    ids=["bucketed", "static-pad", "static-drop", "capped"],
)
def test_declared_cardinality_is_the_number_of_batches_every_epoch(
    membrane, esm_tokenizer, options
):
    # Keras reads the epoch length from the cardinality (progress bar, learning-rate schedule);
    # bucketing hides it, so the pipeline declares it: it must match every shuffled epoch.
    dataset = membrane.tf_dataset("train", esm_tokenizer, shuffle=True, **options)
    declared = int(dataset.cardinality())
    assert declared > 0
    for _ in range(2):
        assert sum(1 for _ in dataset) == declared
