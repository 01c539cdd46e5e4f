#!/usr/bin/env python3
"""Writes NAME.ipynb from its py:percent source NAME.py (the source of truth).

    python3 notebooks/build_ipynb.py notebooks/model_tuning.py   # one notebook
    python3 notebooks/build_ipynb.py                             # every notebook in notebooks/

Cells start at `# %%` lines (`# %% [markdown]` for markdown, whose lines drop the leading
`# `). The output has no outputs or execution counts, and the same source always gives the same
bytes, so tests/python/check_notebook.py can check that the committed notebook is current.
"""

import json
import sys
from pathlib import Path


def cells_of(source):
    """(kind, lines) for every cell of a py:percent text; the jupytext header is skipped."""
    cells = []
    kind, lines = None, []
    for line in source.splitlines():
        if line.startswith("# %%"):
            if kind is not None:
                cells.append((kind, lines))
            kind = "markdown" if "[markdown]" in line else "code"
            lines = []
        elif kind is not None:
            lines.append(line)
    if kind is not None:
        cells.append((kind, lines))
    out = []
    for kind, lines in cells:
        while lines and not lines[-1].strip():
            lines.pop()
        if kind == "markdown":
            lines = [line[2:] if line.startswith("# ") else line.lstrip("#") for line in lines]
        out.append((kind, "\n".join(lines)))
    return out


def notebook(source):
    cells = []
    for kind, text in cells_of(source):
        split = text.splitlines(keepends=True)
        cell = {"cell_type": kind, "metadata": {}, "source": split}
        if kind == "code":
            cell.update({"execution_count": None, "outputs": []})
        cells.append(cell)
    return {
        "cells": cells,
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 4,
    }


def render(py_path):
    text = json.dumps(notebook(Path(py_path).read_text()), indent=1, ensure_ascii=False, sort_keys=True)
    return text + "\n"


def sources():
    """The notebook sources beside this script: the .py files in py:percent form."""
    here = Path(__file__).resolve().parent
    return sorted(p for p in here.glob("*.py") if p.read_text().lstrip().startswith("# ---\n# jupyter:"))


if __name__ == "__main__":
    for arg in sys.argv[1:] or sources():
        Path(arg).with_suffix(".ipynb").write_text(render(arg))
