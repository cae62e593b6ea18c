"""The model card: its metadata parsed back by huggingface_hub, its text against tfprot.json and
metrics.json. (Its usage snippets are run, verbatim, against the fake Hub in test_sharing_cli.)"""

from __future__ import annotations

import json
import re

import pytest
import yaml
from conftest import METRICS
from huggingface_hub import ModelCard

from tfprot.sharing import ModelFacts, model_card, read_facts


def test_card_metadata_and_text_state_what_tfprot_recorded(model_dir):
    metadata = json.loads((model_dir / "tfprot.json").read_text())
    text = model_card(read_facts(model_dir), "someone/cytosol-membrane")

    front = yaml.safe_load(text.split("\n---\n", 1)[0].removeprefix("---\n"))
    card = ModelCard(text)  # huggingface_hub's own parser
    assert card.data.library_name == front["library_name"] == "transformers"
    assert card.data.pipeline_tag == "text-classification"
    assert {"tfprot", "protein", "tensorflow", "untrained-base"} <= set(card.data.tags)
    assert card.data.base_model is None  # tiny-esm is not on the Hub: no false lineage
    assert "datasets" not in front  # the bundled data set is not a Hub data set
    assert sorted(card.data.metrics) == ["accuracy", "f1", "matthews_correlation"]
    results = {r.metric_type: r.metric_value for r in card.data.eval_results}
    assert results == {
        "accuracy": METRICS["test"]["accuracy"],
        "f1": METRICS["test"]["macro_f1"],
        "matthews_correlation": METRICS["test"]["mcc"],
    }
    assert {r.dataset_split for r in card.data.eval_results} == {"test"}

    body = card.text
    assert "UNTRAINED" in body and "tiny-esm" in body
    for index, label in enumerate(metadata["labels"]["classes"]):
        assert f"- `{index}`: `{label}`" in body
    for split in ("train", "validation", "test"):
        part = metadata["data"][split]
        counts = ", ".join(f"{name} {n}" for name, n in part["targets"].items())
        assert re.search(rf"\| {split} \| {part['records']} \| .* \| {counts} \|", body), split
    evaluation = body.split("## Evaluation", 1)[1].split("\n## ", 1)[0]
    rows = [line.split(" | ")[0] for line in evaluation.splitlines() if line.startswith("| ")]
    assert rows[2:] == ["| train", "| validation", "| test", "| baseline"]  # not task, data...
    assert (
        "Baseline: always the training set's most common class; it predicts `cytoplasmic`" in body
    )
    for entry in ("train", "validation", "test", "baseline"):
        values = METRICS[entry]
        row = next(line for line in evaluation.splitlines() if line.startswith(f"| {entry} |"))
        for value in values.values():
            if isinstance(value, float):
                assert f"{value:.4f}" in row, (entry, value)
    assert f"Precision: `{metadata['precision']}` ({metadata['precision_reason']})" in body
    assert 'tfprot.load_model(snapshot_download("someone/cytosol-membrane"))' in body


@pytest.mark.parametrize(
    ("base", "pretrained", "expected"),
    [
        ("facebook/esm2_t6_8M_UR50D", True, "facebook/esm2_t6_8M_UR50D"),
        ("esm2_t6_8M", True, "facebook/esm2_t6_8M_UR50D"),  # a preset: its Hub id
        ("prot_bert", True, "Rostlab/prot_bert"),
        ("tiny-esm", False, None),
        ("/data/checkpoints/my_esm", True, None),  # a local folder is not a Hub model
    ],
)
def test_base_model_is_the_hub_id_of_the_base_checkpoint(base, pretrained, expected):
    facts = ModelFacts.from_metadata(
        {"task": "classification", "base_checkpoint": base, "pretrained": pretrained}
    )
    card = ModelCard(model_card(facts, "me/model"))
    assert card.data.base_model == expected
    assert ("UNTRAINED" in card.text) is (not pretrained)


def test_token_regression_and_spaced_tokenizer_cards():
    token = ModelFacts.from_metadata(
        {"task": "token", "labels": {"classes": ["C", "E", "H"]}, "base_checkpoint": "esm2_t6_8M"}
    )
    card = ModelCard(model_card(token, "me/ss3"))
    assert card.data.pipeline_tag == "token-classification"
    assert "TFAutoModelForTokenClassification" in card.text
    assert "predicted per residue" in card.text
    assert card.data.metrics is None and card.data.eval_results is None
    assert "No metrics.json was found" in card.text

    regression = ModelFacts.from_metadata({"task": "regression", "base_checkpoint": "prot_bert"})
    card = ModelCard(model_card(regression, "me/gb1"))
    assert "One real number per sequence" in card.text and "## Labels" not in card.text

    spaced = ModelFacts.from_metadata(
        {"task": "classification", "base_checkpoint": "prot_bert"}, tokenizer={"spaced": True}
    )
    assert 'tokenizer(["M K T A Y' in model_card(spaced, "me/bert")


def test_without_metrics_json_the_card_uses_the_test_metrics_in_tfprot_json(tmp_path):
    folder = tmp_path / "run" / "model"
    folder.mkdir(parents=True)
    metadata = {"task": "regression", "base_checkpoint": "esm2_t6_8M", "pretrained": True}
    (folder / "tfprot.json").write_text(
        json.dumps({**metadata, "test_metrics": {"spearman": 0.61}})
    )
    card = ModelCard(model_card(read_facts(folder), "me/gb1"))
    assert card.data.metrics == ["spearmanr"]
    assert "| test | 0.6100 |" in card.text and "no metrics.json was found" in card.text
    (folder / "tfprot.json").write_text(json.dumps(metadata))
    card = ModelCard(model_card(read_facts(folder), "me/gb1"))
    assert card.data.metrics is None and "No metrics.json was found" in card.text
