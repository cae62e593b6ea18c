"""Opt-in ``torch.compile`` of the folding trunk: fewer kernel launches per block.

At the lengths most proteins have, ESMFold's trunk (48 blocks of triangle updates and attention
on a GPU) is bound by kernel launches and host work, not arithmetic. ``FoldOptions(compile=True)``
compiles each trunk block of the loaded model with ``torch.compile`` (the instance's blocks only;
no class changes): Inductor fuses the element-wise work, and on a GPU mode ``'reduce-overhead'``
replays each block as a CUDA graph. CUDA graphs are recorded per input shape, so on a GPU the
padded length is rounded up to one of a few :data:`LENGTH_BUCKETS` (a padded residue is masked
out and changes no result beyond rounding) and few shapes are recorded. The first batch of each
shape pays the compilation: tens of seconds on a CPU, more for the full-size trunk.

>>> bucket_length(72), bucket_length(300), bucket_length(1000)
(72, 328, 1016)
>>> compile_mode(True, "cuda"), compile_mode(True, "cpu"), compile_mode(False, "cuda")
('reduce-overhead', 'default', None)
"""

from __future__ import annotations

import os
import shutil
from typing import Any

from tfprot.errors import OptionError

__all__ = [
    "CUDA_GRAPH_MODES",
    "LENGTH_BUCKETS",
    "bucket_length",
    "check_compile_possible",
    "compile_mode",
    "compile_trunk_blocks",
]

CUDA_GRAPH_MODES = ("reduce-overhead", "max-autotune")
"""``torch.compile`` modes that record CUDA graphs (one per input shape)."""


def _buckets(start: int = 32, stop: int = 4096, step: float = 1.1) -> tuple[int, ...]:
    """Lengths from ``start`` growing by about ``step`` each, multiples of 8."""
    sizes, size = [], start
    while size < stop:
        sizes.append(size)
        size = max(size + 8, int(-(-size * step // 8) * 8))
    return (*sizes, stop)


LENGTH_BUCKETS = _buckets()
"""Padded lengths on a GPU with CUDA graphs: about 10% apart (the ``max_length_ratio`` of a batch),
multiples of 8, 32 to 4,096 residues; a padded residue costs what a real one does."""


def bucket_length(length: int) -> int:
    """The smallest bucket that holds ``length`` residues (``length`` itself beyond the last)."""
    for bucket in LENGTH_BUCKETS:
        if bucket >= length:
            return bucket
    return length


def compile_mode(option: bool | str, device: str) -> str | None:
    """The ``torch.compile`` mode for ``FoldOptions.compile`` on ``device`` (``None``: off)."""
    if option is False:
        return None
    if option is True:
        return "reduce-overhead" if str(device).startswith("cuda") else "default"
    return str(option)


def check_compile_possible(torch: Any, device: str) -> None:
    """Refuse ``compile`` where ``torch.compile`` cannot work, saying why.

    Raises:
        OptionError: this Python or platform has no TorchDynamo, or a CPU build has no C++
            compiler for Inductor's kernels.
    """
    try:
        supported = bool(torch._dynamo.is_dynamo_supported())
    except Exception:  # an older or unusual build: let torch.compile decide
        supported = True
    if not supported:
        raise OptionError(
            f"compile=True: torch.compile is not supported on this Python or platform (torch "
            f"{torch.__version__}); fold without --compile."
        )
    if not str(device).startswith("cuda"):
        compilers = [os.environ.get("CXX"), "c++", "g++", "clang++"]
        if not any(name and shutil.which(name) for name in compilers):
            raise OptionError(
                "compile=True on a CPU needs a C++ compiler (g++ or clang++) for torch.compile's "
                "kernels, and none is on the PATH; install one or fold without --compile."
            )


def compile_trunk_blocks(trunk: Any, mode: str) -> None:
    """Compile every block of an ``EsmFoldingTrunk`` in place (``nn.Module.compile``).

    The blocks share one code object, so one compilation serves all of them for a shape; shapes
    beyond the first compile once more, with dynamic sizes (``dynamic=None``).
    """
    for block in trunk.blocks:
        block.compile(mode=mode, dynamic=None)
