"""What the page says about the model: its title, a one-paragraph description, and the banners
for untrained weights (a ``tiny-*`` base, the ``tiny-esmfold`` fold model).

>>> from tfprot.sharing.facts import ModelFacts
>>> facts = ModelFacts.from_metadata({"task": "classification", "base_checkpoint": "tiny-esm",
...     "labels": {"classes": ["cytoplasmic", "plasma_membrane"]}})
>>> untrained_warnings(facts, fold_model=None, fold_untrained=False)  # doctest: +ELLIPSIS
['This model was fine-tuned from tiny-esm, a test preset with random weights...']
>>> description(facts)
'A **classification** model over 2 classes: cytoplasmic, plasma_membrane. Fine-tuned from tiny-esm.'
"""

from __future__ import annotations

from tfprot.sharing.facts import ModelFacts

__all__ = ["description", "title", "untrained_warnings"]

_SCORES = (
    ("accuracy", "accuracy", True),
    ("macro_f1", "macro-F1", False),
    ("spearman", "Spearman", False),
)


def title(facts: ModelFacts, model_name: str) -> str:
    """``tfprot: NAME``, NAME the data set the model learnt from, else its folder's name."""
    return f"tfprot: {facts.data_name or model_name}"


def description(facts: ModelFacts) -> str:
    """The task, the classes, the base checkpoint and the test scores (when ``tfprot train``
    recorded them), in Markdown."""
    words = f"A **{facts.task}** model"
    if facts.classes:
        shown = ", ".join(facts.classes[:12]) + (", ..." if len(facts.classes) > 12 else "")
        words += f" over {len(facts.classes)} classes: {shown}"
    words += "."
    if facts.base_checkpoint:
        words += f" Fine-tuned from {facts.base_checkpoint}."
    test = facts.split_metrics().get("test", {})
    baseline = facts.split_metrics().get("baseline", {})
    scores = []
    for key, name, percent in _SCORES:
        if key in test:
            value = f"{test[key]:.1%}" if percent else f"{test[key]:.3f}"
            if key in baseline:
                value += (
                    f" (baseline {baseline[key]:.1%})"
                    if percent
                    else f" (baseline {baseline[key]:.3f})"
                )
            scores.append(f"{name} {value}")
    if scores:
        words += " Test set: " + ", ".join(scores) + "."
    return words


def untrained_warnings(
    facts: ModelFacts, *, fold_model: str | None, fold_untrained: bool
) -> list[str]:
    """One sentence per part of the app whose weights are random: the page shows them in a
    banner, the API returns them."""
    warnings = []
    if facts.untrained_base:
        warnings.append(
            f"This model was fine-tuned from {facts.base_checkpoint or 'random weights'}, a test "
            "preset with random weights (not a pretrained protein language model): its answers "
            "show how the app works, not biology."
        )
    if fold_model and fold_untrained:
        warnings.append(
            f"Structures come from {fold_model}, an UNTRAINED ESMFold with random weights: the "
            "3D view, pLDDT and PAE are meaningless."
        )
    return warnings
