"""Push a saved model to the 🤗 Hub: create the repository, upload the staged folder.

Through ``huggingface_hub``'s ``HfApi.create_repo`` (``exist_ok=True``) and ``upload_folder``
(one commit with every file; weights go through Git LFS as the Hub decides). The endpoint is
``huggingface_hub.constants.ENDPOINT``: ``$HF_ENDPOINT``, read once when huggingface_hub is
imported (huggingface_hub parses the URLs the Hub returns against that same value, so tfprot
offers no separate endpoint argument that could disagree with it). Every failure becomes a one-line :class:`HubError` naming the
endpoint; the token never appears in logs or messages.

>>> from tfprot.sharing.push import hub_endpoint
>>> hub_endpoint("http://127.0.0.1:8080/")
'http://127.0.0.1:8080'
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import sys
import tempfile
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tfprot.errors import HubError, OptionError, TfprotError
from tfprot.sharing.folder import UploadFolder, prepare_upload
from tfprot.sharing.token import Token, redact, resolve_token

__all__ = ["PushResult", "hub_endpoint", "push_to_hub", "upload_staged"]

logger = logging.getLogger(__name__)

REPO_TYPES = ("model", "space")
"""What tfprot uploads: a model repository, or a Gradio Space (``tfprot push --space``)."""


@dataclass(frozen=True)
class PushResult:
    """What was pushed: the repository URL, the commit URL and the uploaded file names."""

    repo_url: str
    commit_url: str
    files: tuple[str, ...]


def hub_endpoint(endpoint: str | None = None) -> str:
    """The Hub endpoint in use: ``endpoint``, else huggingface_hub's (``$HF_ENDPOINT``)."""
    if endpoint is None:
        from huggingface_hub import constants

        endpoint = constants.ENDPOINT
    return endpoint.rstrip("/")


def push_to_hub(
    model_dir: str | os.PathLike,
    repo_id: str,
    *,
    token: str | Token | None = None,
    token_env: str = "HF_TOKEN",
    private: bool = False,
    card: str | os.PathLike | None = None,
    commit_message: str | None = None,
    timeout: float = 10.0,
    progress: bool | None = None,
) -> PushResult:
    """Push a saved tfprot model (weights, config, tokenizer, model card) to ``repo_id``.

    Args:
        model_dir: the folder ``save_pretrained`` (or ``tfprot train``) wrote.
        repo_id: ``USER/NAME``; created (``private`` if asked) when it does not exist.
        token: a Hub token, or ``None`` for the usual places (see :mod:`tfprot.sharing.token`).
        token_env: the environment variable to read first.
        card: a Markdown file to use as ``README.md`` instead of the generated card.
        timeout: seconds to wait for the endpoint to accept a connection.
        progress: huggingface_hub's upload progress bars; ``None``: only when stderr is a
            terminal.

    Raises:
        CheckpointError: not a tfprot model folder.
        HubError: an unreachable Hub, a refused token or card, any other Hub error.
        OptionError: no token, or a malformed ``repo_id``.
    """
    token = token if isinstance(token, Token) else resolve_token(token, env=token_env)
    with tempfile.TemporaryDirectory(prefix="tfprot-push-") as workspace:
        staged = prepare_upload(model_dir, repo_id, Path(workspace) / "upload", card=card)
        return upload_staged(
            staged,
            repo_id,
            token=token,
            private=private,
            commit_message=commit_message,
            timeout=timeout,
            progress=progress,
        )


def upload_staged(
    staged: UploadFolder,
    repo_id: str,
    *,
    token: Token,
    private: bool = False,
    commit_message: str | None = None,
    timeout: float = 10.0,
    progress: bool | None = None,
    repo_type: str = "model",
) -> PushResult:
    """Create ``repo_id`` if needed and upload the staged folder as one commit.

    ``repo_type='space'`` uploads a Space folder (``tfprot.app.space.write_space``) as a
    Gradio Space."""
    from huggingface_hub import HfApi

    if repo_type not in REPO_TYPES:
        raise OptionError(f"repo_type must be one of {REPO_TYPES}, got {repo_type!r}.")
    space = repo_type == "space"
    commit_message = commit_message or f"Upload a tfprot {'Space' if space else 'model'}"
    endpoint = hub_endpoint()
    _check_reachable(endpoint, timeout)
    api = HfApi(endpoint=endpoint, token=token.value)
    logger.info("Pushing %d files to %s/%s (%s).", len(staged.files), endpoint, repo_id, token)
    try:
        with _progress_bars(sys.stderr.isatty() if progress is None else progress):
            repo_url = api.create_repo(
                repo_id,
                private=private,
                exist_ok=True,
                repo_type=repo_type,
                space_sdk="gradio" if space else None,
            )
            commit = api.upload_folder(
                repo_id=repo_id,
                folder_path=staged.path,
                repo_type=repo_type,
                commit_message=commit_message,
            )
    except TfprotError:
        raise
    except Exception as error:
        raise _hub_error(error, endpoint, repo_id, token) from None
    logger.info("Pushed %s: %s", repo_id, commit.commit_url)
    return PushResult(str(repo_url), str(commit.commit_url), staged.files)


@contextlib.contextmanager
def _progress_bars(enabled: bool) -> Iterator[None]:
    """huggingface_hub's progress bars on or off for the block, then as they were."""
    from huggingface_hub.utils import (
        are_progress_bars_disabled,
        disable_progress_bars,
        enable_progress_bars,
    )

    was_disabled = are_progress_bars_disabled()
    (enable_progress_bars if enabled else disable_progress_bars)()
    try:
        yield
    finally:
        (disable_progress_bars if was_disabled else enable_progress_bars)()


def _check_reachable(endpoint: str, timeout: float) -> None:
    """Fail fast, in one line, when nothing listens at the endpoint."""
    url = urllib.parse.urlparse(endpoint)
    if url.scheme not in ("http", "https") or not url.hostname:
        raise HubError(
            f"Hub endpoint {endpoint!r} is not an http(s) URL; check $HF_ENDPOINT "
            "(default https://huggingface.co)."
        )
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname, port), timeout=timeout):
            pass
    except OSError as error:
        raise HubError(
            f"Cannot reach the Hugging Face Hub at {endpoint} ({error.strerror or error}); check "
            "the network or $HF_ENDPOINT, then push again. Nothing was uploaded."
        ) from None


def _hub_error(error: Exception, endpoint: str, repo_id: str, token: Token) -> HubError:
    import requests

    status = getattr(getattr(error, "response", None), "status_code", None)
    reason = redact(_reason(error), token)
    if isinstance(error, requests.exceptions.ConnectionError | requests.exceptions.Timeout):
        return HubError(
            f"Cannot reach the Hugging Face Hub at {endpoint} ({type(error).__name__}); check "
            "the network or $HF_ENDPOINT, then push again."
        )
    if status in (401, 403):
        return HubError(
            f"The Hub at {endpoint} refused the {token} for {repo_id!r} (HTTP {status}); use a "
            "token with write access to that namespace (https://huggingface.co/settings/tokens)."
        )
    where = f"HTTP {status}" if status else type(error).__name__
    return HubError(f"Pushing to {repo_id!r} at {endpoint} failed ({where}: {reason}).")


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def _reason(error: BaseException) -> str:
    """The error's first line, and its root cause's when it wraps one."""
    root = error
    while root.__cause__ is not None or root.__context__ is not None:
        root = root.__cause__ or root.__context__
    text = _first_line(error)
    if root is not error:
        text += f"; cause: {type(root).__name__}: {_first_line(root)}"
    return text
