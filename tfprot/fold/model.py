"""ESMFold through PyTorch: load a checkpoint and predict structures as numpy arrays.

The only module of tfprot that runs torch (imported inside its functions). It loads
``facebook/esmfold_v1``, a local folder saved with ``save_pretrained``, or the offline
``tiny-esmfold`` preset (random weights, loudly labelled untrained); puts the model on CUDA when
there is one, the ESM-2 language-model stem in float16 there (float32 on CPU), and allows TF32
matmuls on Ampere and newer GPUs.

``EsmForProteinFolding`` returns pTM through ``compute_tm`` over the whole padded batch (one
scalar for all sequences, counting padding and linkers); tfprot computes pTM, PAE and pLDDT per
structure over its real residues only, so a result does not depend on its batch companions.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tfprot.errors import CheckpointError
from tfprot.fold._torch import import_torch
from tfprot.fold.presets import DEFAULT_CHECKPOINT, resolve_fold_checkpoint
from tfprot.fold.residues import UNKNOWN, ChainLayout
from tfprot.fold.resume import ModelIdentity, checkpoint_revision, untrained_revision

__all__ = ["ESMFoldModel", "StructurePrediction", "select_device"]

logger = logging.getLogger(__name__)

CA_ATOM = 1  # index of C-alpha in the atom37 layout
BACKBONE_ATOM37 = [0, 1, 2, 4]  # N, CA, C, O in the atom37 layout


@dataclass(frozen=True)
class StructurePrediction:
    """One predicted structure, linkers removed.

    Attributes:
        aatype: AlphaFold residue indices ``[L]``.
        positions: atom37 coordinates ``[L, 37, 3]`` (ångström).
        atom_mask: atoms that exist for each residue type ``[L, 37]``.
        plddt: per-residue pLDDT of the C-alpha, 0-100 ``[L]``.
        ptm: predicted TM-score over the real residues, 0-1.
        pae: predicted aligned error ``[L, L]`` (ångström).
    """

    aatype: np.ndarray
    positions: np.ndarray
    atom_mask: np.ndarray
    plddt: np.ndarray
    ptm: float
    pae: np.ndarray


def select_device(device: str = "auto") -> str:
    """``'cuda'`` when ``device='auto'`` and a CUDA GPU is available, else ``'cpu'``;
    an explicit device (``'cuda:1'``, ``'cpu'``) is returned as given."""
    torch = import_torch()
    if device != "auto":
        return device
    return "cuda" if torch.cuda.is_available() else "cpu"


def _build_untrained(config: dict[str, Any], device: str, seed: int) -> Any:
    """``EsmForProteinFolding`` of ``config`` with random weights from ``seed``, built directly
    on ``device`` (a 3.5B model never passes through host memory)."""
    torch = import_torch()
    from importlib import resources

    from transformers import EsmConfig, EsmForProteinFolding

    vocabulary = (resources.files("tfprot") / "_resources" / "esm2_vocab.txt").read_text()
    torch.manual_seed(seed)
    with torch.device(device):
        return EsmForProteinFolding(EsmConfig(**config, vocab_list=vocabulary.split()))


class ESMFoldModel:
    """A loaded ESMFold, ready to predict batches of :class:`ChainLayout`.

    Use :meth:`load`; the wrapped ``transformers.EsmForProteinFolding`` is :attr:`model`.
    """

    def __init__(
        self,
        model: Any,
        *,
        name: str,
        untrained: bool,
        device: str,
        revision: str | None = None,
    ) -> None:
        self.model = model
        self.name = name
        self.untrained = untrained
        self.device = device
        self.revision = revision
        self.compiled: str | None = None
        self.length_buckets = False

    @classmethod
    def load(
        cls,
        checkpoint: str | os.PathLike = DEFAULT_CHECKPOINT,
        *,
        device: str = "auto",
        fp16_stem: bool | None = None,
        tf32: bool = True,
        seed: int = 0,
    ) -> ESMFoldModel:
        """Load ESMFold.

        Args:
            checkpoint: ``'facebook/esmfold_v1'`` (default), another Hub id, a local folder, or
                the preset ``'tiny-esmfold'`` (built offline with random weights from ``seed``).
            device: ``'auto'`` (CUDA when available), ``'cpu'``, ``'cuda'``, ``'cuda:1'``...
            fp16_stem: run the ESM-2 stem in float16; ``None``: on CUDA only.
            tf32: allow TF32 matmuls on Ampere and newer GPUs (sets torch's global flags).

        Raises:
            MissingDependencyError: torch is not installed.
            CheckpointError: the checkpoint cannot be found or read.
        """
        import_torch()
        from transformers import EsmForProteinFolding

        device = select_device(device)
        preset = resolve_fold_checkpoint(os.fspath(checkpoint))
        if preset is not None and preset.checkpoint is None:
            model = _build_untrained(preset.config, device, seed)
            name, untrained, revision = preset.name, True, untrained_revision(seed)
            logger.warning(
                "%s is UNTRAINED: random weights built from a config, for demos, tests and "
                "measurements. Its structures, pLDDT, pTM and PAE are meaningless; use "
                "facebook/esmfold_v1 for real predictions.",
                preset.name,
            )
        else:
            from tfprot._hub import load_checkpoint

            source = preset.checkpoint if preset is not None else os.fspath(checkpoint)
            model = load_checkpoint(EsmForProteinFolding.from_pretrained, source, "model")
            if not getattr(model.config, "is_folding_model", False):
                raise CheckpointError(
                    f"{source}: this checkpoint is not an ESMFold model (config.is_folding_model "
                    f"is not set); pass facebook/esmfold_v1 or a folder saved from it."
                )
            name, untrained = str(source), False
            revision = checkpoint_revision(str(source)) or getattr(
                model.config, "_commit_hash", None
            )
        return cls.from_module(
            model,
            name=name,
            untrained=untrained,
            device=device,
            revision=revision,
            fp16_stem=fp16_stem,
            tf32=tf32,
        )

    @classmethod
    def from_module(
        cls,
        model: Any,
        *,
        name: str,
        untrained: bool,
        device: str = "auto",
        revision: str | None = None,
        fp16_stem: bool | None = None,
        tf32: bool = True,
    ) -> ESMFoldModel:
        """Wrap a ``transformers.EsmForProteinFolding`` built or loaded elsewhere: moved to
        ``device`` in eval mode, its stem in float16 when ``fp16_stem`` (``None``: on CUDA),
        TF32 matmuls allowed on Ampere and newer GPUs when ``tf32``."""
        torch = import_torch()
        device = select_device(device)
        on_cuda = device.startswith("cuda")
        fp16_stem = on_cuda if fp16_stem is None else bool(fp16_stem)
        model = model.to(device).eval()
        model.esm.to(torch.float16 if fp16_stem else torch.float32)
        if tf32 and on_cuda and torch.cuda.get_device_capability(device)[0] >= 8:
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
        logger.info(
            "ESMFold %s on %s, language-model stem in %s",
            name,
            device,
            "float16" if fp16_stem else "float32",
        )
        return cls(model, name=name, untrained=untrained, device=device, revision=revision)

    # ----------------------------------------------------------------------------------------
    @property
    def max_recycles(self) -> int:
        """Trunk passes when ``num_recycles=None`` (the config's ``max_recycles``)."""
        return int(self.model.config.esmfold_config.trunk.max_recycles)

    @property
    def identity(self) -> ModelIdentity:
        """Name, revision and default recycles: what a stored structure is compared against."""
        return ModelIdentity(self.name, self.revision, self.max_recycles)

    @property
    def fp16_stem(self) -> bool:
        """Whether the ESM-2 stem runs in float16."""
        torch = import_torch()
        return next(self.model.esm.parameters()).dtype == torch.float16

    @property
    def trunk_dims(self) -> tuple[int, int]:
        """(pair state size, pair attention heads) of the folding trunk, for memory estimates."""
        trunk = self.model.config.esmfold_config.trunk
        return trunk.pairwise_state_dim, trunk.pairwise_state_dim // trunk.pairwise_head_width

    def compile_trunk(self, mode: str) -> None:
        """Compile the trunk's blocks with ``torch.compile`` in ``mode`` (this instance only;
        once: a second call with the same mode does nothing). With a CUDA-graph mode on a GPU,
        :meth:`predict` then pads lengths to :data:`~tfprot.fold.compile.LENGTH_BUCKETS`.

        Raises:
            OptionError: ``torch.compile`` cannot work here, or the trunk was compiled already
                in another mode (load the model again).
        """
        from tfprot.errors import OptionError
        from tfprot.fold.compile import (
            CUDA_GRAPH_MODES,
            check_compile_possible,
            compile_trunk_blocks,
        )

        if self.compiled == mode:
            return
        if self.compiled is not None:
            raise OptionError(
                f"this ESMFold's trunk is compiled in mode {self.compiled!r} already; load the "
                f"model again to compile it in mode {mode!r}."
            )
        check_compile_possible(import_torch(), self.device)
        compile_trunk_blocks(self.model.trunk, mode)
        self.compiled = mode
        self.length_buckets = self.device.startswith("cuda") and mode in CUDA_GRAPH_MODES
        logger.info("ESMFold trunk blocks compiled with torch.compile (mode %s)", mode)

    def free_memory(self) -> int | None:
        """Free bytes on the model's GPU, or ``None`` on CPU."""
        torch = import_torch()
        if not self.device.startswith("cuda"):
            return None
        free, _total = torch.cuda.mem_get_info(torch.device(self.device))
        return int(free)

    def release_memory(self) -> None:
        """Return cached GPU blocks after an out-of-memory error."""
        torch = import_torch()
        if self.device.startswith("cuda"):
            torch.cuda.empty_cache()

    def _padded(self, layouts: Sequence[ChainLayout]) -> tuple[np.ndarray, ...]:
        """Residue types, mask and residue indices ``[batch, length]``, padded to the longest
        layout (rounded up to a length bucket when the trunk runs as CUDA graphs)."""
        longest = max(layout.total_length for layout in layouts)
        if self.length_buckets:
            from tfprot.fold.compile import bucket_length

            longest = bucket_length(longest)
        aatype, mask, residx = (np.zeros((len(layouts), longest), np.int64) for _ in range(3))
        for row, layout in enumerate(layouts):
            aatype[row, : layout.total_length] = layout.aatype
            mask[row, : layout.total_length] = 1
            residx[row, : layout.total_length] = layout.residue_index
        return aatype, mask, residx

    def predict(
        self,
        layouts: Sequence[ChainLayout],
        *,
        num_recycles: int | None = None,
        chunk_size: int | None = None,
    ) -> list[StructurePrediction]:
        """Fold a batch (padded to its longest member); one prediction per layout, in order.

        Args:
            layouts: the inputs, from :func:`tfprot.fold.residues.chain_layout`.
            num_recycles: trunk recycles; ``None``: the model's default (``max_recycles``
                trunk passes: 4 passes, 3 recycles, for esmfold_v1).
            chunk_size: triangular-attention chunk size; ``None``: no chunking.
        """
        torch = import_torch()
        from transformers.models.esm.openfold_utils.feats import atom14_to_atom37
        from transformers.models.esm.openfold_utils.loss import compute_tm

        aatype, mask, residx = self._padded(layouts)
        longest, batch = aatype.shape[1], len(layouts)
        device = torch.device(self.device)
        self.model.trunk.set_chunk_size(chunk_size)
        with torch.no_grad():
            output = self.model(
                torch.from_numpy(aatype).to(device),
                attention_mask=torch.from_numpy(mask).to(device),
                position_ids=torch.from_numpy(residx).to(device),
                num_recycles=num_recycles,
            )
            atom14 = output["positions"][-1]
            atom37 = atom14_to_atom37(atom14, output).float().cpu().numpy()
            exists = output["atom37_atom_exists"].float().cpu().numpy()
            # transformers gives unknown residues (X) no atoms, so they would vanish from the
            # PDB file; the structure module still places their backbone (atom14 slots 0-3 are
            # N, CA, C, O for every residue type), so tfprot writes that backbone.
            unknown = (aatype == UNKNOWN) & (mask == 1)
            if unknown.any():
                backbone = atom14[..., :4, :].float().cpu().numpy()
                atom37[..., BACKBONE_ATOM37, :] = np.where(
                    unknown[..., None, None], backbone, atom37[..., BACKBONE_ATOM37, :]
                )
                exists[..., BACKBONE_ATOM37] = np.where(
                    unknown[..., None], 1.0, exists[..., BACKBONE_ATOM37]
                )
            plddt = (100.0 * output["plddt"][..., CA_ATOM]).float().cpu().numpy()
            # The forward pass computes PAE per residue pair (exact for every real pair) but one
            # pTM for the whole padded batch, linkers included: pTM is recomputed per structure
            # unless the structure is the whole batch.
            pae_all = output["predicted_aligned_error"].float().cpu().numpy()
            predictions = []
            for row, layout in enumerate(layouts):
                keep = np.flatnonzero(layout.keep)
                if batch == 1 and len(keep) == longest:
                    ptm = float(output["ptm"])
                else:
                    index = torch.from_numpy(keep).to(device)
                    logits = output["ptm_logits"][row].index_select(0, index)
                    logits = logits.index_select(1, index).float()
                    ptm = float(compute_tm(logits, max_bin=31, no_bins=logits.shape[-1]))
                predictions.append(
                    StructurePrediction(
                        aatype=layout.aatype[keep],
                        positions=atom37[row, keep],
                        atom_mask=exists[row, keep],
                        plddt=plddt[row, keep],
                        ptm=ptm,
                        pae=pae_all[row][np.ix_(keep, keep)],
                    )
                )
        return predictions
