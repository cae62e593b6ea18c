"""tfprot's layers in the ESM models tfprot builds, and in no other.

Four of transformers' TF ESM layers are replaced by tfprot's subclasses, in the instances that
:mod:`tfprot.models.checkpoints` creates:

- ``TFEsmEmbeddings`` → :class:`~tfprot.models.esm_fixes.TfprotEsmEmbeddings`: token dropout
  under a mixed policy;
- ``TFRotaryEmbedding`` → :class:`~tfprot.models.esm_fixes.TfprotRotaryEmbedding`: float32
  positions and angles;
- ``TFEsmLayer`` → :class:`~tfprot.models.esm_fast.TfprotEsmLayer`: the fused encoder layer;
- ``TFEsmLMHead`` → :class:`~tfprot.models.esm_lm_head.TfprotEsmLMHead`: the masked-LM head's
  vocabulary projection in float32 (it fails under a mixed policy upstream).

How: :func:`use_tfprot_layers` sets each such layer's ``__class__`` to tfprot's subclass right
after transformers has constructed the model (for ``from_pretrained``: constructed, built and
loaded its weights, which it does without calling the model), before the model's first call.
Why this rather than constructing subclass instances in their place:

- transformers creates these layers deep inside its own constructors (``TFEsmMainLayer``,
  ``TFEsmEncoder``, ``TFEsmSelfAttention``) with no hook to pass another class, and loads the
  weights itself; replacing instances would mean re-doing its construction, naming and weight
  loading for each way a model is made (the constructor, ``from_config``, ``from_pretrained``,
  the PyTorch conversion);
- the subclasses add no state and override computation only (``call``, ``_compute_cos_sin``),
  so an instance keeps exactly transformers' attributes, sublayers, weight names and loaded
  values: one step serves every way a model is made;
- transformers' classes are never touched, so a user's own transformers models in the same
  process behave as upstream; and the model itself keeps its class (``TFEsmFor...``), so
  ``save_pretrained`` records transformers' architecture name in ``config.json`` and the saved
  folder loads in plain transformers.

>>> import tfprot
>>> model = tfprot.sequence_classifier("tiny-esm", ["a", "b"], precision="float32")
>>> type(model.transformer).__name__, type(model.transformer.esm.encoder.layer[0]).__name__
('TFEsmForSequenceClassification', 'TfprotEsmLayer')
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from transformers.models.esm.modeling_tf_esm import (
    TFEsmEmbeddings,
    TFEsmLayer,
    TFEsmLMHead,
    TFRotaryEmbedding,
)

from tfprot.models.esm_fast import TfprotEsmLayer
from tfprot.models.esm_fixes import TfprotEsmEmbeddings, TfprotRotaryEmbedding
from tfprot.models.esm_lm_head import TfprotEsmLMHead

__all__ = ["SUBCLASSES", "use_tfprot_layers"]

SUBCLASSES: Mapping[type, type] = MappingProxyType(
    {
        TFEsmEmbeddings: TfprotEsmEmbeddings,
        TFRotaryEmbedding: TfprotRotaryEmbedding,
        TFEsmLayer: TfprotEsmLayer,
        TFEsmLMHead: TfprotEsmLMHead,
    }
)
"""transformers' layer class → tfprot's subclass that replaces it in tfprot's models."""


def use_tfprot_layers(model, subclasses: Mapping[type, type] = SUBCLASSES) -> int:
    """Give ``model``, a transformers TF model that has not been called yet, tfprot's layers
    (see the module doc); returns how many layers now have tfprot's class (0 for a model with
    none of these layers, such as BERT).

    Args:
        model: the transformers model; only its own layers change.
        subclasses: which layers to replace (default: all of :data:`SUBCLASSES`; the tests
            replace some only, to compare one fix at a time with transformers).

    >>> from transformers import TFEsmModel
    >>> from tfprot.models.checkpoints import tiny_config
    >>> from tfprot.presets import PRESETS
    >>> model = TFEsmModel(tiny_config(PRESETS["tiny-esm"]))
    >>> use_tfprot_layers(model)  # the embeddings, and a rotary embedding and a layer per layer
    5
    >>> type(model).__name__, type(model.esm.embeddings).__name__
    ('TFEsmModel', 'TfprotEsmEmbeddings')
    """
    unknown = [cls for cls in subclasses.items() if SUBCLASSES.get(cls[0]) is not cls[1]]
    if unknown:
        raise ValueError(f"Not a replacement tfprot makes: {unknown[0]}.")
    swapped = 0
    for layer in model.submodules:
        subclass = subclasses.get(type(layer))
        if subclass is not None:
            layer.__class__ = subclass
        if isinstance(layer, tuple(SUBCLASSES.values())):
            swapped += 1
    return swapped
