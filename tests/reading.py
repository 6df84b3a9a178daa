"""How long a notebook takes, measured one way for every notebook.

A notebook's time is its prose at 200 words a minute, plus its code at 50 lines a minute,
plus the time its cells took to run when it was last executed (nbclient records when each
cell started and finished in the cell's ``execution`` metadata). Code inside a markdown
cell's fenced block counts as code; the fences themselves count as nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import nbformat

WORDS_PER_MINUTE = 200
LINES_PER_MINUTE = 50
_FENCE = re.compile(r"^\s*(```|~~~)")


@dataclass(frozen=True)
class Reading:
    """What a notebook holds to read and run, and the minutes that come to."""

    words: int
    lines: int
    run_seconds: float

    @property
    def minutes(self) -> float:
        """Return the reading time in minutes: prose, code and run time together."""
        return self.words / WORDS_PER_MINUTE + self.lines / LINES_PER_MINUTE + self.run_seconds / 60


def _split_markdown(source: str) -> tuple[list[str], int]:
    """Return the prose of a markdown cell, and how many non-blank code lines it fences."""
    prose: list[str] = []
    code = 0
    fenced = False
    for line in source.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
        elif fenced:
            code += bool(line.strip())
        else:
            prose.append(line)
    return prose, code


def _words(lines: list[str]) -> int:
    text = "\n".join(lines)
    text = re.sub(r"\]\([^)]*\)", "]", text)  # a link's address is not read aloud
    return sum(any(char.isalnum() for char in token) for token in text.split())


def _seconds(cell: Any) -> float:
    timing = cell.get("metadata", {}).get("execution", {})
    try:
        start = datetime.fromisoformat(timing["iopub.execute_input"])
        end = datetime.fromisoformat(timing["shell.execute_reply"])
    except KeyError:
        return 0.0
    return max(0.0, (end - start).total_seconds())


def measure(path: Path) -> Reading:
    """Return the words, code lines and run time of the notebook at ``path``."""
    words = lines = 0
    seconds = 0.0
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type == "markdown":
            prose, code = _split_markdown(cell.source)
            words += _words(prose)
            lines += code
        elif cell.cell_type == "code":
            lines += sum(bool(line.strip()) for line in cell.source.splitlines())
            seconds += _seconds(cell)
    return Reading(words, lines, seconds)
