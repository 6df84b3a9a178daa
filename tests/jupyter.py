"""Start a throw-away JupyterLab (or Notebook 7) for browser tests, stop what it started.

Usage::

    with JupyterLab(root_dir=copy_of_notebooks, work=tmp_path) as lab:
        page.goto(lab.url("lab/tree/01-websockets-in-ten-minutes.ipynb"))
    with JupyterLab(root_dir=copy_of_notebooks, work=tmp_path, app="notebook") as nb7:
        page.goto(nb7.url("notebooks/01-websockets-in-ten-minutes.ipynb"))

Contract:

1. ``start`` runs JupyterLab as ``wslib tutorial`` and ``bash .ci/lab`` do
   (``wslib.notebook.tutorial.lab_command``: the folder as its root, notebook 01 as its
   first page, the kit's config that turns the news prompt off), on 127.0.0.1, on a free
   port, with the token it makes up itself, and with its config, data, runtime and IPython folders
   inside ``work``: no saved workspace, nothing read from or written to the user's folders.
   ``printed_url`` is the URL it prints for the learner to open; the token is read from
   it (JupyterLab prints a token it was given as ``...``). With ``app="notebook"`` it
   runs Notebook 7 (``python -m notebook``) the same way instead, on the same folder,
   with the same isolation; Notebook 7 is built from JupyterLab's components, so the
   page helpers below work on both.
2. ``remember_children`` notes the processes the server has started (its kernels); call it
   once a kernel runs. ``stop`` notes them once more. ``kernel_processes`` lists what the
   kernels themselves run now (servers a notebook spawned, a throw-away Redis).
3. ``stop`` asks the server to shut down (which shuts its kernels down), then ends what is
   left of the processes noted, by process id, checking that each id still names the
   process that was noted (ids are reused).

The functions below it drive JupyterLab's page in Playwright as a learner would: wait for
the kernel, run cells from the Run menu or one at a time, read outputs.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Literal, Self

from support import TIMEOUT, restart_port

from wslib.notebook import tutorial

__all__ = [
    "ERRORS",
    "KERNEL_READY",
    "LAB_SETTINGS",
    "RUNNING",
    "SLOW",
    "JupyterLab",
    "output_texts",
    "run_cell",
    "run_menu",
    "switch_theme",
    "wait_for_run",
]


def _stat(pid: int) -> tuple[int, str] | None:
    """Return (parent id, start time) of a live process from /proc, or None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()  # the name in (...) may hold spaces
    if fields[0] == "Z":  # a zombie has already exited
        return None
    return int(fields[1]), fields[19]


def _parent(pid: int) -> int | None:
    """Return the parent id of a live process, or None."""
    stat = _stat(pid)
    return None if stat is None else stat[0]


def _descendants(pid: int) -> dict[int, str]:
    """Return every live descendant of ``pid`` with its start time."""
    children: dict[int, list[int]] = {}
    starts: dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (stat := _stat(int(entry))) is not None:
            children.setdefault(stat[0], []).append(int(entry))
            starts[int(entry)] = stat[1]
    found: dict[int, str] = {}
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found[child] = starts[child]
            todo.append(child)
    return found


class JupyterLab:
    """A JupyterLab server for one test, isolated in ``work``.

    Args:
        root_dir: The folder JupyterLab serves (give it a copy: JupyterLab autosaves).
        work: A folder for its settings, runtime files and log.
        settings: User settings to apply, by plugin id, e.g.
            ``{"@jupyterlab/notebook-extension:tracker": {"windowingMode": "none"}}``.
        env: Environment variables for the server and its kernels, on top of this
            process's, e.g. ``{"JUPYTERHUB_SERVICE_PREFIX": "/"}``.
        args: More command-line options, e.g. ``["--ServerApp.allow_remote_access=True"]``.
        app: ``"lab"`` for JupyterLab, ``"notebook"`` for Notebook 7 (whose pages are
            ``tree/...`` and ``notebooks/<path>``).
    """

    def __init__(
        self,
        root_dir: Path,
        work: Path,
        settings: dict[str, dict[str, object]] | None = None,
        env: dict[str, str] | None = None,
        args: Sequence[str] = (),
        app: Literal["lab", "notebook"] = "lab",
    ) -> None:
        self.root_dir, self.work, self.app = root_dir, work, app
        self.args = list(args)
        self.settings = dict(settings or {})
        self.env = dict(env or {})
        # Chosen here and bound by JupyterLab seconds later, after its imports: a port the
        # kernel lends to no other socket meanwhile (nor to our own polls, as a self-connect).
        self.port = restart_port()
        self.token = ""  # read from the URL JupyterLab prints
        self._printed = ""
        self.log_path = work / f"jupyter-{app}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._children: dict[int, str] = {}

    def url(self, path: str) -> str:
        """Return the address of ``path`` on this server, with the token."""
        return f"http://127.0.0.1:{self.port}/{path.lstrip('/')}?token={self.token}"

    def log_tail(self, lines: int = 40) -> str:
        """Return the last lines of the server's log, for a failure message."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def _environment(self) -> dict[str, str]:
        folders = {name: self.work / name for name in ("config", "data", "runtime", "ipython")}
        for folder in folders.values():
            folder.mkdir(parents=True, exist_ok=True)
        (folders["config"] / "jupyter_server_config.json").write_text(
            json.dumps(
                {
                    "LabApp": {
                        "news_url": None,
                        "check_for_updates_class": (
                            "jupyterlab.handlers.announcements.NeverCheckForUpdate"
                        ),
                    }
                }
            )
        )
        for plugin, values in self.settings.items():
            package, name = plugin.split(":")
            folder = folders["config"] / "lab" / "user-settings" / package
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{name}.jupyterlab-settings").write_text(json.dumps(values))
        environment = dict(
            os.environ,
            JUPYTER_CONFIG_DIR=str(folders["config"]),
            JUPYTER_DATA_DIR=str(folders["data"]),
            JUPYTER_RUNTIME_DIR=str(folders["runtime"]),
            IPYTHONDIR=str(folders["ipython"]),
            JUPYTER_PLATFORM_DIRS="0",
            PYTHONUNBUFFERED="1",
            **self.env,
        )
        environment.pop("JUPYTER_TOKEN", None)
        return tutorial.lab_environment(environment)

    def start(self, timeout: float = 12 * TIMEOUT) -> None:
        """Start the server and return once it answers ``/api/status``.

        Raises:
            RuntimeError: The server exited while starting.
            TimeoutError: It did not answer within ``timeout`` seconds.
        """
        arguments = [
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0",
            *self.args,
        ]
        if self.app == "lab":
            command = tutorial.lab_command(self.root_dir, arguments)
        else:  # Notebook 7, with what lab_command gives JupyterLab but its first page
            command = [
                sys.executable,
                "-m",
                "notebook",
                f"--ServerApp.root_dir={self.root_dir.resolve()}",
                *(["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []),
                *arguments,
            ]
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=self.root_dir,
            env=self._environment(),
        )
        deadline = time.monotonic() + timeout
        printed = re.compile(rf"http://127\.0\.0\.1:{self.port}/\S*\?token=(\w+)")
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"jupyter {self.app} exited while starting:\n{self.log_tail()}")
            if not self.token:
                found = printed.search(self.log_path.read_text(errors="replace"))
                if found is not None:
                    self._printed, self.token = found.group(0), found.group(1)
            status = urllib.request.Request(
                f"http://127.0.0.1:{self.port}/api/status",
                headers={"Authorization": f"token {self.token}"},
            )
            try:
                if not self.token:
                    raise OSError("no URL printed yet")
                with urllib.request.urlopen(status, timeout=TIMEOUT / 2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(TIMEOUT / 25)  # polling a starting server: no event to wait on
        raise TimeoutError(f"jupyter {self.app} did not answer in {timeout} s:\n{self.log_tail()}")

    def printed_url(self) -> str:
        """Return the URL JupyterLab printed for the learner (``--no-browser``)."""
        return self._printed

    def remember_children(self) -> None:
        """Note the processes the server has started so far (its kernels)."""
        if self.process is not None and self.process.poll() is None:
            self._children.update(_descendants(self.process.pid))

    def kernel_processes(self) -> list[str]:
        """Return the command lines of the live processes that the kernels have started."""
        if self.process is None:
            return []
        kernels = [
            pid for pid in _descendants(self.process.pid) if _parent(pid) == self.process.pid
        ]
        found = []
        for pid in {p for kernel in kernels for p in _descendants(kernel)}:
            with contextlib.suppress(OSError):  # it may exit meanwhile
                found.append(
                    Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
                )
        return sorted(found)

    def stop(self, grace: float = 4 * TIMEOUT) -> None:
        """Shut the server down, then end any process it started that is still there."""
        process = self.process
        if process is None:
            return
        self.remember_children()
        if process.poll() is None:
            shutdown = urllib.request.Request(
                f"http://127.0.0.1:{self.port}/api/shutdown",
                method="POST",
                headers={"Authorization": f"token {self.token}"},
            )
            try:
                urllib.request.urlopen(shutdown, data=b"", timeout=TIMEOUT).close()
                process.wait(grace)
            except (OSError, subprocess.TimeoutExpired):
                process.terminate()
                try:
                    process.wait(2 * TIMEOUT)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(TIMEOUT)
        for pid, started in self._children.items():
            stat = _stat(pid)
            if stat is not None and stat[1] == started:  # still the process we noted
                with contextlib.suppress(ProcessLookupError):  # it may exit meanwhile
                    os.kill(pid, signal.SIGKILL)
        if self._log is not None:
            self._log.close()
        self.process = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


# -- driving JupyterLab's page (a Playwright ``Page``) ----------------------------------

# Attach every cell to the page, so the last cell can be found without scrolling.
LAB_SETTINGS: dict[str, dict[str, object]] = {
    "@jupyterlab/notebook-extension:tracker": {"windowingMode": "none"},
}
SLOW = 12 * TIMEOUT * 1000  # ms: a cold JupyterLab page load, or a whole run of the notebook
ERRORS = (
    ".jp-NotebookPanel .jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr'],"
    " .jp-NotebookPanel .jp-OutputArea-output[data-mime-type='application/vnd.jupyter.error']"
)
KERNEL_READY = """() => {
    const panel = document.querySelector('.jp-NotebookPanel');
    const status = panel && panel.querySelector('.jp-Notebook-ExecutionIndicator');
    const kernel = panel && panel.querySelector('.jp-KernelName');
    const name = kernel ? kernel.textContent.trim() : '';
    return !!status && status.getAttribute('data-status') === 'idle'
        && name !== '' && name !== 'No Kernel';
}"""
RUNNING = """() => Array.from(document.querySelectorAll('.jp-NotebookPanel .jp-InputPrompt'))
    .some(prompt => prompt.textContent.includes('[*]'))"""
WATCH_RUN = f"""() => {{
    window.wslibRunStarted = false;
    const watcher = new MutationObserver(() => {{
        if (({RUNNING})()) {{
            window.wslibRunStarted = true;
            watcher.disconnect();
        }}
    }});
    watcher.observe(document.body, {{ subtree: true, childList: true, characterData: true }});
}}"""


def run_menu(page: Any, item: str) -> None:
    """Choose ``item`` in JupyterLab's Run menu, as a learner would."""
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(f"^{re.escape(item)}$")).click()


def wait_for_run(page: Any, item: str) -> None:
    """Run ``item`` and return when every queued cell has finished.

    JupyterLab marks each queued cell ``[*]`` at once; they all lose the mark by the end.
    A mutation observer, set before the click, notes the marks: polling for them could miss
    a run that ends between two polls (a Run All of notebook 04 can take a second, and a
    page busy loading frames may skip its animation frames that long). The counts alone
    cannot tell: a fresh kernel numbers the cells as the saved notebook does.
    """
    page.evaluate(WATCH_RUN)
    run_menu(page, item)
    page.wait_for_function(f"() => window.wslibRunStarted && !({RUNNING})()", timeout=SLOW)


def switch_theme(page: Any, theme: str) -> None:
    """Settings > Theme > ``theme``, as a learner would, and wait until JupyterLab applied it."""
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Settings$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Theme$")).hover()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(f"^{re.escape(theme)}$")).click()
    page.locator(f"body[data-jp-theme-name='{theme}']").wait_for(state="attached")


def output_texts(page: Any) -> list[str]:
    """Return the text of every output area in the notebook."""
    texts: list[str] = page.locator(".jp-NotebookPanel .jp-OutputArea-output").all_inner_texts()
    return texts


def run_cell(page: Any, cell: Any) -> None:
    """Run one cell (a ``.jp-Cell`` locator) with Ctrl+Enter, and wait until it has run.

    The cell is selected by a click on its prompt, which leaves the notebook in command
    mode; its prompt then changes to ``[*]`` and on to a new execution count.
    """
    prompt = cell.locator(".jp-InputPrompt")
    before = prompt.inner_text()
    prompt.click()
    page.keyboard.press("Control+Enter")
    page.wait_for_function(
        "([prompt, before]) => prompt.textContent !== before"
        " && !prompt.textContent.includes('[*]')",
        arg=[prompt.element_handle(), before],
        timeout=SLOW,
    )
