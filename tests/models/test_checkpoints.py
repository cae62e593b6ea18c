"""Loading checkpoints (presets, folders, Hub ids, PyTorch or TF weights) and the errors when a
checkpoint cannot be had: fast, clear, a :class:`CheckpointError` naming what is missing."""

from __future__ import annotations

import json
import logging
import shutil
import socket
import time

import numpy as np
import pytest

import tfprot
from tfprot import CheckpointError, ProteinTokenizer, Task
from tfprot.models.checkpoints import load_transformer, tiny_config
from tfprot.presets import PRESETS, resolve_preset

LABELS = ["cytoplasmic", "plasma_membrane"]
FAST = 5.0
"""Seconds within which an unreachable Hub must be reported."""
SEQUENCES = ["MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ", "GGSW", "MDEKLLVVAAAGGKKPW"]


# -- fixtures --------------------------------------------------------------------------------
def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # closed when the block ends: nothing listens there


@pytest.fixture
def offline_hub(monkeypatch, tmp_path):
    """The Hub at a closed port on 127.0.0.1 and an empty 🤗 cache: deterministic, no network.
    huggingface_hub and transformers read the endpoint and cache at import, so their module
    constants are patched as well as the variables. Returns the cache folder."""
    from huggingface_hub import constants, file_download
    from transformers.utils import hub

    endpoint = f"http://127.0.0.1:{_closed_port()}"
    cache = tmp_path / "hf_cache"
    cache.mkdir()
    monkeypatch.setenv("HF_ENDPOINT", endpoint)
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    template = endpoint + "/{repo_id}/resolve/{revision}/{filename}"
    monkeypatch.setattr(constants, "ENDPOINT", endpoint)
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", template)
    monkeypatch.setattr(file_download, "HUGGINGFACE_CO_URL_TEMPLATE", template)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(hub, "TRANSFORMERS_CACHE", str(cache))
    monkeypatch.setattr(hub, "HUGGINGFACE_CO_RESOLVE_ENDPOINT", endpoint)
    return cache


@pytest.fixture(scope="module")
def tiny_tf_folder(tmp_path_factory):
    """A 2-label tiny ESM-2 classifier saved by tfprot (TF weights, tokenizer, convention)."""
    folder = tmp_path_factory.mktemp("tiny_tf")
    model = tfprot.sequence_classifier("tiny-esm", LABELS, precision="float32", compile=False)
    model.transformer.save_pretrained(str(folder), safe_serialization=False)  # tf_model.h5
    model.tokenizer.save_pretrained(folder)
    return model, folder


def _copy(source, target, names):
    target.mkdir(parents=True)
    for name in names:
        shutil.copy(source / name, target / name)
    return target


def _logits(model):
    """Eager logits of one sequence (no tf.function trace: keeps the test fast)."""
    ids = model.tokenizer.encode(SEQUENCES[0])[None, :]
    return model({"input_ids": ids, "attention_mask": np.ones_like(ids)}).numpy()


def _tokenizer_files(folder):
    return [p.name for p in folder.iterdir() if p.name not in ("config.json", "tf_model.h5")]


# -- presets ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "checkpoint"),
    [
        ("esm2_t6_8M", "facebook/esm2_t6_8M_UR50D"),
        ("esm2_t12_35M", "facebook/esm2_t12_35M_UR50D"),
        ("esm2_t30_150M", "facebook/esm2_t30_150M_UR50D"),
        ("esm2_t33_650M", "facebook/esm2_t33_650M_UR50D"),
        ("ESM2-T36-3B", "facebook/esm2_t36_3B_UR50D"),
        ("prot_bert", "Rostlab/prot_bert"),
    ],
)
def test_presets_resolve_to_hub_checkpoints(name, checkpoint):
    assert resolve_preset(name).checkpoint == checkpoint


def test_a_preset_is_loaded_from_its_hub_checkpoint(offline_hub):
    """The preset name never reaches the Hub itself: the error names the checkpoint it maps to."""
    with pytest.raises(CheckpointError, match="facebook/esm2_t6_8M_UR50D"):
        load_transformer("esm2_t6_8M", Task.CLASSIFICATION, num_labels=2)
    with pytest.raises(CheckpointError, match="facebook/esm2_t6_8M_UR50D"):
        ProteinTokenizer.from_pretrained("esm2_t6_8M")


def test_tiny_preset_is_built_offline_and_says_it_is_untrained(caplog):
    with caplog.at_level(logging.WARNING, logger="tfprot"):
        loaded = load_transformer("tiny-esm", Task.TOKEN, id2label={0: "C", 1: "E", 2: "H"})
    assert not loaded.pretrained and loaded.checkpoint == "tiny-esm"
    assert type(loaded.model).__name__ == "TFEsmForTokenClassification"
    assert loaded.model.config.id2label == {0: "C", 1: "E", 2: "H"}
    untrained = [r for r in caplog.records if "UNTRAINED" in r.getMessage()]
    assert len(untrained) == 1 and untrained[0].levelno == logging.WARNING
    assert "tiny-esm" in untrained[0].getMessage()
    assert "esm2_t6_8M" in untrained[0].getMessage()  # says what to use instead
    expected = tiny_config(PRESETS["tiny-esm"])
    assert loaded.model.config.hidden_size == expected.hidden_size == 64


# -- the Hub ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "load",
    [
        lambda name: tfprot.sequence_classifier(name, LABELS),
        lambda name: tfprot.token_classifier(name, ["C", "E", "H"]),
        lambda name: tfprot.embed(name, SEQUENCES),
        lambda name: ProteinTokenizer.from_pretrained(name),
    ],
    ids=["sequence_classifier", "token_classifier", "embed", "tokenizer"],
)
def test_unreachable_hub_fails_fast_and_says_what_to_do(offline_hub, load):
    start = time.perf_counter()
    with pytest.raises(CheckpointError) as caught:
        load("tfprot-tests/not-cached")
    elapsed = time.perf_counter() - start
    message = str(caught.value)
    assert elapsed < FAST, f"the error took {elapsed:.1f} s"
    assert "Cannot reach the Hugging Face Hub" in message and "127.0.0.1" in message
    assert "'tfprot-tests/not-cached'" in message
    assert "local folder" in message and "tiny-esm" in message  # what to do instead
    assert isinstance(caught.value, OSError)  # except OSError still works


def test_a_hub_id_in_the_local_cache_loads_without_the_hub(offline_hub, tiny_tf_folder):
    """A checkpoint downloaded earlier (laid out as the 🤗 cache does) needs no network."""
    original, folder = tiny_tf_folder
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = offline_hub / "models--tfprot-tests--cached"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    shutil.copytree(folder, repo / "snapshots" / commit)

    start = time.perf_counter()
    model = tfprot.sequence_classifier("tfprot-tests/cached", LABELS, precision="float32")
    assert time.perf_counter() - start < 30
    assert model.info["base_checkpoint"] == "tfprot-tests/cached" and model.info["pretrained"]
    np.testing.assert_allclose(_logits(model), _logits(original), atol=1e-6)


def test_a_partly_cached_hub_id_still_reports_the_unreachable_hub(offline_hub, tiny_tf_folder):
    """Config in the cache but no weights: the Hub is needed, and it is unreachable."""
    commit = "89abcdef0123456789abcdef0123456789abcdef"
    repo = offline_hub / "models--tfprot-tests--partial"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    _copy(tiny_tf_folder[1], repo / "snapshots" / commit, ["config.json"])
    with pytest.raises(CheckpointError, match="Cannot reach the Hugging Face Hub"):
        load_transformer("tfprot-tests/partial", Task.CLASSIFICATION)


# -- local folders ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "load",
    [
        lambda folder: tfprot.sequence_classifier(folder, LABELS),
        lambda folder: tfprot.token_classifier(folder, ["C", "E", "H"]),
        lambda folder: tfprot.embed(folder, SEQUENCES),
    ],
    ids=["sequence_classifier", "token_classifier", "embed"],
)
def test_folder_without_weights_names_the_folder_and_the_weights(tiny_tf_folder, tmp_path, load):
    source = tiny_tf_folder[1]
    folder = _copy(source, tmp_path / "no_weights", ["config.json", *_tokenizer_files(source)])
    with pytest.raises(CheckpointError) as caught:
        load(folder)
    message = str(caught.value)
    assert str(folder) in message and "no weights" in message and "tf_model.h5" in message
    assert "config.json" in message  # what it holds
    assert "no config.json" not in message


def test_folder_without_tokenizer_names_the_tokenizer_files(tiny_tf_folder, tmp_path):
    folder = _copy(tiny_tf_folder[1], tmp_path / "no_tokenizer", ["config.json", "tf_model.h5"])
    with pytest.raises(CheckpointError) as caught:
        tfprot.sequence_classifier(folder, LABELS, precision="float32", compile=False)
    message = str(caught.value)
    assert str(folder) in message and "tokenizer" in message and "vocab.txt" in message
    assert "no weights" not in message


def test_empty_folder_names_everything_missing(tmp_path):
    with pytest.raises(CheckpointError, match="no config.json and no weights") as caught:
        load_transformer(tmp_path, Task.CLASSIFICATION)
    assert str(tmp_path) in str(caught.value) and "It holds []" in str(caught.value)
    with pytest.raises(CheckpointError, match="no tokenizer files"):
        ProteinTokenizer.from_pretrained(tmp_path)


def test_unreadable_config_is_a_checkpoint_error(tiny_tf_folder, tmp_path):
    folder = _copy(tiny_tf_folder[1], tmp_path / "broken", ["config.json", "tf_model.h5"])
    (folder / "config.json").write_text("{ not json")
    with pytest.raises(
        CheckpointError, match="cannot load the model from this local folder"
    ) as caught:
        load_transformer(folder, Task.CLASSIFICATION)
    assert str(folder) in str(caught.value) and "tf_model.h5" in str(caught.value)


@pytest.mark.parametrize("name", ["/no/such/tfprot/model", "runs/2024/model", "./model"])
def test_path_that_does_not_exist_is_reported_at_once(offline_hub, name):
    start = time.perf_counter()
    with pytest.raises(CheckpointError, match="no such checkpoint folder") as caught:
        tfprot.sequence_classifier(name, LABELS)
    assert time.perf_counter() - start < FAST
    assert name in str(caught.value) and "Hub" in str(caught.value)


def test_a_file_is_not_a_checkpoint_folder(tmp_path):
    path = tmp_path / "model.h5"
    path.write_bytes(b"")
    with pytest.raises(CheckpointError, match="is a file, not a checkpoint folder"):
        load_transformer(path, None)


# -- weights formats and heads ---------------------------------------------------------------
def test_tf_weights_with_another_head_size_keep_the_encoder(tiny_tf_folder, caplog):
    """tf_model.h5 with a 2-label head, loaded for 3 labels: transformers' TF loader must get
    ignore_mismatched_sizes=True; the encoder is loaded, the output layer is new."""
    original, folder = tiny_tf_folder
    with caplog.at_level(logging.INFO, logger="tfprot"):
        model = tfprot.sequence_classifier(folder, ["a", "b", "c"], precision="float32")
    assert model.transformer.config.id2label == {0: "a", 1: "b", 2: "c"}
    assert "newly initialised" in caplog.text and "PyTorch" not in caplog.text
    inputs = {"input_ids": np.array([[0, 20, 15, 11, 5, 2]]), "attention_mask": np.ones((1, 6))}
    assert model(inputs).shape == (1, 3)
    hidden = model.transformer.esm(**inputs, return_dict=True).last_hidden_state
    expected = original.transformer.esm(**inputs, return_dict=True).last_hidden_state
    np.testing.assert_allclose(hidden.numpy(), expected.numpy(), atol=1e-6)


def test_tfprot_saved_tf_safetensors_are_not_taken_for_pytorch(tiny_tf_folder, tmp_path, caplog):
    """transformers' TF save_pretrained writes model.safetensors in TF layout (format 'tf')."""
    original, _ = tiny_tf_folder
    original.save_pretrained(tmp_path / "saved")
    assert (tmp_path / "saved" / "model.safetensors").is_file()
    with caplog.at_level(logging.INFO, logger="tfprot"):
        model = tfprot.sequence_classifier(tmp_path / "saved", LABELS, precision="float32")
    assert "PyTorch" not in caplog.text and "newly initialised" not in caplog.text
    np.testing.assert_allclose(_logits(model), _logits(original), atol=1e-6)


@pytest.mark.parametrize(
    ("safe", "shard"),
    [(False, None), (True, "100KB")],
    ids=["pytorch_model.bin", "sharded-safetensors"],
)
def test_other_pytorch_weight_layouts_are_converted(tmp_path, hf_esm_tokenizer, safe, shard):
    torch = pytest.importorskip("torch")
    from transformers import EsmModel

    torch.manual_seed(0)
    config = tiny_config(PRESETS["tiny-esm"], initializer_range=0.2)
    torch_model = EsmModel(config).eval()
    options = {"max_shard_size": shard} if shard else {}
    torch_model.save_pretrained(tmp_path, safe_serialization=safe, **options)
    hf_esm_tokenizer.save_pretrained(tmp_path)
    names = {p.name for p in tmp_path.iterdir()}
    assert ("pytorch_model.bin" in names) if not safe else ("model.safetensors.index.json" in names)

    encoder = load_transformer(tmp_path, None).model
    ids = hf_esm_tokenizer(SEQUENCES[0], return_tensors="np")["input_ids"]
    with torch.no_grad():
        expected = torch_model(input_ids=torch.from_numpy(ids)).last_hidden_state.numpy()
    hidden = encoder(input_ids=ids, return_dict=True).last_hidden_state.numpy()
    assert np.abs(hidden - expected).max() < 1e-5


def test_missing_shard_is_named(tmp_path, hf_esm_tokenizer):
    index = {"metadata": {}, "weight_map": {"embeddings.word_embeddings.weight": "part-1.bin"}}
    (tmp_path / "pytorch_model.bin.index.json").write_text(json.dumps(index))
    tiny_config(PRESETS["tiny-esm"]).save_pretrained(tmp_path)
    with pytest.raises(CheckpointError, match="part-1.bin"):
        load_transformer(tmp_path, None)


def test_tf_h5_beside_pytorch_safetensors_loads_the_tf_weights(tmp_path, hf_esm_tokenizer):
    """Hub repos such as facebook/esm2_t6_8M_UR50D hold tf_model.h5 *and* PyTorch-format
    model.safetensors; transformers' TF loader would pick the safetensors and crash on them."""
    torch = pytest.importorskip("torch")
    from transformers import EsmModel

    torch.manual_seed(1)
    config = tiny_config(PRESETS["tiny-esm"], initializer_range=0.2)
    torch_model = EsmModel(config).eval()
    torch_model.save_pretrained(tmp_path)  # model.safetensors, format "pt"
    hf_esm_tokenizer.save_pretrained(tmp_path)
    load_transformer(tmp_path, None).model.save_pretrained(tmp_path, safe_serialization=False)
    assert {"model.safetensors", "tf_model.h5"} <= {p.name for p in tmp_path.iterdir()}
    (tmp_path / "model.safetensors").write_bytes(b"not read")  # the TF weights must be used

    encoder = load_transformer(tmp_path, None).model
    ids = hf_esm_tokenizer(SEQUENCES[0], return_tensors="np")["input_ids"]
    with torch.no_grad():
        expected = torch_model(input_ids=torch.from_numpy(ids)).last_hidden_state.numpy()
    hidden = encoder(input_ids=ids, return_dict=True).last_hidden_state.numpy()
    assert np.abs(hidden - expected).max() < 1e-5
