"""A 🤗 Spaces folder for the app: what ``tfprot space`` writes and ``tfprot push --space``
uploads.

The folder holds ``app.py`` (serves ``model/`` with :func:`tfprot.app.serve`), a
``requirements.txt`` with tfprot's requirements (and the app extra's, and the fold extra's when
folding) pinned to the versions installed here, a ``README.md`` whose YAML header tells Spaces
how to run it (``sdk: gradio``, ``sdk_version``, ``python_version``, ``app_file``), the model's
files in ``model/``, and tfprot itself (``tfprot/``, with a ``setup.cfg`` giving its version):
tfprot is installed from its source, not from PyPI, so the Space carries the same source.
``tfprot_space.json`` records what the folder was written from; an earlier Space folder is
replaced atomically, any other non-empty folder is refused.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from tfprot._io import atomic_folder, ensure_replaceable, write_text_atomic
from tfprot.app.about import description, title, untrained_warnings
from tfprot.app.settings import AppSettings
from tfprot.errors import MissingDependencyError, OptionError
from tfprot.sharing.facts import METRICS_FILE, read_facts
from tfprot.sharing.folder import UploadFolder

__all__ = [
    "MODEL_FOLDER",
    "SPACE_MARKER",
    "app_source",
    "is_space_folder",
    "read_space",
    "space_readme",
    "space_requirements",
    "write_space",
]

SPACE_MARKER = "tfprot_space.json"
MODEL_FOLDER = "model"
APP_FILE = "app.py"
EXTRAS = ("app",)
"""tfprot's extras every Space needs (``fold`` is added when the Space folds)."""
PLACEHOLDER_REPO = "USER/NAME"

_SKIPPED_IN_PACKAGE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.so", ".*")


def is_space_folder(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a folder that :func:`write_space` wrote."""
    return (Path(path) / SPACE_MARKER).is_file()


def space_requirements(*, folding: bool) -> list[str]:
    """tfprot's requirements for a Space, pinned (``name==version``) to what is installed here:
    the core, the app extra and, when ``folding``, the fold extra.

    Raises:
        MissingDependencyError: one of them is not installed here (so its version is unknown).
    """
    from packaging.requirements import Requirement
    from packaging.version import Version

    extras = {"", *EXTRAS, *(("fold",) if folding else ())}
    names: list[str] = []
    for text in metadata.requires("tfprot") or []:
        requirement = Requirement(text)
        marker = requirement.marker
        if marker is None or any(marker.evaluate({"extra": extra}) for extra in extras):
            names.append(requirement.name)
    if "gradio" not in names:  # tfprot installed before the app extra existed
        names.append("gradio")
    pinned = []
    for name in dict.fromkeys(names):
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            extra = "fold" if folding else "app"
            raise MissingDependencyError(
                f"{name} is not installed here, so the Space cannot pin the version that works: "
                f'pip install "tfprot[{extra}]" first.'
            ) from None
        pinned.append(f"{name}=={Version(installed).public}")
    return pinned


def app_source(settings: AppSettings, *, title_text: str) -> str:
    """The Space's ``app.py``."""
    arguments = "".join(
        f"    {name}={value!r},\n" for name, value in settings.as_arguments().items()
    )
    return f'''"""{title_text}: a Hugging Face Space written by `tfprot space`.

Serves the model in ./{MODEL_FOLDER} with tfprot's Gradio app (tfprot's source is in ./tfprot).
Run it here with: pip install -r requirements.txt && python {APP_FILE}
"""

import os
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from tfprot.app import AppSettings, serve  # noqa: E402

SETTINGS = AppSettings(
{arguments})

if __name__ == "__main__":
    serve(Path(__file__).resolve().parent / "{MODEL_FOLDER}", SETTINGS)
'''


def space_readme(
    facts: Any,
    settings: AppSettings,
    *,
    title_text: str,
    repo_id: str | None,
    gradio_version: str,
) -> str:
    """The Space's ``README.md``: the Spaces YAML header, what the model is, its warnings, and
    how to call it with ``gradio_client``."""
    from huggingface_hub import SpaceCardData

    header = SpaceCardData(
        title=title_text[:60],
        sdk="gradio",
        sdk_version=gradio_version,
        python_version=f"{sys.version_info.major}.{sys.version_info.minor}",
        app_file=APP_FILE,
        license="apache-2.0",
        emoji="🧬",
        colorFrom="indigo",
        colorTo="green",
        pinned=False,
        short_description=f"tfprot {facts.task} model: paste a protein"[:60],
    ).to_yaml()
    from tfprot.fold import FOLD_PRESETS

    preset = FOLD_PRESETS.get(settings.fold_model or "")
    warnings = untrained_warnings(
        facts, fold_model=settings.fold_model, fold_untrained=bool(preset and preset.untrained)
    )
    warned = "".join(f"> **Warning:** {text}\n\n" for text in warnings)
    folding = (
        f" The first sequence of a request is folded by {settings.fold_model}: a 3D view "
        "coloured by pLDDT, the pLDDT plot, the PAE heat map and the PDB file."
        if settings.folding
        else ""
    )
    return f"""---
{header}
---

# {title_text}

{description(facts)}

{warned}Paste a protein sequence (or FASTA with up to {settings.max_sequences} records of at most
{settings.max_length} residues), or upload a FASTA or CSV file, and get the model's answer with
a CSV download.{folding}

## From Python

```python
from gradio_client import Client

client = Client("{repo_id or PLACEHOLDER_REPO}")
print(client.predict("MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ", api_name="/predict"))
```

`/predict` takes one raw sequence or FASTA text and returns the task, the label names and one
record per sequence.

## What is here

Written by `tfprot space`: `{APP_FILE}` serves `{MODEL_FOLDER}/` with tfprot's app; `tfprot/`
is tfprot's source; `requirements.txt` pins the versions it was written with. Run it locally with
`pip install -r requirements.txt && python {APP_FILE}`.
"""


def write_space(
    model_dir: str | os.PathLike,
    out: str | os.PathLike,
    settings: AppSettings | None = None,
    *,
    title_text: str | None = None,
    repo_id: str | None = None,
) -> UploadFolder:
    """Write the Spaces folder for ``model_dir`` at ``out`` (replaced if it is an earlier one).

    Args:
        model_dir: a folder written by ``tfprot train`` or ``save_pretrained``.
        out: the Space folder; must not be inside ``model_dir``.
        settings: the app's limits and folding (``fold_model`` must be a Hub id or
            ``tiny-esmfold``: a Space cannot reach a local folder).
        title_text: the Space's title (default: ``tfprot: <data set or folder name>``).
        repo_id: the Space's id, for the README's usage example (default ``USER/NAME``).

    Returns:
        The folder, its files (relative paths) and the model's facts.

    Raises:
        CheckpointError: not a tfprot model folder, or ``out`` a non-empty folder that is not
            an earlier Space folder.
        OptionError: ``out`` inside ``model_dir``, or a local fold model.
        MissingDependencyError: a requirement is not installed here (its version is unknown).
    """
    settings = settings or AppSettings()
    model_dir, out = Path(model_dir), Path(out)
    facts = read_facts(model_dir)
    if out.resolve().is_relative_to(model_dir.resolve()):
        raise OptionError(
            f"The Space folder {out} must not be inside the model folder {model_dir}."
        )
    if settings.fold_model is not None and Path(settings.fold_model).exists():
        raise OptionError(
            f"fold model {settings.fold_model!r} is a local folder, which a Space cannot reach; "
            "use a Hub id such as facebook/esmfold_v1 (or tiny-esmfold to try the pipeline)."
        )
    ensure_replaceable(out, SPACE_MARKER, "a Space folder written by tfprot space")
    title_text = title_text or title(facts, model_dir.resolve().name)
    requirements = space_requirements(folding=settings.folding)
    gradio_version = next(line for line in requirements if line.startswith("gradio=="))[8:]
    import tfprot

    package = Path(tfprot.__file__).resolve().parent
    with atomic_folder(out) as staging:
        shutil.copytree(package, staging / "tfprot", ignore=_SKIPPED_IN_PACKAGE)
        skipped = _copy_model(model_dir, staging / MODEL_FOLDER)
        write_text_atomic(staging / APP_FILE, app_source(settings, title_text=title_text))
        write_text_atomic(staging / "requirements.txt", "\n".join(requirements) + "\n")
        write_text_atomic(
            staging / "README.md",
            space_readme(
                facts,
                settings,
                title_text=title_text,
                repo_id=repo_id,
                gradio_version=gradio_version,
            ),
        )
        write_text_atomic(
            staging / "setup.cfg",
            f"# the version of the tfprot source in ./tfprot\n[metadata]\nname = tfprot\n"
            f"version = {tfprot.__version__}\n",
        )
        record = {
            "tfprot_version": tfprot.__version__,
            "model": str(model_dir.resolve()),
            "settings": settings.as_arguments(),
            "requirements": requirements,
        }
        write_text_atomic(staging / SPACE_MARKER, json.dumps(record, indent=2) + "\n")
    files = tuple(sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()))
    return UploadFolder(out, files, facts, tuple(skipped))


def read_space(path: str | os.PathLike) -> UploadFolder:
    """A Space folder :func:`write_space` wrote earlier, as it is (to upload it).

    Raises:
        CheckpointError: not such a folder, or its ``model/`` is not a tfprot model.
    """
    from tfprot.errors import CheckpointError

    path = Path(path)
    if not is_space_folder(path):
        raise CheckpointError(
            f"{path}: not a Space folder written by tfprot space (no {SPACE_MARKER})."
        )
    facts = read_facts(path / MODEL_FOLDER)
    files = tuple(sorted(p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file()))
    return UploadFolder(path, files, facts)


def _copy_model(model_dir: Path, target: Path) -> list[str]:
    """Copy the model's files (and ``metrics.json`` from beside it); return what was left out."""
    target.mkdir()
    skipped = []
    for path in sorted(model_dir.iterdir()):
        if path.name.startswith("."):
            skipped.append(f"{path.name} (hidden)")
        elif not path.is_file():
            skipped.append(f"{path.name}/ (a folder)")
        else:
            shutil.copyfile(path, target / path.name)
    beside = model_dir.parent / METRICS_FILE
    if not (target / METRICS_FILE).exists() and beside.is_file():
        shutil.copyfile(beside, target / METRICS_FILE)
    return skipped
