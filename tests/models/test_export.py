"""SavedModel export: loaded with ``tf.saved_model.load``, the serving signatures match the Keras
model on a padded batch; int32 is the declared dtype, int64 ids (numpy's default, 🤗 datasets)
work through ``serving_int64``, through the loaded object's plain call, and through the Keras
model itself.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import tensorflow as tf  # tests/models/conftest.py imported tfprot first: Keras 2

import tfprot
from tfprot.data.batching import pad_batch
from tfprot.errors import CheckpointError

SEQUENCES = ["MKTAYIAKQRQISFVKSHFSRQ", "GGSW", "MSDNELQKLAEQLK"]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Per task: the Keras model, its padded test batch, the export folder and the loaded
    SavedModel."""
    out = {}
    for task in ("classification", "token"):
        if task == "token":
            model = tfprot.token_classifier("tiny-esm", ["C", "E", "H"], precision="float32")
        else:
            model = tfprot.sequence_classifier(
                "tiny-esm", ["cytosol", "membrane", "nucleus"], precision="float32"
            )
        ids = [model.tokenizer.encode(s) for s in SEQUENCES]
        batch = pad_batch(ids, np.arange(len(ids)), model.tokenizer.pad_id)
        folder = model.export_saved_model(tmp_path_factory.mktemp(task) / "serving")
        out[task] = {
            "model": model,
            "batch": batch,
            "folder": folder,
            "loaded": tf.saved_model.load(str(folder)),
        }
    return out


def _softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


@pytest.mark.parametrize("task", ["classification", "token"])
def test_serving_default_matches_the_keras_model(exported, task):
    entry = exported[task]
    batch = entry["batch"]
    expected = entry["model"](batch, training=False).numpy()
    assert expected.shape[:2] == ((3, batch["input_ids"].shape[1]) if task == "token" else (3, 3))
    serve = entry["loaded"].signatures["serving_default"]
    outputs = serve(
        input_ids=tf.constant(batch["input_ids"], tf.int32),
        attention_mask=tf.constant(batch["attention_mask"], tf.int32),
    )
    assert outputs["logits"].dtype == tf.float32
    np.testing.assert_allclose(outputs["logits"].numpy(), expected, atol=1e-5)
    np.testing.assert_allclose(outputs["probabilities"].numpy(), _softmax(expected), atol=1e-5)


@pytest.mark.parametrize("task", ["classification", "token"])
def test_int64_ids_work_through_the_int64_signature_and_the_plain_call(exported, task):
    entry = exported[task]
    batch = {k: v.astype(np.int64) for k, v in entry["batch"].items()}  # numpy's default ints
    expected = entry["model"](entry["batch"], training=False).numpy()
    loaded = entry["loaded"]
    by_signature = loaded.signatures["serving_int64"](
        input_ids=tf.constant(batch["input_ids"]),
        attention_mask=tf.constant(batch["attention_mask"]),
    )
    np.testing.assert_allclose(by_signature["logits"].numpy(), expected, atol=1e-5)
    for dtype in (np.int64, np.int32):  # the plain call keeps both traces
        called = loaded(batch["input_ids"].astype(dtype), batch["attention_mask"].astype(dtype))
        np.testing.assert_allclose(called["logits"].numpy(), expected, atol=1e-5)
    # The Keras model casts int64 inputs too, in a direct call and (one task: it traces) predict.
    np.testing.assert_allclose(entry["model"](batch).numpy(), expected, atol=1e-5)
    if task == "classification":
        predicted = entry["model"].predict(batch, verbose=0)
        np.testing.assert_allclose(predicted, expected, atol=1e-5)


def test_ids_from_a_hf_dataset_are_int64_and_serve(exported):
    import datasets

    entry = exported["classification"]
    rows = datasets.Dataset.from_dict(
        {k: v.tolist() for k, v in entry["batch"].items()}
    ).with_format("numpy")
    columns = {k: np.stack(rows[k]) for k in ("input_ids", "attention_mask")}
    assert columns["input_ids"].dtype == np.int64
    expected = entry["model"](entry["batch"]).numpy()
    outputs = entry["loaded"].signatures["serving_int64"](
        **{k: tf.constant(v) for k, v in columns.items()}
    )
    np.testing.assert_allclose(outputs["logits"].numpy(), expected, atol=1e-5)
    called = entry["loaded"](columns["input_ids"], columns["attention_mask"])
    np.testing.assert_allclose(called["logits"].numpy(), expected, atol=1e-5)


def test_signature_dtypes_as_saved_model_cli_shows_them(exported):
    # What ``saved_model_cli show --all`` reads: the MetaGraphDef's signature_def.
    from tensorflow.python.tools import saved_model_utils

    meta = saved_model_utils.get_meta_graph_def(str(exported["token"]["folder"]), "serve")
    signatures = meta.signature_def
    assert set(signatures) >= {"serving_default", "serving_int64"}
    for name, dtype in (("serving_default", tf.int32), ("serving_int64", tf.int64)):
        inputs = signatures[name].inputs
        assert set(inputs) == {"input_ids", "attention_mask"}
        for tensor in inputs.values():
            assert tensor.dtype == dtype.as_datatype_enum
            assert [d.size for d in tensor.tensor_shape.dim] == [-1, -1]
        outputs = signatures[name].outputs
        assert set(outputs) == {"logits", "probabilities"}
        assert all(t.dtype == tf.float32.as_datatype_enum for t in outputs.values())
        assert [d.size for d in outputs["logits"].tensor_shape.dim] == [-1, -1, 3]


def test_labels_and_tokenizer_travel_with_the_export(exported):
    entry = exported["token"]
    folder, model = entry["folder"], entry["model"]
    labels = json.loads((folder / "labels.json").read_text())
    assert labels == {
        "task": "token",
        "id2label": {"0": "C", "1": "E", "2": "H"},
        "residue_offset": 1,
        "pad_id": 1,
        "max_length": 1024,
    }
    tokenizer = tfprot.ProteinTokenizer.from_pretrained(folder / "tokenizer")
    for sequence in SEQUENCES:
        np.testing.assert_array_equal(tokenizer.encode(sequence), model.tokenizer.encode(sequence))


def test_the_export_needs_no_tfprot_op(exported):
    """tfprot's CPU ops (attention, layer norm, GELU, QKV heads) are custom ops: an export holds
    TensorFlow's own kernels, so that TF Serving or a process without tfprot loads it. The model
    ran the ops (when this machine builds them) before the export, so the export is what turned
    them off. Which ops a trace uses depends on the code path (attention: not on the AVX2 and
    portable loops); the layer norm op runs on every path."""
    from tfprot.models import cpu_ops

    for entry in exported.values():
        graph = (entry["folder"] / "saved_model.pb").read_bytes()
        assert b"MatMul" in graph and b"Softmax" in graph
        assert b"Tfprot" not in graph
        if cpu_ops.status().available:
            traced = tf.function(entry["model"].__call__).get_concrete_function(entry["batch"])
            used = {op.type for op in traced.graph.get_operations()}
            assert "TfprotLayerNorm" in used
            attention_pays = cpu_ops.HEAD_SIZE_LIMITS[cpu_ops.status().code_path].limit(
                tf.as_dtype(entry["model"].transformer.compute_dtype), training=False
            )
            head_size = entry["model"].transformer.config.hidden_size // (
                entry["model"].transformer.config.num_attention_heads
            )
            assert ("TfprotAttention" in used) == (head_size <= attention_pays)


def test_export_replaces_a_previous_export_but_not_a_foreign_folder(exported, tmp_path):
    entry = exported["classification"]
    (tmp_path / "data.csv").write_text("keep me")
    with pytest.raises(CheckpointError, match="not a SavedModel"):
        entry["model"].export_saved_model(tmp_path)
    assert (tmp_path / "data.csv").read_text() == "keep me"
    # Re-exporting over an export is allowed (atomic replace).
    folder = entry["model"].export_saved_model(entry["folder"])
    assert (folder / "saved_model.pb").is_file()
    assert sorted(p.name for p in folder.parent.iterdir()) == ["serving"]
