"""Check the committed notebooks as files: executed in order, widget state saved, links alive.

nbval re-runs each notebook and compares outputs, but a notebook committed without outputs
would pass it silently; these checks catch that, and what GitHub would show badly.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest
from support import TIMEOUT

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
ALL = sorted(NOTEBOOKS.glob("*.ipynb"))
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


def read(path: Path) -> Any:
    return nbformat.read(path, as_version=4)


def ids(paths: list[Path]) -> list[str]:
    return [path.name for path in paths]


def test_the_tutorial_and_the_index_exist() -> None:
    """The index and the ten-minute tutorial are among the notebooks checked here."""
    assert {"00-index.ipynb", "01-websockets-in-ten-minutes.ipynb"} <= set(ids(ALL))


@pytest.mark.parametrize("path", ALL, ids=ids(ALL))
def test_names_are_numbered(path: Path) -> None:
    """Each notebook is named NN-title.ipynb, in lower case with dashes."""
    assert re.fullmatch(r"\d\d-[a-z0-9]+(?:-[a-z0-9]+)*\.ipynb", path.name)


@pytest.mark.parametrize("path", ALL, ids=ids(ALL))
def test_every_code_cell_was_executed_in_order(path: Path) -> None:
    """Code cells carry execution counts 1, 2, 3, ... with no gap: one clean top-to-bottom run."""
    counts = [cell.execution_count for cell in read(path).cells if cell.cell_type == "code"]
    assert counts == list(range(1, len(counts) + 1))


@pytest.mark.parametrize("path", ALL, ids=ids(ALL))
def test_notebooks_use_the_standard_python3_kernel(path: Path) -> None:
    """Every notebook names the standard python3 kernel, never a custom kernelspec."""
    assert read(path).metadata["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("path", ALL, ids=ids(ALL))
def test_no_committed_output_is_an_error_or_stderr(path: Path) -> None:
    """No saved output is a traceback or text on stderr, unless the cell expects to fail."""
    for cell in read(path).cells:
        if cell.cell_type != "code" or "raises-exception" in cell.metadata.get("tags", []):
            continue
        for output in cell.outputs:
            assert output.output_type != "error", cell.source
            assert output.get("name") != "stderr", cell.source


@pytest.mark.parametrize("path", ALL, ids=ids(ALL))
def test_every_displayed_widget_has_its_state_saved(path: Path) -> None:
    """Each widget a cell displays is in the saved widget state, so viewers can draw it."""
    notebook = read(path)
    shown = [
        output.data[WIDGET_VIEW]["model_id"]
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if WIDGET_VIEW in output.get("data", {})
    ]
    if not shown:
        return
    state = notebook.metadata["widgets"][WIDGET_STATE]["state"]
    assert [model_id for model_id in shown if model_id not in state] == []


@pytest.mark.parametrize("path", ALL, ids=ids(ALL))
def test_relative_links_point_to_files_that_exist(path: Path) -> None:
    """Every relative link in a markdown cell names a file in the repository."""
    for cell in read(path).cells:
        if cell.cell_type != "markdown":
            continue
        for target in re.findall(r"\]\(([^)\s#]+)", cell.source):
            if "://" not in target and not target.startswith("mailto:"):
                assert (path.parent / target).exists(), f"{path.name} links to {target}"


def test_the_index_links_every_notebook() -> None:
    """The index links each other notebook by its file name."""
    index = "\n".join(cell.source for cell in read(NOTEBOOKS / "00-index.ipynb").cells)
    missing = [name for name in ids(ALL) if name != "00-index.ipynb" and f"]({name})" not in index]
    assert missing == []


def test_exercises_load_solutions_that_exist() -> None:
    """Each '# %load solutions/<name>.py' cell names a solution file that is there."""
    for path in ALL:
        for cell in read(path).cells:
            for target in re.findall(r"^# %load (\S+)$", cell.source, flags=re.MULTILINE):
                assert (path.parent / target).is_file(), f"{path.name}: {target}"


def test_the_notebooks_folder_holds_lessons_and_solutions_only() -> None:
    """JupyterLab's file browser in notebooks/ shows the notebooks and solutions/, no test files."""
    shown = sorted(
        relative.as_posix()
        for relative in (path.relative_to(NOTEBOOKS) for path in NOTEBOOKS.rglob("*"))
        if (NOTEBOOKS / relative).is_file()
        # JupyterLab hides dot folders (checkpoints); Python's caches are no one's lesson.
        and not any(part.startswith(".") or part == "__pycache__" for part in relative.parts)
    )
    others = [name for name in shown if not re.fullmatch(r"[^/]+\.ipynb|solutions/[^/]+\.py", name)]
    assert others == []


def test_a_notebook_whose_program_is_missing_is_skipped_with_the_reason(tmp_path: Path) -> None:
    """Without redis-server on PATH, pytest (the top-level conftest) skips notebook 07's cells."""
    env = {k: v for k, v in os.environ.items() if k != "WSLIB_REQUIRE_ALL"}
    env["PATH"] = str(tmp_path)  # an empty folder: no redis-server, no anything
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "notebooks/07-scaling-out.ipynb", "-rs", "-q"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=24 * TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "redis-server not found: 07-scaling-out.ipynb" in result.stdout
    assert re.search(r"\b\d+ skipped\b", result.stdout)
    assert "passed" not in result.stdout


@pytest.mark.parametrize("path", ALL, ids=ids(ALL))
def test_every_nbval_marker_is_one_nbval_recognises(path: Path) -> None:
    """Each NBVAL comment is a bare marker line nbval reads, and each nbval tag is one it knows.

    nbval honours ``# NBVAL_IGNORE_OUTPUT`` only as a comment line of its own: with more text
    after it, the marker is silently ignored and the output is compared after all.
    """
    from nbval.plugin import comment_markers, metadata_tags

    for cell in read(path).cells:
        if cell.cell_type != "code":
            continue
        for line in cell.source.splitlines():
            if line.strip().startswith("#") and re.search(r"NBVAL_|PYTEST_VALIDATE_", line):
                marker = line.strip().lstrip("#").strip()
                assert marker in comment_markers, f"{path.name}: nbval ignores {line.strip()!r}"
        for tag in cell.metadata.get("tags", []):
            if tag.startswith("nbval") or tag == "raises-exception":
                assert tag in metadata_tags, f"{path.name}: nbval knows no tag {tag!r}"


WAITER = [sys.executable, "-c", "import sys; sys.stdin.read()"]


def test_the_clean_up_check_fails_a_notebook_that_leaves_a_process_running(
    tmp_path: Path,
) -> None:
    """After a notebook's last cell, nbval's extra item stops the kit's servers and fails on leaks.

    Two notebooks run under the top-level conftest: one leaves a kit server (stop_all stops
    it: passes), the other a child process of its kernel that the kit never started (fails,
    naming the process).
    """
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "sanitize.cfg").write_text((ROOT / "tests" / "sanitize.cfg").read_text())
    (tmp_path / "conftest.py").write_text((ROOT / "conftest.py").read_text())
    for name, source in [
        ("clean.ipynb", "import wslib\n\nserver = wslib.start(port=0, name='clean')"),
        # The leaked process reads its stdin until the kernel, its writer, has gone.
        ("leaky.ipynb", f"import subprocess\n\nleak = subprocess.Popen({WAITER!r}, stdin=-1)"),
    ]:
        cell = nbformat.v4.new_code_cell(source, execution_count=1)
        nbformat.write(nbformat.v4.new_notebook(cells=[cell]), tmp_path / name)
    command = [sys.executable, "-m", "pytest", "-c", str(ROOT / "pyproject.toml")]
    result = subprocess.run(
        [*command, "--rootdir", ".", "clean.ipynb", "leaky.ipynb", "-rA"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=24 * TIMEOUT,
        check=False,
    )
    report = result.stdout + result.stderr
    assert "PASSED clean.ipynb::nothing left running" in report, report
    assert "FAILED leaky.ipynb::nothing left running" in report, report
    assert f"child processes still running: [{' '.join(WAITER)!r}]" in report, report
