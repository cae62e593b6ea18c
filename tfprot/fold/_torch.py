"""The one door to torch: imported lazily, with an error that names the extra to install.

>>> is_out_of_memory(RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"))
True
>>> is_out_of_memory(ValueError("out of memory"))
False
"""

from __future__ import annotations

from types import ModuleType

from tfprot.errors import MissingDependencyError

__all__ = ["import_torch", "is_out_of_memory"]

INSTALL_HINT = 'pip install "tfprot[fold]"'


def import_torch() -> ModuleType:
    """Import and return torch, or raise :class:`MissingDependencyError` naming the extra."""
    try:
        import torch
    except ImportError as error:
        raise MissingDependencyError(
            "Folding needs PyTorch (ESMFold exists only in PyTorch), which is not installed. "
            f"Install the fold extra: {INSTALL_HINT}"
        ) from error
    return torch


def is_out_of_memory(error: BaseException) -> bool:
    """Whether ``error`` is an out-of-memory error of torch (CUDA, MPS or the CPU allocator)."""
    if type(error).__name__ == "OutOfMemoryError":
        return True
    if not isinstance(error, RuntimeError):
        return False
    text = str(error).lower()
    return "out of memory" in text or "can't allocate memory" in text
