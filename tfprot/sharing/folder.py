"""The exact folder uploaded to the Hub: the saved model, its card, and its training record.

:func:`prepare_upload` copies into a staging folder every file at the top of the model folder
(weights, config, tokenizer, ``tfprot.json``), ``metrics.json``, ``history.csv`` and the
learning-curve and confusion-matrix pictures from beside the model when the model folder has none, and writes ``README.md`` (the generated card, or the
card you pass). That folder, and nothing else, is what :func:`tfprot.sharing.push_to_hub` uploads.
Subfolders (a SavedModel export, say) and hidden files are left out, and the log says so.

>>> import tempfile, pathlib, json
>>> model = pathlib.Path(tempfile.mkdtemp()) / "model"
>>> model.mkdir()
>>> _ = (model / "tfprot.json").write_text(json.dumps({"task": "regression"}))
>>> _ = (model / "config.json").write_text("{}")
>>> upload = prepare_upload(model, "me/gb1", pathlib.Path(tempfile.mkdtemp()) / "up")
>>> upload.files
('README.md', 'config.json', 'tfprot.json')
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from tfprot._io import atomic_folder, ensure_replaceable, write_text_atomic
from tfprot.errors import CheckpointError, OptionError
from tfprot.sharing.card import model_card
from tfprot.sharing.facts import ADAPTER_CONFIG, METRICS_FILE, ModelFacts, read_facts

__all__ = ["BESIDE_FILES", "UploadFolder", "check_repo_id", "prepare_upload"]

logger = logging.getLogger(__name__)

PICTURES = ("learning_curves.png", "confusion_matrix.png")
BESIDE_FILES = (METRICS_FILE, "history.csv", *PICTURES)
"""Files ``tfprot train`` writes beside the model that are uploaded with it (the pictures are
shown in the card)."""

CARD_FILE = "README.md"
ADAPTER_FOLDER = "adapters"  # the subfolder ProteinModel.save_pretrained writes


@dataclass(frozen=True)
class UploadFolder:
    """A staged upload.

    Attributes:
        path: the staging folder.
        files: the file names in it, sorted (what the Hub repository will hold).
        facts: what the card was written from.
        skipped: what was in the model folder but is not uploaded, with why.
    """

    path: Path
    files: tuple[str, ...]
    facts: ModelFacts
    skipped: tuple[str, ...] = ()


def check_repo_id(repo_id: str) -> str:
    """Check a Hub repository id (``USER/NAME``) and return it.

    >>> check_repo_id("someone/my-model")
    'someone/my-model'
    >>> check_repo_id("my-model")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    tfprot.errors.OptionError: Repository 'my-model' is not USER/NAME ...
    """
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    parts = str(repo_id).split("/")
    valid = len(parts) == 2 and all(parts)
    if valid:
        try:
            validate_repo_id(repo_id)
        except HFValidationError:
            valid = False
    if not valid:
        raise OptionError(
            f"Repository {repo_id!r} is not USER/NAME (letters, digits, '-', '_', '.'; at most "
            "96 characters), e.g. 'your-name/esm2-cytosol-membrane'."
        )
    return repo_id


def prepare_upload(
    model_dir: str | os.PathLike,
    repo_id: str,
    out: str | os.PathLike,
    *,
    card: str | os.PathLike | None = None,
    adapters_only: bool = False,
) -> UploadFolder:
    """Stage the folder to upload to ``repo_id`` at ``out`` (replaced if it exists).

    Args:
        model_dir: a folder written by ``save_pretrained`` (or ``tfprot train``).
        repo_id: the Hub repository, ``USER/NAME`` (named in the card's usage examples).
        out: the staging folder; must not be inside ``model_dir``. An earlier staging folder
            there is replaced; any other non-empty folder is refused, never deleted.
        card: a Markdown file to upload as ``README.md`` instead of the generated card.
        adapters_only: upload the LoRA adapters and head alone: the model folder's
            ``adapters/`` subfolder (or ``model_dir`` itself when it is one), with a card that
            names the base checkpoint they need.

    Raises:
        CheckpointError: not a tfprot model folder, a card file that does not exist, ``out``
            a non-empty folder that is not an earlier staged upload, or ``adapters_only`` for a
            model without adapters.
        OptionError: a malformed ``repo_id``, or ``out`` inside ``model_dir``.
    """
    check_repo_id(repo_id)
    model_dir = Path(model_dir)
    beside_dir = model_dir.parent
    if adapters_only:
        model_dir, beside_dir = _adapter_folder(model_dir)
        inside = model_dir.name == ADAPTER_FOLDER  # metrics.json is beside the model folder
        facts = read_facts(model_dir, metrics_from=model_dir.parent if inside else model_dir)
    else:
        facts = read_facts(model_dir)
    out = Path(out)
    if out.resolve().is_relative_to(model_dir.resolve()):
        raise OptionError(
            f"The staging folder {out} must not be inside the model folder {model_dir}."
        )
    ensure_replaceable(out, "tfprot.json", "an earlier staged upload")
    if card is not None and not Path(card).is_file():
        raise CheckpointError(
            f"{card}: no such model card file; pass a Markdown file or leave it out."
        )
    chosen: dict[str, Path] = {}
    skipped: list[str] = []
    for path in sorted(model_dir.iterdir()):
        if path.name.startswith("."):
            skipped.append(f"{path.name} (hidden)")
        elif not path.is_file():
            skipped.append(f"{path.name}/ (a folder)")
        elif path.name == CARD_FILE:
            skipped.append(f"{path.name} (replaced by the {'given' if card else 'generated'} card)")
        else:
            chosen[path.name] = path
    for name in BESIDE_FILES:
        beside = beside_dir / name
        if name not in chosen and beside.is_file():
            chosen[name] = beside
    pictures = [name for name in PICTURES if name in chosen]
    text = (
        Path(card).read_text(encoding="utf-8")
        if card is not None
        else model_card(facts, repo_id, pictures=pictures)
    )
    with atomic_folder(out) as staging:
        for name, source in chosen.items():
            shutil.copyfile(source, staging / name)
        write_text_atomic(staging / CARD_FILE, text)
    for item in skipped:
        logger.info("Not uploaded: %s", item)
    for name in BESIDE_FILES:
        if chosen.get(name) is not None and chosen[name].parent != model_dir:
            logger.info("Uploading %s from beside the model folder.", chosen[name])
    files = tuple(sorted([*chosen, CARD_FILE]))
    return UploadFolder(out, files, facts, tuple(skipped))


def _adapter_folder(model_dir: Path) -> tuple[Path, Path]:
    """``(the adapters folder, the folder beside which tfprot train wrote its results)`` for a
    model folder with ``adapters/`` or an adapters folder itself."""
    if (model_dir / ADAPTER_CONFIG).is_file():
        parent = model_dir.parent
        return model_dir, parent.parent if model_dir.name == ADAPTER_FOLDER else parent
    if (model_dir / ADAPTER_FOLDER / ADAPTER_CONFIG).is_file():
        return model_dir / ADAPTER_FOLDER, model_dir.parent
    raise CheckpointError(
        f"{model_dir}: no LoRA adapters to upload (no {ADAPTER_FOLDER}/{ADAPTER_CONFIG}); the "
        "model was not trained with --lora-rank. Leave --adapters-only out to upload it whole."
    )
