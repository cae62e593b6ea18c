"""Write each example script's notebook (``NAME.py`` → ``NAME.ipynb``), or check they match.

The scripts are the single source: a script is a sequence of cells in the "percent" format that
Jupytext, VS Code and Spyder also read: ``# %%`` starts a code cell, ``# %% [markdown]`` a
markdown cell whose lines are comments; the module docstring becomes the first markdown cell.
Notebooks are written with nbformat, outputs empty.

    python examples/make_notebooks.py          # (re)write the notebooks
    python examples/make_notebooks.py --check  # exit 1 if a notebook is out of date
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import nbformat

EXAMPLES = Path(__file__).resolve().parent
SCRIPTS = (
    "classification.py",
    "secondary_structure.py",
    "regression.py",
    "folding.py",
    "uniprot_dataset.py",
    "homology_split.py",
    "zero_shot_gb1.py",
)
"""The examples that have a notebook (``data_pipeline.py`` is a script only)."""

KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}


def cells_of(source: str) -> list[tuple[str, str]]:
    """``(kind, text)`` of each cell of a percent-format script; kind is ``code`` or ``markdown``.

    >>> cells_of("\'\'\'# Title\'\'\'\\n\\n# %%\\nx = 1\\n\\n# %% [markdown]\\n# Some *text*\\n")
    [('markdown', '# Title'), ('code', 'x = 1'), ('markdown', 'Some *text*')]
    """
    module = ast.parse(source)
    cells: list[tuple[str, str]] = []
    docstring = ast.get_docstring(module, clean=True)
    lines = source.splitlines()
    if docstring:
        cells.append(("markdown", docstring))
        lines = lines[module.body[0].end_lineno :]
    kind, body = None, []

    def close() -> None:
        if kind is not None:
            text = "\n".join(body).strip("\n")
            cells.append((kind, text))

    for line in lines:
        if line.startswith("# %%"):
            close()
            kind, body = ("markdown" if "[markdown]" in line else "code"), []
        elif kind == "markdown":
            body.append(line[2:] if line.startswith("# ") else line.lstrip("#"))
        elif kind is not None:
            body.append(line)
    close()
    return cells


def notebook_for(script: Path) -> nbformat.NotebookNode:
    """The notebook of ``script``: its cells, no outputs, a Python 3 kernel."""
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = dict(KERNELSPEC)
    notebook.metadata["language_info"] = {"name": "python"}
    for index, (kind, text) in enumerate(cells_of(script.read_text(encoding="utf-8"))):
        make = nbformat.v4.new_code_cell if kind == "code" else nbformat.v4.new_markdown_cell
        notebook.cells.append(make(text, id=f"{script.stem}-{index}"))
    nbformat.validate(notebook)
    return notebook


def render(notebook: nbformat.NotebookNode) -> str:
    return nbformat.writes(notebook) + "\n"


def main(argv: list[str]) -> int:
    stale = []
    for name in SCRIPTS:
        script = EXAMPLES / name
        target = script.with_suffix(".ipynb")
        text = render(notebook_for(script))
        if "--check" in argv:
            if not target.is_file() or target.read_text(encoding="utf-8") != text:
                stale.append(target.name)
        else:
            target.write_text(text, encoding="utf-8")
            print(f"wrote {target}")
    if stale:
        print(f"out of date: {', '.join(stale)}; run python examples/make_notebooks.py")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
