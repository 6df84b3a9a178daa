"""The index states how long each notebook takes, and the measure in tests/reading.py agrees."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from reading import Reading, measure

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
INDEX = NOTEBOOKS / "00-index.ipynb"
LESSONS = sorted(path for path in NOTEBOOKS.glob("[0-9][0-9]-*.ipynb") if path != INDEX)


def stated_minutes() -> dict[str, int]:
    """Return the minutes the index's table states, by notebook file name."""
    text = "\n".join(cell.source for cell in nbformat.read(INDEX, as_version=4).cells)
    return {
        name: int(minutes)
        for name, minutes in re.findall(r"^\|.*\]\(([^)]+\.ipynb)\).*\| (\d+) min \|$", text, re.M)
    }


def test_reading_counts_prose_code_and_run_time() -> None:
    """200 words, 50 lines of code and 60 s of running come to three minutes."""
    assert Reading(words=200, lines=50, run_seconds=60).minutes == 3


@pytest.mark.parametrize("path", LESSONS, ids=[path.name for path in LESSONS])
def test_the_index_states_each_time_within_30_percent_of_the_measure(path: Path) -> None:
    """The time the index gives a notebook is within 30 % of its measured reading time."""
    measured = measure(path).minutes
    stated = stated_minutes()[path.name]
    assert abs(stated - measured) <= 0.3 * measured, f"stated {stated}, measured {measured:.1f}"


def test_the_ten_minute_tutorial_reads_in_ten_minutes() -> None:
    """Notebook 01, prose, code and run time together, takes at most ten minutes."""
    assert measure(NOTEBOOKS / "01-websockets-in-ten-minutes.ipynb").minutes <= 10


@pytest.mark.parametrize("path", LESSONS, ids=[path.name for path in LESSONS])
def test_no_notebook_states_its_time_again(path: Path) -> None:
    """Only the index says how long a notebook takes (the title of 01 aside)."""
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type == "markdown":
            assert not re.search(r"\babout \w+ minutes\b", cell.source, re.I), cell.source
