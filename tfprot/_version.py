"""tfprot's version, written once: ``version`` in ``setup.cfg``.

An installed tfprot (editable or not) reads it from its package metadata; a source tree that was
never installed reads ``setup.cfg`` beside the package.

>>> from importlib import metadata
>>> __version__ == metadata.version("tfprot")
True
"""

from __future__ import annotations

import configparser
from importlib import metadata
from pathlib import Path

__all__ = ["__version__", "version"]

UNKNOWN = "0+unknown"
"""The version of a tfprot with neither package metadata nor a ``setup.cfg``."""


def version() -> str:
    """The installed distribution's version, else ``setup.cfg``'s, else :data:`UNKNOWN`."""
    try:
        return metadata.version("tfprot")
    except metadata.PackageNotFoundError:
        return _source_tree_version() or UNKNOWN


def _source_tree_version() -> str | None:
    setup_cfg = Path(__file__).resolve().parent.parent / "setup.cfg"
    parser = configparser.ConfigParser()
    if not parser.read(setup_cfg, encoding="utf-8"):
        return None
    return parser.get("metadata", "version", fallback=None)


__version__ = version()
