"""Tests for wslib.notebook.tutorial and ``wslib tutorial``: the notebooks without a clone.

The last test is the whole path of a learner with no clone: build the wheel, install it
with its lab extra into a fresh virtual environment, run ``wslib tutorial DIR
--no-browser``, and run the copied notebook 01 there.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from support import ROOT, TIMEOUT, Child

from wslib import cli
from wslib.notebook import tutorial
from wslib.notebook.tutorial import FIRST, Step, plan

NOTEBOOKS = ROOT / "notebooks"
ANNOUNCEMENTS = "@jupyterlab/apputils-extension:announcements"


def kit_files() -> list[str]:
    """Return the relative paths a learner's folder should get: notebooks and solutions."""
    files = [*NOTEBOOKS.glob("*.ipynb"), *NOTEBOOKS.glob("solutions/*.py")]
    return sorted(path.relative_to(NOTEBOOKS).as_posix() for path in files)


# -- plan: no I/O --------------------------------------------------------------------------


def test_plan_copies_what_is_missing_and_leaves_what_is_the_same() -> None:
    """A missing file is copied; a file with the kit's bytes is left as it is."""
    steps = plan({"a.ipynb": b"A", "solutions/b.py": b"B"}, {"solutions/b.py": b"B"})
    assert steps == [Step("a.ipynb", "copy"), Step("solutions/b.py", "same")]


def test_plan_keeps_the_learners_edits_unless_forced() -> None:
    """A file that differs is kept (and said so); with force it is overwritten."""
    assert plan({"a.ipynb": b"kit"}, {"a.ipynb": b"mine"}) == [Step("a.ipynb", "kept")]
    assert plan({"a.ipynb": b"kit"}, {"a.ipynb": b"mine"}, force=True) == [
        Step("a.ipynb", "overwrite")
    ]
    assert "--force" in Step("a.ipynb", "kept").describe()


# -- copy_lessons and the command, on the real notebooks ----------------------------------


def test_lessons_are_the_clones_notebooks() -> None:
    """In a clone (an editable install), the lessons are notebooks/ itself."""
    assert tutorial.lessons() == NOTEBOOKS


def test_example_finds_the_clones_example_scripts() -> None:
    """``example`` gives the path of a script in ``examples/``, and refuses an unknown one."""
    assert tutorial.example("echo_roundtrip.py") == ROOT / "examples" / "echo_roundtrip.py"
    with pytest.raises(FileNotFoundError):
        tutorial.example("no_such_example.py")


def test_copy_lessons_copies_notebooks_and_solutions_only(tmp_path: Path) -> None:
    """A new folder gets every notebook and solution, byte for byte, and nothing else."""
    steps = tutorial.copy_lessons(tmp_path / "lessons")
    assert [step.path for step in steps] == kit_files()
    assert {step.action for step in steps} == {"copy"}
    copied = sorted(p.relative_to(tmp_path / "lessons").as_posix() for p in tmp_path.rglob("*.*"))
    assert copied == kit_files()
    for name in kit_files():
        assert (tmp_path / "lessons" / name).read_bytes() == (NOTEBOOKS / name).read_bytes()


def test_copy_lessons_into_the_lessons_folder_copies_nothing() -> None:
    """Pointed at notebooks/ itself (bash .ci/lab does so), it touches nothing."""
    assert tutorial.copy_lessons(NOTEBOOKS) == []


def test_command_keeps_an_edited_notebook_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A second run keeps a notebook the learner changed, says so, and --force replaces it."""
    folder = tmp_path / "lessons"
    assert cli.main(["tutorial", str(folder), "--no-lab"]) == 0
    out = capsys.readouterr().out
    assert f"copied {FIRST}" in out
    assert f"The notebooks are in {folder}" in out

    (folder / FIRST).write_text("my own notes")
    (folder / "solutions" / "greeter.py").unlink()
    assert cli.main(["tutorial", str(folder), "--no-lab"]) == 0
    out = capsys.readouterr().out
    assert f"kept yours: {FIRST} (it differs from this version; --force replaces it)" in out
    assert "copied solutions/greeter.py" in out
    assert "02-" not in out  # files that are the same are not listed
    assert (folder / FIRST).read_text() == "my own notes"

    assert cli.main(["tutorial", str(folder), "--no-lab", "--force"]) == 0
    assert f"replaced {FIRST}" in capsys.readouterr().out
    assert (folder / FIRST).read_bytes() == (NOTEBOOKS / FIRST).read_bytes()


def test_command_fails_kindly_when_the_folder_cannot_be_made(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A folder that cannot be made (a file is in the way) gives one line and exit code 1."""
    (tmp_path / "taken").write_text("a file")
    assert cli.main(["tutorial", str(tmp_path / "taken" / "lessons"), "--no-lab"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("wslib tutorial: ")
    assert len(err.splitlines()) == 1


def test_command_passes_what_follows_the_double_dash_to_jupyterlab(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--no-browser and the options after -- reach JupyterLab, whatever stands between."""
    seen: list[tuple[Path, list[str]]] = []
    monkeypatch.setattr(tutorial, "open_lab", lambda folder, args: seen.append((folder, args)) or 0)
    argv = ["tutorial", str(tmp_path), "--no-browser", "--", "--port=9999", "--ServerApp.ip=::1"]
    assert cli.main(argv) == 0
    assert seen == [(tmp_path, ["--no-browser", "--port=9999", "--ServerApp.ip=::1"])]


def test_lab_command_opens_notebook_01_on_the_lessons_folder(tmp_path: Path) -> None:
    """JupyterLab is started on the folder, with 01 as its first page, and gets the options."""
    command = tutorial.lab_command(tmp_path, ["--no-browser", "--port=9999"])
    assert command[:3] == [sys.executable, "-m", "jupyterlab"]
    assert f"--ServerApp.root_dir={tmp_path.resolve()}" in command
    assert f"--LabApp.default_url=/lab/tree/{FIRST}" in command
    assert command[-2:] == ["--no-browser", "--port=9999"]


def test_lab_environment_adds_the_kits_config_and_keeps_the_learners() -> None:
    """The kit's Jupyter config folder turns off the news prompt; other folders stay."""
    environment = tutorial.lab_environment({"JUPYTER_CONFIG_PATH": "/theirs", "HOME": "/h"})
    kit, theirs = environment["JUPYTER_CONFIG_PATH"].split(os.pathsep)
    assert theirs == "/theirs"
    assert environment["HOME"] == "/h"
    page_config = json.loads((Path(kit) / "labconfig" / "page_config.json").read_text())
    assert page_config["disabledExtensions"] == {ANNOUNCEMENTS: True}


# -- the whole path, from a wheel ----------------------------------------------------------


def build_wheel(tmp_path: Path) -> Path:
    """Build the kit's wheel from a copy of the source (a build writes next to its source)."""
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source / name)
    skip = shutil.ignore_patterns(".*", "__pycache__", "*.pyc")
    shutil.copytree(ROOT / "wslib", source / "wslib", ignore=skip)
    shutil.copytree(NOTEBOOKS, source / "notebooks", ignore=skip)
    shutil.copytree(ROOT / "examples", source / "examples", ignore=skip)
    wheels = tmp_path / "wheels"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", wheels, source],
        capture_output=True,
        text=True,
        timeout=24 * TIMEOUT,
        check=False,
    )
    assert build.returncode == 0, build.stderr[-3000:]
    (wheel,) = wheels.glob("wslib-*.whl")
    return wheel


def get_when_listening(url: str, timeout: float) -> str:
    """Return the page at ``url``, retrying while the server is not listening yet.

    JupyterLab prints its URL a moment before its socket accepts connections.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=TIMEOUT) as response:
                page: str = response.read().decode()
                return page
        except urllib.error.URLError as exc:
            if not isinstance(exc.reason, ConnectionRefusedError):
                raise
            if time.monotonic() > deadline:
                raise
        time.sleep(TIMEOUT / 25)  # polling a starting server: no event to wait on


# The install is most of it: about two minutes with pip's cache, on a quiet machine.
@pytest.mark.slow
@pytest.mark.timeout(180 * TIMEOUT)
def test_a_learner_without_a_clone_gets_the_notebooks_and_runs_01(tmp_path: Path) -> None:
    """From the wheel in a fresh venv: wslib tutorial copies the notebooks, JupyterLab's URL
    opens 01 without the news prompt, and the copied 01 runs top to bottom with no error."""
    wheel = build_wheel(tmp_path)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", venv], check=True, timeout=12 * TIMEOUT)
    python = venv / "bin" / "python"
    # pip takes what it can from its local cache: this is the lab extra, nothing more.
    install = subprocess.run(
        [python, "-m", "pip", "install", "-q", "--no-compile", f"{wheel}[lab]"],
        capture_output=True,
        text=True,
        timeout=72 * TIMEOUT,
        check=False,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    folder = tmp_path / "my-lessons"
    home = tmp_path / "home"
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "PYTHON", "IPYTHON"))
    }
    env.update(  # JupyterLab writes its settings and runtime files here, not in ~
        HOME=str(home),
        JUPYTER_CONFIG_DIR=str(home / "config"),
        JUPYTER_DATA_DIR=str(home / "data"),
        JUPYTER_RUNTIME_DIR=str(home / "runtime"),
        IPYTHONDIR=str(home / "ipython"),
        JUPYTER_PLATFORM_DIRS="0",
        PYTHONUNBUFFERED="1",
    )
    lab = Child(
        [
            str(venv / "bin" / "wslib"),
            "tutorial",
            str(folder),
            "--no-browser",
            "--",
            "--ServerApp.ip=127.0.0.1",
            "--ServerApp.port=0",
        ],
        env,
        merge_stderr=True,  # JupyterLab prints its URL on stderr
        new_session=True,
    )
    try:
        assert lab.line(12 * TIMEOUT) == f"copied {kit_files()[0]}"
        lab.line_matching(lambda line: line.startswith("The notebooks are in"), 12 * TIMEOUT)
        # The URL JupyterLab prints opens notebook 01, not the launcher.
        printed = rf"http://127\.0\.0\.1:\d+/lab/tree/{re.escape(FIRST)}\?token=\w+"
        line = lab.line_matching(lambda line: re.search(printed, line) is not None, 24 * TIMEOUT)
        url = re.search(printed, line)
        assert url is not None
        page = get_when_listening(url.group(0), 12 * TIMEOUT)
        data = re.search(r'id="jupyter-config-data"[^>]*>\s*(\{.*?\})\s*</script>', page, re.S)
        assert data is not None
        config = json.loads(data.group(1))
        assert ANNOUNCEMENTS in config["disabledExtensions"]  # no "get Jupyter news?" prompt
        assert config["serverRoot"] == str(folder.resolve())  # the file browser's top
        assert config["treePath"] == FIRST  # the notebook the page opens
    finally:
        os.killpg(lab.proc.pid, signal.SIGTERM)  # the command and the JupyterLab it started
        code = lab.wait(6 * TIMEOUT)
        lab.close()
    # 0, or SIGTERM's mark: on the command itself, or passed on from JupyterLab (128 + N).
    assert code in (0, -signal.SIGTERM, 128 + signal.SIGTERM)
    assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.*")) == kit_files()

    # 01, and 06, which runs an example script that the wheel carries for it.
    scripts = folder / "06-scripts-and-terminal.ipynb"
    run = subprocess.run(
        [python, ROOT / ".ci" / "notebooks.py", folder / FIRST, scripts],
        env=env,
        capture_output=True,
        text=True,
        timeout=48 * TIMEOUT,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.startswith(f"ok  {folder / FIRST}")
    assert f"ok  {scripts}" in run.stdout
