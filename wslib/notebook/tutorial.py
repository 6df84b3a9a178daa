"""The notebooks for a learner without a clone: copy them into a folder, open JupyterLab on 01.

Usage::

    $ wslib tutorial                     # into ./wslib-tutorial, then JupyterLab on 01
    $ wslib tutorial my-lessons --no-browser
    $ wslib tutorial my-lessons -- --port 9999   # after --: options for `jupyter lab`

Contract:

1. ``lessons()`` finds the notebooks and their solutions: inside the installed package
   (``wslib/tutorial/``, which the wheel's build copies from the repository's
   ``notebooks/``), or, in a clone, in ``notebooks/`` itself.
2. ``plan(...)`` decides, with no I/O, what to do with each file: copy it, leave it (the
   same file is there), keep the learner's version (it differs), or overwrite it (only
   with ``force``). ``copy_lessons`` carries the plan out and returns it.
3. ``open_lab(folder)`` runs JupyterLab with ``folder`` as its root and 01 as its first
   page, without the "get Jupyter news?" prompt, and returns its exit code.

This module needs no ipywidgets: the command line imports it.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Literal

__all__ = [
    "FIRST",
    "Action",
    "Step",
    "copy_lessons",
    "example",
    "lab_command",
    "lab_environment",
    "lessons",
    "open_lab",
    "plan",
]

FIRST = "01-websockets-in-ten-minutes.ipynb"
"""The notebook JupyterLab opens first."""

_PACKAGE = Path(__file__).resolve().parents[1]
# A Jupyter config folder of the kit's own: its labconfig/page_config.json turns off the
# plugin that asks about Jupyter news on first start (see
# https://jupyterlab.readthedocs.io/en/stable/user/announcements.html).
_LAB_CONFIG = Path(__file__).resolve().parent / "lab_config"

Action = Literal["copy", "same", "kept", "overwrite"]


@dataclass(frozen=True)
class Step:
    """What ``copy_lessons`` does with one file, named by its path in the lessons folder."""

    path: str
    action: Action

    def describe(self) -> str:
        """Return one line for the learner, e.g. ``kept yours: 01-....ipynb (...)``."""
        return {
            "copy": f"copied {self.path}",
            "same": f"already there: {self.path}",
            "kept": f"kept yours: {self.path} (it differs from this version; --force replaces it)",
            "overwrite": f"replaced {self.path}",
        }[self.action]


def lessons() -> Path:
    """Return the folder that holds the notebooks and ``solutions/``.

    Raises:
        FileNotFoundError: Neither the installed package nor a clone has them.
    """
    for folder in (_PACKAGE / "tutorial", _PACKAGE.parent / "notebooks"):
        if (folder / FIRST).is_file():
            return folder
    raise FileNotFoundError(f"no {FIRST} in this installation of wslib")


def example(name: str) -> Path:
    """Return the path of the example script ``name`` (from ``examples/``), for a notebook.

    A clone has it in ``examples/`` beside ``notebooks/``; a wheel carries it in the
    package, since a learner's folder (``wslib tutorial``) holds only the lessons.

    Raises:
        FileNotFoundError: This installation of wslib has no such example.
    """
    for folder in (_PACKAGE / "tutorial" / "examples", _PACKAGE.parent / "examples"):
        if (folder / name).is_file():
            return folder / name
    raise FileNotFoundError(f"no example {name!r} in this installation of wslib")


def _lesson_files(folder: Path) -> dict[str, bytes]:
    """Return the notebooks and solutions in ``folder``, by relative path, with their bytes."""
    files = [*folder.glob("*.ipynb"), *folder.glob("solutions/*.py")]
    return {path.relative_to(folder).as_posix(): path.read_bytes() for path in sorted(files)}


def plan(
    lessons: Mapping[str, bytes], present: Mapping[str, bytes], *, force: bool = False
) -> list[Step]:
    """Decide what to do with each lesson file, given what the learner's folder holds.

    Args:
        lessons: The kit's files, by relative path.
        present: The learner's files at those paths (a missing file is absent here).
        force: Overwrite the learner's files that differ.

    Returns:
        One ``Step`` per lesson file, in the order of ``lessons``.
    """
    steps = []
    for path, content in lessons.items():
        if path not in present:
            action: Action = "copy"
        elif present[path] == content:
            action = "same"
        else:
            action = "overwrite" if force else "kept"
        steps.append(Step(path, action))
    return steps


def copy_lessons(folder: Path, *, force: bool = False, source: Path | None = None) -> list[Step]:
    """Copy the notebooks and solutions into ``folder``, keeping the learner's edits.

    Args:
        folder: The learner's folder; made if missing.
        force: Overwrite files there that differ from the kit's.
        source: Where the lessons are; default ``lessons()``.

    Returns:
        What was done with each file. When ``folder`` is the lessons folder itself (a
        clone's ``notebooks/``), nothing is copied and the list is empty.
    """
    source = lessons() if source is None else source
    if folder.resolve() == source.resolve():
        return []
    files = _lesson_files(source)
    present = {path: (folder / path).read_bytes() for path in files if (folder / path).is_file()}
    steps = plan(files, present, force=force)
    for step in steps:
        if step.action in ("copy", "overwrite"):
            target = folder / step.path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(files[step.path])
    return steps


def lab_command(folder: Path, lab_args: Sequence[str] = ()) -> list[str]:
    """Return the command that runs JupyterLab on ``folder`` and opens notebook 01 first.

    ``--LabApp.default_url`` makes both the printed URL and the browser open 01, not the
    launcher; ``root_dir`` makes the file browser show the lessons folder and nothing above.
    """
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        f"--ServerApp.root_dir={folder.resolve()}",
        f"--LabApp.default_url=/lab/tree/{FIRST}",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")  # JupyterLab refuses to run as root without it
    return [*command, *lab_args]


def lab_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """Return ``environ`` with the kit's Jupyter config folder added to the search path.

    Jupyter merges the folders on ``JUPYTER_CONFIG_PATH`` with the learner's own, so their
    settings stay as they are.
    """
    paths = [
        str(_LAB_CONFIG),
        *filter(None, environ.get("JUPYTER_CONFIG_PATH", "").split(os.pathsep)),
    ]
    return {**environ, "JUPYTER_CONFIG_PATH": os.pathsep.join(paths)}


def open_lab(folder: Path, lab_args: Sequence[str] = ()) -> int:
    """Run JupyterLab on ``folder`` until it exits; return its exit code.

    A JupyterLab ended by a signal N gives 128 + N, as a shell reports it (a negative
    number would reach the shell as 256 - N).

    Ctrl-C reaches JupyterLab directly (it asks before shutting down); SIGTERM sent to this
    process is passed on to it, so that stopping this process stops JupyterLab too.

    Raises:
        ModuleNotFoundError: JupyterLab is not installed.
    """
    if importlib.util.find_spec("jupyterlab") is None:
        raise ModuleNotFoundError("JupyterLab is not installed: pip install 'wslib[lab]'")
    child = subprocess.Popen(lab_command(folder, lab_args), env=lab_environment(os.environ))

    def forward(signum: int, _frame: FrameType | None) -> None:
        child.send_signal(signum)

    previous = signal.signal(signal.SIGTERM, forward)
    try:
        while True:
            try:
                code = child.wait()
                return 128 - code if code < 0 else code
            except KeyboardInterrupt:  # JupyterLab got the same Ctrl-C; let it decide
                continue
    finally:
        signal.signal(signal.SIGTERM, previous)
