"""Load from a 🤗 Hub id or a local folder, turning failures into a clear CheckpointError."""

from __future__ import annotations

import os
import socket
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from tfprot.errors import CheckpointError

T = TypeVar("T")

OFFLINE_HINT = (
    "Pass a local folder that holds the checkpoint (saved with save_pretrained), or use the "
    "offline preset 'tiny-esm' (untrained) to try tfprot without network."
)


def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether a TCP connection to the Hub endpoint (``HF_ENDPOINT``) opens within ``timeout``."""
    from huggingface_hub import constants

    url = urllib.parse.urlparse(constants.ENDPOINT)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname, port), timeout=timeout):
            return True
    except OSError:
        return False


def load_checkpoint(
    loader: Callable[..., T], checkpoint: str | os.PathLike, what: str, **kwargs: Any
) -> T:
    """Call ``loader(checkpoint, **kwargs)`` (a ``from_pretrained``) and explain failures.

    A local folder that lacks files is reported as such. A Hub id is first looked up in the local
    🤗 cache; if it is not there and the Hub cannot be reached, the error comes at once (instead of
    after a minute of retries), saying what to do instead. Nothing is ever faked.
    """
    name = os.fspath(checkpoint)
    path = Path(name).expanduser()
    # A Hub id is 'name' or 'org/name'; anything else that does not exist is a missing folder.
    looks_local = name.startswith((".", "/", "~")) or name.strip("/").count("/") > 1
    if not path.exists() and not looks_local:
        try:
            return loader(name, local_files_only=True, **kwargs)
        except (OSError, ValueError):
            pass
        if not hub_reachable():
            from huggingface_hub import constants

            raise CheckpointError(
                f"Cannot reach the Hugging Face Hub ({constants.ENDPOINT}) to download the {what} of "
                f"{name!r}, and it is not in the local cache; there is no local folder {name!r} "
                f"either. {OFFLINE_HINT}"
            )
    try:
        return loader(str(path) if path.exists() else name, **kwargs)
    except (OSError, ValueError) as error:
        if path.exists():
            present = sorted(p.name for p in path.iterdir()) if path.is_dir() else [path.name]
            raise CheckpointError(
                f"{name}: cannot load the {what} from this local folder ({_first_line(error)}). "
                f"It holds {present}; a checkpoint folder needs the files save_pretrained writes "
                "(config.json, weights, tokenizer files)."
            ) from error
        if looks_local:
            raise CheckpointError(f"{name}: no such checkpoint folder.") from error
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
