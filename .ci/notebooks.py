"""Run notebooks top to bottom as a learner's Run All would, and fail on any error.

Usage (with the Python of the environment to test, which needs only the kit's lab extra:
nbclient and nbformat come with JupyterLab)::

    .venv-lab/bin/python .ci/notebooks.py notebooks/*.ipynb

Each notebook runs in its own folder, as in JupyterLab (so ``solutions/`` and relative
paths such as ``../examples`` work), on the standard ``python3`` kernel of that Python; the
notebook file is never written back. A notebook fails
when a cell raises (unless the cell is tagged ``raises-exception``) or writes to stderr,
which JupyterLab shows in red to the learner. The exit code is the number of notebooks
that failed.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError


def problems(path: Path, cell_timeout: float) -> list[str]:
    """Execute the notebook at ``path`` and return what went wrong, one line each."""
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=cell_timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    try:
        client.execute()
    except CellExecutionError as exc:
        return [f"{exc.ename}: {exc.evalue}"]
    except CellTimeoutError as exc:
        return [str(exc).strip().splitlines()[0]]
    found = []
    for number, cell in enumerate(notebook.cells, 1):
        if cell.cell_type != "code":
            continue
        for output in cell.outputs:
            if output.get("name") == "stderr":
                found.append(f"cell {number} wrote to stderr: {output['text'].strip()[:300]}")
    return found


def main(argv: list[str] | None = None) -> int:
    """Run each notebook named in ``argv``; print a line per notebook; return the failures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--cell-timeout", type=float, default=120.0, help="seconds per cell")
    args = parser.parse_args(argv)
    failed = 0
    for path in args.notebooks:
        started = time.monotonic()
        found = problems(path.resolve(), args.cell_timeout)
        took = time.monotonic() - started
        print(f"{'FAIL' if found else 'ok'}  {path}  ({took:.1f} s)", flush=True)
        for problem in found:
            print(f"      {problem}", flush=True)
        failed += bool(found)
    return failed


if __name__ == "__main__":
    sys.exit(main())
