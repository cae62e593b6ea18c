"""How the app serves: per-request limits, folding, the queue. Checked on construction.

>>> AppSettings(fold_model="none").fold_model is None
True
>>> AppSettings(max_sequences=0)
Traceback (most recent call last):
...
tfprot.errors.OptionError: max_sequences must be a positive whole number, got 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tfprot.errors import OptionError

__all__ = ["NO_FOLDING", "AppSettings"]

NO_FOLDING = "none"
"""``fold_model`` value (as on the command line) that turns folding off."""


@dataclass(frozen=True)
class AppSettings:
    """How the app serves.

    Attributes:
        max_sequences: the most sequences one request may hold; more are refused, the limit
            stated.
        max_length: the most residues a sequence may have; a longer one is refused.
        fold_model: the ESMFold checkpoint for the 3D view (``'facebook/esmfold_v1'``, a local
            folder, or the untrained offline ``'tiny-esmfold'``); ``None`` or ``'none'``: no
            folding.
        fold_max_length: the most residues a folded sequence may have (ESMFold's time and
            memory grow with the cube of the length); a longer first sequence is predicted but
            not folded, and the page says why.
        fold_device: where ESMFold runs: ``'auto'`` (a CUDA GPU when there is one), ``'cpu'``...
        num_recycles: ESMFold trunk recycles (``None``: the model's default).
        max_queue: requests that may wait in Gradio's queue; more are turned away until it
            empties.
    """

    max_sequences: int = 50
    max_length: int = 1000
    fold_model: str | None = None
    fold_max_length: int = 400
    fold_device: str = "auto"
    num_recycles: int | None = None
    max_queue: int = 64

    def __post_init__(self) -> None:
        for name in ("max_sequences", "max_length", "fold_max_length", "max_queue"):
            _whole(name, getattr(self, name), minimum=1)
        if self.num_recycles is not None:
            _whole("num_recycles", self.num_recycles, minimum=0)
        if self.fold_model is not None and (
            not isinstance(self.fold_model, str) or not self.fold_model.strip()
        ):
            raise OptionError(
                f"fold_model must be an ESMFold checkpoint name or folder, or {NO_FOLDING!r}, "
                f"got {self.fold_model!r}."
            )
        if self.fold_model is not None and self.fold_model.strip().lower() == NO_FOLDING:
            object.__setattr__(self, "fold_model", None)

    @property
    def folding(self) -> bool:
        return self.fold_model is not None

    def as_arguments(self) -> dict[str, Any]:
        """The settings as keyword arguments (what ``tfprot space`` writes into ``app.py``).

        >>> AppSettings(max_sequences=5).as_arguments()["max_sequences"]
        5
        """
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


def _whole(name: str, value: Any, *, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        expected = "a positive whole number" if minimum == 1 else f"a whole number >= {minimum}"
        raise OptionError(f"{name} must be {expected}, got {value!r}.")
