"""Load from a 🤗 Hub id or a local folder, turning failures into a clear CheckpointError.

A local folder is checked for the files a checkpoint needs before anything is loaded; a path that
does not exist is reported at once; a Hub id is looked up in the local 🤗 cache first and, when it
is not there and the Hub cannot be reached, the error comes within seconds (instead of after a
minute of retries), saying what to do instead.

>>> missing_files("/no/such/folder", "model")
['config.json', 'weights (one of tf_model.h5, model.safetensors, pytorch_model.bin, ...)']
"""

from __future__ import annotations

import os
import socket
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from tfprot.errors import CheckpointError, MissingDependencyError, TfprotError

__all__ = [
    "OFFLINE_HINT",
    "PYTORCH_WEIGHTS",
    "TF_WEIGHTS",
    "hub_reachable",
    "load_checkpoint",
    "missing_files",
]

T = TypeVar("T")

OFFLINE_HINT = (
    "Pass a local folder that holds the checkpoint (saved with save_pretrained), or use an "
    "offline preset to try tfprot without network: 'tiny-esm' for language models, "
    "'tiny-esmfold' for folding (both untrained)."
)

TF_WEIGHTS = ("tf_model.h5", "tf_model.h5.index.json")
"""TensorFlow weight files, single or sharded (loaded by transformers' TF ``from_pretrained``)."""

PYTORCH_WEIGHTS = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)
"""PyTorch weight files, single or sharded (converted to TF on load)."""

TOKENIZER_FILES = (
    "tokenizer.json",
    "vocab.txt",
    "vocab.json",
    "spiece.model",
    "tokenizer.model",
    "sentencepiece.bpe.model",
)

# For each kind of load, the files a local folder must hold: one name of each group.
_REQUIRED: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = {
    "model": (
        ("config.json", ("config.json",)),
        (
            "weights (one of tf_model.h5, model.safetensors, pytorch_model.bin, ...)",
            (*TF_WEIGHTS, *PYTORCH_WEIGHTS),
        ),
    ),
    "tokenizer": (("tokenizer files (tokenizer.json or vocab.txt, ...)", TOKENIZER_FILES),),
}


def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether a TCP connection to the Hub endpoint (``HF_ENDPOINT``) opens within ``timeout``."""
    from huggingface_hub import constants

    url = urllib.parse.urlparse(constants.ENDPOINT)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname, port), timeout=timeout):
            return True
    except (OSError, TypeError, ValueError):
        return False


def missing_files(folder: str | os.PathLike, what: str) -> list[str]:
    """What a local checkpoint folder lacks to load its ``what`` (``'model'`` or ``'tokenizer'``);
    empty when nothing known is missing."""
    folder = Path(folder)
    return [
        label
        for label, names in _REQUIRED.get(what, ())
        if not any((folder / name).is_file() for name in names)
    ]


def load_checkpoint(
    loader: Callable[..., T], checkpoint: str | os.PathLike, what: str, **kwargs: Any
) -> T:
    """Call ``loader(checkpoint, **kwargs)`` (a ``from_pretrained``) and explain failures.

    Args:
        loader: called with the folder or Hub id, ``**kwargs`` and, for a Hub id, first with
            ``local_files_only=True`` (the local 🤗 cache).
        checkpoint: a local folder or a Hub id.
        what: ``'model'`` or ``'tokenizer'`` (names the files a folder needs, and the errors).

    Raises:
        CheckpointError: a folder that does not exist or lacks files, an unreachable Hub, an
            unknown Hub id, or any failure to read a local folder. Nothing is ever faked.
    """
    name = os.fspath(checkpoint)
    path = Path(name).expanduser()
    if path.exists():
        return _load_local(loader, path, what, **kwargs)
    if _looks_local(name):
        raise CheckpointError(
            f"{name}: no such checkpoint folder; check the path (it cannot be a Hub id, which "
            f"looks like 'facebook/esm2_t6_8M_UR50D'). {OFFLINE_HINT}"
        )
    return _load_hub(loader, name, what, **kwargs)


def _looks_local(name: str) -> bool:
    """A Hub id is ``'name'`` or ``'org/name'``; anything else can only be a local path."""
    return (
        name.startswith((".", "/", "~", "\\"))
        or name.strip("/").count("/") > 1
        or "\\" in name
        or (len(name) > 1 and name[1] == ":")
    )


def _folder_contents(path: Path) -> list[str]:
    return sorted(p.name for p in path.iterdir()) if path.is_dir() else [path.name]


def _load_local(loader: Callable[..., T], path: Path, what: str, **kwargs: Any) -> T:
    if not path.is_dir():
        raise CheckpointError(
            f"{path}: is a file, not a checkpoint folder; pass the folder that save_pretrained "
            "wrote (config.json, weights, tokenizer files)."
        )
    missing = missing_files(path, what)
    if missing:
        raise CheckpointError(
            f"{path}: cannot load the {what} from this local folder: it has no "
            f"{' and no '.join(missing)}. It holds {_folder_contents(path)}; a checkpoint folder "
            "needs the files save_pretrained writes (config.json, weights, tokenizer files)."
        )
    try:
        return loader(str(path), **kwargs)
    except TfprotError:
        raise
    except Exception as error:  # any failure to read a local folder is a checkpoint problem
        raise CheckpointError(
            f"{path}: cannot load the {what} from this local folder ({type(error).__name__}: "
            f"{_first_line(error)}). It holds {_folder_contents(path)}; a checkpoint folder needs "
            "the files save_pretrained writes (config.json, weights, tokenizer files)."
        ) from error


def _load_hub(loader: Callable[..., T], name: str, what: str, **kwargs: Any) -> T:
    try:
        return loader(name, local_files_only=True, **kwargs)
    except MissingDependencyError:
        raise
    except Exception:  # not in the cache, or not all of it: try the Hub itself
        pass
    if not hub_reachable():
        from huggingface_hub import constants

        raise CheckpointError(
            f"Cannot reach the Hugging Face Hub ({constants.ENDPOINT}) to download the {what} of "
            f"{name!r}, and it is not in the local cache; there is no local folder {name!r} "
            f"either. {OFFLINE_HINT}"
        )
    try:
        return loader(name, **kwargs)
    except TfprotError:
        raise
    except (OSError, ValueError) as error:
        reason = _first_line(error)
        offline = any(
            word in reason.lower()
            for word in ("connect", "offline", "resolve", "network", "timed out", "cached files")
        )
        if offline:
            raise CheckpointError(
                f"Cannot reach the Hugging Face Hub to download the {what} of {name!r} "
                f"({reason}); there is no local folder {name!r} either. {OFFLINE_HINT}"
            ) from error
        raise CheckpointError(
            f"Cannot load the {what} of {name!r} from the Hugging Face Hub ({reason}). Check the "
            f"name (e.g. 'facebook/esm2_t6_8M_UR50D'); there is no local folder {name!r} either. "
            f"{OFFLINE_HINT}"
        ) from error


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
