"""The model card (``README.md`` with YAML front matter) of a tfprot model, for the 🤗 Hub.

Written only from what tfprot knows (:class:`~tfprot.sharing.facts.ModelFacts`): task, labels,
base checkpoint, data summary, metrics, precision, and how to load the model with tfprot and with
transformers. The task's words (what the model is, its output section, pipeline tag, tags and
transformers class) are the task's (:class:`tfprot.tasks.ProteinTask`). Nothing is guessed: a field tfprot does not know (the license, a Hub data set) is
left out of the metadata and the card says so.

>>> from tfprot.sharing.facts import ModelFacts
>>> facts = ModelFacts.from_metadata({"task": "classification", "base_checkpoint": "tiny-esm",
...     "labels": {"classes": ["cytoplasmic", "plasma_membrane"]}, "precision": "float32"})
>>> text = model_card(facts, "someone/cytosol-membrane")
>>> text.splitlines()[0], "pipeline_tag: text-classification" in text, "UNTRAINED" in text
('---', True, True)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tfprot.sharing.facts import ModelFacts
from tfprot.tasks import task_for

__all__ = ["HUB_METRICS", "card_metadata", "model_card"]

HUB_METRICS = {
    "accuracy": "accuracy",
    "macro_f1": "f1",
    "mcc": "matthews_correlation",
    "spearman": "spearmanr",
    "mae": "mae",
}
"""tfprot metric names → Hub (``evaluate``) metric ids, for the card's ``metrics`` field."""

EXAMPLE_SEQUENCE = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ"
"""A valid input for the usage snippets (a demonstration string, not a curated protein)."""


def card_metadata(facts: ModelFacts, repo_id: str) -> dict[str, Any]:
    """The card's YAML front matter as a dict (``huggingface_hub.ModelCardData`` fields).

    >>> from tfprot.sharing.facts import ModelFacts
    >>> meta = card_metadata(ModelFacts.from_metadata({"task": "token",
    ...     "base_checkpoint": "facebook/esm2_t6_8M_UR50D"}), "me/ss3")
    >>> meta["base_model"], meta["pipeline_tag"], meta["library_name"]
    ('facebook/esm2_t6_8M_UR50D', 'token-classification', 'transformers')
    """
    return _card_data(facts, repo_id).to_dict()


def _card_data(facts: ModelFacts, repo_id: str):
    from huggingface_hub import EvalResult, ModelCardData

    task = task_for(facts.task)
    tags = ["tfprot", "tensorflow", "protein", "biology", f"tfprot-{task.name}", *task.hub_tags]
    if facts.untrained_base:
        tags.append("untrained-base")
    if facts.lora:
        tags.append("lora")
    if facts.adapters_only:
        tags.append("adapters-only")
    family = _family(facts)
    if family:
        tags.append(family)
    test = facts.split_metrics().get("test", {})
    metrics = sorted({HUB_METRICS[name] for name in test if name in HUB_METRICS})
    eval_results = None
    if test and facts.data_name:
        eval_results = [
            EvalResult(
                task_type=task.pipeline_tag,
                dataset_type=facts.data_name,
                dataset_name=facts.data_name,
                dataset_split="test",
                metric_type=HUB_METRICS[name],
                metric_name=f"test {name}",
                metric_value=round(value, 6),
            )
            for name, value in test.items()
            if name in HUB_METRICS
        ] or None
    return ModelCardData(
        library_name="transformers",
        tags=tags,
        base_model=facts.hub_base_model,
        pipeline_tag=task.pipeline_tag,
        metrics=metrics or None,
        eval_results=eval_results,
        model_name=repo_id.split("/")[-1] if eval_results else None,
    )


def _family(facts: ModelFacts) -> str | None:
    name = (facts.base_checkpoint or "").lower()
    if "esm" in name:
        return "esm"
    if "bert" in name:
        return "bert"
    return None


def model_card(facts: ModelFacts, repo_id: str, *, pictures: Sequence[str] = ()) -> str:
    """The full ``README.md``: YAML front matter, then the card in Markdown.

    Args:
        facts: what tfprot recorded.
        repo_id: the Hub repository (named in the usage examples).
        pictures: image files uploaded beside the card (``learning_curves.png``...), shown in it.
    """
    data = _card_data(facts, repo_id)
    body = "\n".join(_body(facts, repo_id, pictures))
    return f"---\n{data.to_yaml()}\n---\n\n{body}\n"


def _body(facts: ModelFacts, repo_id: str, pictures: Sequence[str]) -> list[str]:
    name = repo_id.split("/")[-1]
    base = facts.base_checkpoint or "an unrecorded checkpoint"
    lines = [
        f"# {name}",
        "",
        f"A protein {task_for(facts.task).description} fine-tuned with "
        f"tfprot (TensorFlow/Keras) from `{base}`.",
        "",
    ]
    if facts.adapters_only:
        lines += _adapters_section(facts)
    if facts.untrained_base:
        lines += [
            f"> **Warning: the base `{base}` is UNTRAINED** (random weights, built offline for demos "
            "and tests). This model only shows the workflow; do not use its predictions for "
            "biology.",
            "",
        ]
    lines += task_for(facts.task).card_output(facts.classes)
    lines += _data_section(facts)
    lines += _metrics_section(facts)
    for picture in pictures:
        title = picture.rsplit(".", 1)[0].replace("_", " ")
        lines += [f"![{title}]({picture})", ""]
    lines += _training_section(facts)
    lines += _usage_section(facts, repo_id)
    evaluated = (
        "It has only been evaluated on the test split above."
        if facts.split_metrics()
        else "tfprot recorded no evaluation for it."
    )
    lines += [
        "## Limitations",
        "",
        f"{evaluated} Proteins unlike its training data (other organisms, lengths, families) may "
        "be predicted poorly. No license was recorded by tfprot: add one to this card before "
        "others reuse the model.",
    ]
    return lines


def _lora_words(lora: dict[str, Any]) -> str:
    targets = ", ".join(lora.get("targets") or ())
    return (
        f"LoRA rank {lora.get('rank')}, alpha {_number(lora.get('alpha'))}, dropout "
        f"{_number(lora.get('dropout', 0.0))}, on {targets or 'unrecorded layers'}"
    )


def _adapters_section(facts: ModelFacts) -> list[str]:
    """What an adapters-only repository is, and the base it needs."""
    lora = facts.lora
    base = lora.get("base_checkpoint") or facts.base_checkpoint or "an unrecorded checkpoint"
    revision = lora.get("base_revision")
    at = f" at revision `{revision}`" if revision else ""
    lines = [
        "## Adapters only: the base checkpoint is needed",
        "",
        f"This repository holds the {_lora_words(lora)}, and the task head "
        f"(`adapter_model.safetensors`, `adapter_config.json`), not a whole model. Loading it "
        f"needs the base checkpoint **`{base}`**{at}: `tfprot.load_model` loads that base and "
        "sets the adapters and head on it.",
        "",
    ]
    if Path(str(base)).is_absolute():
        lines += [
            "The base was a local folder when the adapters were saved: `tfprot.load_model` "
            "looks for it at that path. Put the base checkpoint there, or set "
            "`base_checkpoint` in `adapter_config.json` to where it is (a folder or a Hub id).",
            "",
        ]
    return lines


def _data_section(facts: ModelFacts) -> list[str]:
    data = facts.data
    if not data:
        return ["## Training data", "", "Not recorded with the model.", ""]
    lines = ["## Training data", ""]
    if facts.data_name:
        lines += [f"Data set: `{facts.data_name}`.", ""]
    splits = [
        split for split in ("train", "validation", "test") if isinstance(data.get(split), dict)
    ]
    if splits:
        lines += [
            "| split | sequences | length min / median / max | targets |",
            "| --- | ---: | --- | --- |",
        ]
        for split in splits:
            part = data[split]
            length = part.get("length") or {}
            lengths = " / ".join(_number(length.get(key)) for key in ("min", "median", "max"))
            lines.append(
                f"| {split} | {part.get('records', '')} | {lengths} | {_targets(part.get('targets'))} |"
            )
        lines.append("")
    return lines


def _targets(targets: Any) -> str:
    if isinstance(targets, dict):
        return ", ".join(
            f"{name} {_number(value)}"
            if not isinstance(value, dict)
            else f"{name} ({_describe(value)})"
            for name, value in targets.items()
        )
    return "" if targets is None else str(targets)


def _describe(values: dict[str, Any]) -> str:
    return ", ".join(f"{key} {_number(value)}" for key, value in values.items())


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}" if value != int(value) else str(int(value))
    return "" if value is None else str(value)


def _metrics_section(facts: ModelFacts) -> list[str]:
    table = facts.split_metrics()
    if not table:
        return ["## Evaluation", "", "No metrics.json was found with the model.", ""]
    names = list(dict.fromkeys(name for values in table.values() for name in values))
    lines = [
        "## Evaluation",
        "",
        "From `metrics.json`, written by `tfprot train`; the baseline is scored on the same "
        "test set.",
        "",
        "| | " + " | ".join(names) + " |",
        "| --- |" + " ---: |" * len(names),
    ]
    for entry, values in table.items():
        cells = [f"{values[name]:.4f}" if name in values else "" for name in names]
        lines.append(f"| {entry} | " + " | ".join(cells) + " |")
    baseline = (facts.metrics or {}).get("baseline")
    if isinstance(baseline, dict) and "prediction" in baseline:
        what = baseline.get("what") or "the baseline's constant prediction"
        lines += ["", f"Baseline: {what}; it predicts `{baseline['prediction']}`."]
    if facts.metrics_path is None and facts.metrics:
        lines += ["", "(Test metrics as saved in `tfprot.json`; no metrics.json was found.)"]
    return [*lines, ""]


def _training_section(facts: ModelFacts) -> list[str]:
    lines = ["## Training", ""]
    if facts.precision:
        reason = f" ({facts.precision_reason})" if facts.precision_reason else ""
        lines.append(f"- Precision: `{facts.precision}`{reason}.")
    if facts.max_length:
        lines.append(
            f"- Longest input: {facts.max_length} tokens; longer sequences are truncated for "
            "sequence-level outputs and run in overlapping windows for per-residue outputs."
        )
    if facts.base_checkpoint:
        lines.append(f"- Base checkpoint: `{facts.base_checkpoint}`.")
    if facts.lora:
        held = (
            "the adapters and head are in this repository"
            if facts.adapters_only
            else "the weights in this repository are merged (W + (alpha/rank)·B·A)"
        )
        lines.append(
            f"- Parameter-efficient: {_lora_words(facts.lora)}; the encoder was frozen, the "
            f"head trained fully; {held}."
        )
    if facts.tfprot_version:
        lines.append(f"- Saved by tfprot {facts.tfprot_version}.")
    return [*lines, ""]


def _usage_section(facts: ModelFacts, repo_id: str) -> list[str]:
    spaced = bool(facts.tokenizer.get("spaced"))
    sequence = " ".join(EXAMPLE_SEQUENCE) if spaced else EXAMPLE_SEQUENCE
    auto = f"AutoModelFor{task_for(facts.task).head}"
    note = (
        "the tokenizer expects residues separated by spaces (ProtBERT convention); tfprot "
        "does this for you"
        if spaced
        else "the tokenizer takes the plain one-letter sequence"
    )
    tfprot_usage = [
        "## How to use",
        "",
        "With tfprot (label names, probabilities, long sequences handled):",
        "",
        "```python",
        "import tfprot",
        "from huggingface_hub import snapshot_download",
        "",
        f'model = tfprot.load_model(snapshot_download("{repo_id}"))',
        f'print(model.predict_sequences(["{EXAMPLE_SEQUENCE}"]))',
        "```",
        "",
    ]
    if facts.adapters_only:
        return [
            *tfprot_usage,
            "transformers alone cannot use these adapters; `tfprot train` also saves the whole "
            "model with the adapters merged into its weights, which loads with "
            f"`TF{auto}.from_pretrained`.",
            "",
        ]
    return [
        *tfprot_usage,
        f"With transformers alone (TensorFlow; {note}):",
        "",
        "```python",
        f"from transformers import AutoTokenizer, TF{auto}",
        "",
        f'tokenizer = AutoTokenizer.from_pretrained("{repo_id}")',
        f'model = TF{auto}.from_pretrained("{repo_id}")',
        f'logits = model(**tokenizer(["{sequence}"], return_tensors="tf")).logits',
        "```",
        "",
    ]
