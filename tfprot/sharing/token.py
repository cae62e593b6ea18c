"""The Hub token, from the usual places, and never shown.

Order: the ``token`` argument; the environment variable named by ``env`` (``HF_TOKEN`` by
default, then huggingface_hub's legacy ``HUGGING_FACE_HUB_TOKEN``); the token file that
``hf auth login`` writes (``$HF_TOKEN_PATH``, default ``~/.cache/huggingface/token``). The token
itself is never logged or put into a message: :class:`Token` prints as its source only.

>>> token = Token("hf_secret_value", "the argument")
>>> str(token), repr(token)
('<token from the argument>', '<token from the argument>')
>>> redact("failed with hf_secret_value", token)
'failed with ***'
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from tfprot.errors import OptionError

__all__ = ["Token", "redact", "resolve_token"]


@dataclass(frozen=True)
class Token:
    """A token and where it came from; ``str()`` and ``repr()`` show only the source."""

    value: str = field(repr=False)
    source: str

    def __str__(self) -> str:
        return f"<token from {self.source}>"

    __repr__ = __str__


def resolve_token(token: str | None = None, *, env: str = "HF_TOKEN") -> Token:
    """Find the Hub token.

    Raises:
        OptionError: no token anywhere (the message says where it looked), or the variable
            named by ``env`` is set but empty.
    """
    if token:
        return Token(token.strip(), "the argument")
    names = [env] + [name for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN") if name != env]
    for name in names:
        value = os.environ.get(name)
        if value is not None and value.strip():
            return Token(value.strip(), f"${name}")
        if value is not None and name == env and env != "HF_TOKEN":
            raise OptionError(f"${env} is set but empty; put your Hub token in it.")
    path = _token_path()
    try:
        value = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        value = ""
    if value:
        return Token(value, f"the token file {path}")
    raise OptionError(
        f"No Hugging Face token: set ${env} (a write token from "
        "https://huggingface.co/settings/tokens), or log in once with 'hf auth login' "
        f"(it writes {path})."
    )


def _token_path() -> Path:
    from huggingface_hub import constants

    return Path(constants.HF_TOKEN_PATH)


def redact(text: str, token: Token | str | None) -> str:
    """``text`` with every occurrence of the token replaced by ``***``."""
    value = token.value if isinstance(token, Token) else token
    return text.replace(value, "***") if value else text
