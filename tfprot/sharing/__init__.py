"""Sharing a trained model on the 🤗 Hub: a model card, the folder to upload, the push.

>>> from tfprot.sharing import model_card, prepare_upload, push_to_hub  # doctest: +SKIP

``push_to_hub("my_model", "me/esm2-cytosol-membrane")`` stages ``my_model`` (weights, config,
tokenizer, ``tfprot.json``, ``metrics.json``) with a generated ``README.md`` and uploads it in one
commit; see :mod:`tfprot.sharing.push`. Only ``huggingface_hub`` is imported (no TensorFlow).
"""

from __future__ import annotations

from tfprot.sharing.card import card_metadata, model_card
from tfprot.sharing.facts import ModelFacts, find_metrics, read_facts
from tfprot.sharing.folder import UploadFolder, check_repo_id, prepare_upload
from tfprot.sharing.push import PushResult, hub_endpoint, push_to_hub, upload_staged
from tfprot.sharing.token import Token, resolve_token

__all__ = [
    "ModelFacts",
    "PushResult",
    "Token",
    "UploadFolder",
    "card_metadata",
    "check_repo_id",
    "find_metrics",
    "hub_endpoint",
    "model_card",
    "prepare_upload",
    "push_to_hub",
    "read_facts",
    "resolve_token",
    "upload_staged",
]
