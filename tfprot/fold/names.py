"""File names from sequence ids that cannot escape the output folder or collide.

An id keeps its name when it is already a plain file name (letters, digits, ``.``, ``_``, ``-``,
not starting with ``.``). Anything else (``/``, ``..``, spaces, unicode, a name too long) is
replaced by ``_`` and the name gets a short hash of the original id, so two different ids never
share a file, and ids that differ only in case (which collide on macOS and Windows) get hashes too.

>>> safe_name("P69905")
'P69905'
>>> safe_name("../../etc/passwd")
'etc_passwd-936d7c04'
>>> safe_names(["abc", "ABC", "x y"])
['abc-a9993e36', 'ABC-3c01bdbb', 'x_y-73dec593']
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Sequence

from tfprot.errors import DataFormatError

__all__ = ["MAX_NAME_LENGTH", "safe_name", "safe_names"]

MAX_NAME_LENGTH = 80
_PLAIN = re.compile(r"[A-Za-z0-9._-]+")
_OTHER = re.compile(r"[^A-Za-z0-9._-]+")
_RESERVED = {
    "con",
    "prn",
    "aux",
    "nul",
    *(f"com{i}" for i in range(10)),
    *(f"lpt{i}" for i in range(10)),
}


def _digest(identifier: str) -> str:
    return hashlib.sha1(identifier.encode("utf-8")).hexdigest()[:8]


def _is_plain(identifier: str) -> bool:
    return (
        bool(_PLAIN.fullmatch(identifier))
        and not identifier.startswith((".", "-"))
        and len(identifier) <= MAX_NAME_LENGTH
        and identifier.split(".")[0].lower() not in _RESERVED
    )


def safe_name(identifier: str, *, force_hash: bool = False) -> str:
    """A file-name stem for ``identifier``: itself when plain, else a cleaned name plus a hash."""
    identifier = str(identifier)
    if _is_plain(identifier) and not force_hash:
        return identifier
    stem = _OTHER.sub("_", identifier).strip("._-")[: MAX_NAME_LENGTH - 9] or "seq"
    return f"{stem}-{_digest(identifier)}"


def safe_names(identifiers: Sequence[str]) -> list[str]:
    """:func:`safe_name` for a batch: ids equal but for case get hashes, so no two names collide
    on a case-insensitive file system. Ids must be distinct."""
    folded = Counter(str(identifier).lower() for identifier in identifiers)
    names = [
        safe_name(identifier, force_hash=folded[str(identifier).lower()] > 1)
        for identifier in identifiers
    ]
    clashes = [name for name, count in Counter(n.lower() for n in names).items() if count > 1]
    if clashes:  # only when the same id is given twice: callers reject duplicates first
        raise DataFormatError(
            f"Two sequence ids give the file name {clashes[0]!r}; give the sequences unique ids."
        )
    return names
