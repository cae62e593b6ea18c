"""tfprot.models.esm_layers: tfprot's ESM layers belong to the models tfprot builds.

Importing tfprot, and building, fitting, saving and exporting every kind of tfprot model, leaves
every class of transformers' TF ESM and BERT modules (and their bases) exactly as it was: checked
in a fresh process that snapshots them before tfprot is imported. A user's own transformers model
in a process that uses tfprot gives exactly the outputs it gives in a process without tfprot.
Saved models load in plain transformers under their upstream architecture names.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from esm_twins import esm_inputs, only_transformers_layers, weight_name
from transformers import BertConfig, TFBertModel
from transformers.models.esm import modeling_tf_esm as esm

import tfprot
from tfprot.models import esm_fast, esm_fixes
from tfprot.models.checkpoints import tiny_config
from tfprot.models.esm_layers import SUBCLASSES, use_tfprot_layers

ROOT = Path(__file__).resolve().parents[2]


def run_python(script: str, *args: str, timeout: int = 600) -> dict:
    """Run ``script`` in a fresh interpreter (Keras 2 selected, nothing of tfprot imported by
    the interpreter itself); its last line of stdout is JSON."""
    env = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


SNAPSHOT_SCRIPT = """
import inspect, json, sys, tempfile
from pathlib import Path

from transformers.models.bert import modeling_tf_bert
from transformers.models.esm import modeling_tf_esm

MODULES = (modeling_tf_esm, modeling_tf_bert)
assert not [name for name in sys.modules if name.split(".")[0] == "tfprot"]
MISSING = object()
IGNORED = {"__warningregistry__"}  # written by the warnings module, not by tfprot


def classes():
    found = {}
    for module in MODULES:
        for value in vars(module).values():
            if inspect.isclass(value):
                for cls in value.__mro__:
                    found[f"{cls.__module__}.{cls.__qualname__}"] = cls
    return found


def snapshot():
    return {
        "module": {m.__name__: dict(vars(m)) for m in MODULES},
        "class": {name: dict(vars(cls)) for name, cls in classes().items()},
    }


def changes(before, after):
    found = []
    for kind, entries in before.items():
        for name, old in entries.items():
            new = after[kind].get(name)
            if new is None:
                found.append(f"{kind} {name}: gone")
                continue
            for key in sorted((old.keys() | new.keys()) - IGNORED):
                if old.get(key, MISSING) is new.get(key, MISSING):
                    continue
                if key == "__annotations__" and key not in old and new[key] == {}:
                    continue  # Python creates a class's empty annotations when first asked
                found.append(f"{kind} {name}.{key}")
        found += [f"{kind} {name}: new" for name in after[kind].keys() - entries.keys()]
    return found


before = snapshot()
counted = len(before["class"])

import numpy as np
import tfprot
from transformers import TFAutoModelForSequenceClassification, TFAutoModelForTokenClassification

rng = np.random.default_rng(0)
sequences = ["".join(rng.choice(list("ACDEFGHIKLMNPQRSTVWY"), size=int(n)))
             for n in rng.integers(8, 30, size=16)]
classes_ = [["a", "b"][i % 2] for i in range(16)]
sets = [["a", "a;b", "b", "c"][i % 4] for i in range(16)]
values = [float(x) for x in rng.normal(size=16)]
states = ["".join(rng.choice(list("CEH"), size=len(s))) for s in sequences]


def data(task, labels=None, residue_labels=None):
    records = tfprot.from_lists(sequences, labels, residue_labels=residue_labels)
    return tfprot.ProteinDataset(records, task, fractions=(1.0, 0.0, 0.0))


kinds = {
    "classification": (tfprot.sequence_classifier, data("classification", classes_), {}),
    "multilabel": (tfprot.sequence_classifier, data("multilabel", sets), {"multi_label": True}),
    "regression": (tfprot.sequence_regressor, data("regression", values), {}),
    "token": (tfprot.token_classifier, data("token", residue_labels=states),
              {"precision": "mixed_bfloat16"}),
}
folder = Path(tempfile.mkdtemp())
report = {"first_token_only": {}, "architectures": {}, "plain_upstream": {}, "max_error": {}}
for kind, (factory, dataset, options) in kinds.items():
    options = {"precision": "float32", **options}
    model = factory("tiny-esm", dataset, **options)
    model.fit(dataset.tf_dataset("train", model.tokenizer), epochs=1, verbose=0)
    model.save_pretrained(folder / kind)
    model.export_saved_model(folder / f"{kind}-export")
    report["first_token_only"][kind] = bool(model.first_token_only)
    # The saved folder in plain transformers: upstream architecture, upstream layers, same logits.
    config = json.loads((folder / kind / "config.json").read_text())
    report["architectures"][kind] = config["architectures"]
    auto = (TFAutoModelForTokenClassification if kind == "token"
            else TFAutoModelForSequenceClassification)
    plain = auto.from_pretrained(folder / kind)
    report["plain_upstream"][kind] = all(
        type(layer).__module__.startswith(("transformers.", "tf_keras."))
        for layer in [plain, *plain.submodules]
    )
    if options["precision"] == "float32":
        rows = [model.tokenizer.encode(s) for s in sequences[:4]]
        ids = np.full((4, max(map(len, rows))), model.tokenizer.pad_id, np.int32)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = row
        batch = {"input_ids": ids, "attention_mask": (ids != model.tokenizer.pad_id).astype(np.int32)}
        ours = model.transformer(**batch).logits.numpy()
        theirs = plain(**batch).logits.numpy()
        report["max_error"][kind] = float(np.abs(ours - theirs).max())

report["changes"] = changes(before, snapshot())
report["classes_checked"] = counted
# The snapshot sees a change when there is one (a process-wide patch, as tfprot once made).
modeling_tf_esm.TFEsmLayer.call = lambda self, *args, **kwargs: None
report["control"] = changes(before, snapshot())
print(json.dumps(report))
"""


@pytest.mark.slow
def test_using_tfprot_changes_no_transformers_class():
    """Fresh process: snapshot ``vars()`` of every class (and base class) of transformers' TF
    ESM and BERT modules, import tfprot, build, fit, save and export a classifier, a multilabel
    model, a regressor and a token model (mixed_bfloat16), snapshot again: nothing differs."""
    report = run_python(SNAPSHOT_SCRIPT)
    assert report["changes"] == []
    assert report["classes_checked"] > 50
    assert any("TFEsmLayer.call" in change for change in report["control"])
    assert report["first_token_only"] == {
        "classification": True,
        "multilabel": True,
        "regression": True,
        "token": False,
    }
    assert report["architectures"] == {
        "classification": ["EsmForSequenceClassification"],
        "multilabel": ["EsmForSequenceClassification"],
        "regression": ["EsmForSequenceClassification"],
        "token": ["EsmForTokenClassification"],
    }
    assert all(report["plain_upstream"].values()), report["plain_upstream"]
    # tfprot's fused layer against transformers' own, same weights: float32 rounding only.
    assert set(report["max_error"]) == {"classification", "multilabel", "regression"}
    assert max(report["max_error"].values()) < 1e-5, report["max_error"]


UPSTREAM_SCRIPT = """
import json, sys
import numpy as np
from transformers import TFEsmForSequenceClassification

assert not [name for name in sys.modules if name.split(".")[0] == "tfprot"]
folder, inputs, out = sys.argv[1:]
model = TFEsmForSequenceClassification.from_pretrained(folder)
batch = dict(np.load(inputs))
np.save(out, model(**batch).logits.numpy())
print(json.dumps({"tfprot_imported": any(n.split(".")[0] == "tfprot" for n in sys.modules)}))
"""


@pytest.mark.slow
def test_a_users_own_transformers_model_is_upstream_in_a_process_using_tfprot(tmp_path):
    """In this process tfprot models are built and run; a TFEsmForSequenceClassification the
    user loads with transformers has transformers' layers only, never takes tfprot's fused path,
    and gives bit for bit the logits that a process without tfprot gives."""
    classifier = tfprot.sequence_classifier("tiny-esm", ["a", "b"], precision="float32")
    inputs = esm_inputs([300, 41, 7])  # past 256 positions, and padding
    assert classifier(inputs).shape == (3, 2)

    config = tiny_config(tfprot.PRESETS["tiny-esm"], num_labels=2, initializer_range=0.2)
    source = esm.TFEsmForSequenceClassification(config)
    source(source.dummy_inputs, training=False)
    source.save_pretrained(tmp_path / "user")
    np.savez(tmp_path / "inputs.npz", **{k: v.numpy() for k, v in inputs.items()})

    fused_calls = []
    original = esm_fast._fused_layer

    def spy(*args, **kwargs):
        fused_calls.append(1)
        return original(*args, **kwargs)

    users = esm.TFEsmForSequenceClassification.from_pretrained(tmp_path / "user")
    assert only_transformers_layers(users)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(esm_fast, "_fused_layer", spy)
        logits = users(**inputs).logits.numpy()
        assert classifier(inputs) is not None and fused_calls  # tfprot's model: fused
        fused_calls.clear()
        users(**inputs)
    assert not fused_calls
    graph = tf.function(lambda: users(**inputs)).get_concrete_function().graph
    assert not [op.type for op in graph.get_operations() if op.type.startswith("Tfprot")]

    report = run_python(
        UPSTREAM_SCRIPT,
        str(tmp_path / "user"),
        str(tmp_path / "inputs.npz"),
        str(tmp_path / "upstream.npy"),
    )
    assert report == {"tfprot_imported": False}
    np.testing.assert_array_equal(logits, np.load(tmp_path / "upstream.npy"))


def tiny_encoder():
    model = esm.TFEsmModel(tiny_config(tfprot.PRESETS["tiny-esm"]))
    return model


def test_use_tfprot_layers_changes_only_the_instance_it_is_given():
    mine, theirs = tiny_encoder(), tiny_encoder()
    assert use_tfprot_layers(mine) == 1 + 2 + 2  # embeddings; a rotary and a layer per layer
    assert use_tfprot_layers(mine) == 5  # again: nothing more to replace
    for model in (mine, theirs):
        model(model.dummy_inputs, training=False)
    assert only_transformers_layers(theirs)
    assert type(mine.esm.embeddings) is esm_fixes.TfprotEsmEmbeddings
    assert {type(layer) for layer in mine.esm.encoder.layer} == {esm_fast.TfprotEsmLayer}
    rotary = mine.esm.encoder.layer[0].attention.self.rotary_embeddings
    assert type(rotary) is esm_fixes.TfprotRotaryEmbedding
    assert type(mine) is esm.TFEsmModel  # the model keeps its class (and architecture name)
    # Same weights, same names, same order: tfprot's layers add no state.
    assert [weight_name(v) for v in mine.variables] == [weight_name(v) for v in theirs.variables]
    assert set(vars(mine.esm.encoder.layer[0])) == set(vars(theirs.esm.encoder.layer[0]))
    for upstream, subclass in SUBCLASSES.items():
        assert subclass.__bases__ == (upstream,)
        assert "__init__" not in vars(subclass) and "build" not in vars(subclass)


def test_models_without_esm_layers_are_left_alone():
    bert = TFBertModel(
        BertConfig(
            vocab_size=30,
            hidden_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=64,
        )
    )
    assert use_tfprot_layers(bert) == 0
    assert only_transformers_layers(bert)
    with pytest.raises(ValueError, match="Not a replacement"):
        use_tfprot_layers(tiny_encoder(), {esm.TFEsmLayer: esm_fixes.TfprotEsmEmbeddings})


def test_a_layer_restricted_to_the_first_token_falls_back_exactly():
    """Where the fused path does not apply (attention weights requested), the first-token
    output is transformers' layer output sliced to its first token."""
    model = tiny_encoder()
    use_tfprot_layers(model)
    model(model.dummy_inputs, training=False)
    layer = model.esm.encoder.layer[0]
    hidden = tf.random.stateless_normal((2, 9, 64), seed=(3, 4))
    mask = tf.zeros((2, 1, 1, 9))
    full = layer(hidden, mask, output_attentions=True)
    first = layer(hidden, mask, output_attentions=True, first_token_only=True)
    np.testing.assert_array_equal(first[0].numpy(), full[0][:, :1, :].numpy())
    assert len(first) == len(full) == 2
    fused = layer(hidden, mask, first_token_only=True)[0]
    np.testing.assert_allclose(fused.numpy(), full[0][:, :1, :].numpy(), atol=1e-5)
