"""Build hook: the wheel carries the notebooks as ``wslib/tutorial/``, for ``wslib tutorial``.

The notebooks stay in ``notebooks/`` at the top of the repository, where a clone opens them;
everything else about the build is in pyproject.toml. An editable install copies nothing:
``wslib.notebook.tutorial.lessons()`` finds ``notebooks/`` next to the package instead.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

LESSONS = Path(__file__).resolve().parent / "notebooks"
PATTERNS = ("*.ipynb", "solutions/*.py")  # what a learner's folder gets; nothing else
EXAMPLES = LESSONS.parent / "examples"  # scripts a notebook runs (06), found by tutorial.example


class BuildWithLessons(build_py):
    """Build the package as usual, then copy the lessons into ``wslib/tutorial/``."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        target = Path(self.build_lib) / "wslib" / "tutorial"
        for pattern in PATTERNS:
            for source in sorted(LESSONS.glob(pattern)):
                destination = target / source.relative_to(LESSONS)
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, destination)
        for source in sorted(EXAMPLES.glob("*.py")):
            destination = target / "examples" / source.name
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, destination)


setup(cmdclass={"build_py": BuildWithLessons})
