"""Run All twice in one kernel, as a learner does, in notebooks 02, 06 and 07: headless Chromium.

JupyterLab starts as ``bash .ci/lab`` starts it (tests/jupyter.py), on a temporary copy of
notebooks/. For each notebook, in one kernel:

1. Run All, with no error; what the notebook leaves live works: the panes chat both ways
   (Enter in one, the Send button in the other), or, in 02 which has no pane, the wire
   view shows the run's frames.
2. Run All again: no error, and the second run replaced the first instead of running
   beside it: the panes chat again, and the kernel runs the child processes of one run
   (06: one ``wslib serve``; 07: one ``redis-server`` and its watchdog), no more.
3. The last cell's Stop everything button says what one run starts (as its saved output
   does); pressed, it stops exactly that, the panes close, and the kernel runs no child
   process any more.

Notebooks 01, 04 and 08 are walked the same way in tests/test_browser.py and
tests/test_browser_08.py.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from jupyter import LAB_SETTINGS, JupyterLab
from support import TIMEOUT, require
from test_browser import Learner, check_panes_chat_both_ways, copy_of_notebooks, pane

pytestmark = [pytest.mark.browser, pytest.mark.slow]

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect


def one_run(root: Path, notebook: str) -> str:
    """Return what the saved last cell's Stop everything button says one run starts."""
    cells = [
        c for c in json.loads((root / notebook).read_text())["cells"] if c["cell_type"] == "code"
    ]
    running = "".join(cells[-1]["outputs"][0]["data"]["text/plain"])
    found = re.fullmatch(r"StopButton\(running: (.*)\)", running)
    assert found is not None, running
    return found[1]


def wait_for_processes(lab: JupyterLab, check: Callable[[list[str]], bool], what: str) -> list[str]:
    """Wait until ``check`` holds for the kernels' child processes; return them."""
    deadline = time.monotonic() + 4 * TIMEOUT
    found = lab.kernel_processes()
    while not check(found) and time.monotonic() < deadline:
        time.sleep(TIMEOUT / 25)  # polling /proc: the kernel's children send the test no event
        found = lab.kernel_processes()
    assert check(found), f"{what}: {found}"
    return found


def stop_everything(learner: Learner, root: Path, notebook: str, panes: list[str]) -> None:
    """Press the last cell's button: it names one run's worth and stops it; the panes close
    and the kernel runs no child process."""
    page = learner.page
    running = one_run(root, notebook)
    last = page.locator(".jp-NotebookPanel .jp-Notebook .jp-Cell").last
    output = last.locator(".jp-OutputArea-output")
    expect(output).to_contain_text(f"running: {running}")
    stopped = sum(int(n) for n in re.findall(r"\d+", running))
    output.get_by_role("button", name="Stop everything").click()
    expect(output).to_contain_text(f"stopped {stopped}: {running}")
    for name in panes:
        # 1000 either way: the pane stopped itself, or its server stopped for good first
        # (a restarted server is registered after its panes), which the status then quotes.
        closed = re.compile(r"closed \(1000( stopped: .*)?\)")
        expect(pane(page, name).locator(".chat-status")).to_have_text(closed)
    wait_for_processes(learner.lab, lambda found: found == [], "still running after the button")
    learner.check_no_errors()


def walk(
    browser: Any,
    tmp_path: Path,
    notebook: str,
    after_each_run: Callable[[Learner], None],
    panes: list[str],
) -> None:
    """Open ``notebook``; Run All, then ``after_each_run``, twice; then Stop everything."""
    root = copy_of_notebooks(tmp_path)
    with JupyterLab(root, tmp_path, LAB_SETTINGS) as lab:
        learner = Learner(browser, lab)
        try:
            learner.open(lab.url(f"lab/tree/{notebook}"))
            for _ in range(2):
                learner.run_all()
                learner.check_no_errors()
                after_each_run(learner)
                learner.check_no_errors()
            stop_everything(learner, root, notebook, panes)
        except Exception:
            learner.failed(notebook.split("-")[0] + "-run-all")
            raise
        finally:
            learner.context.close()


def test_notebook_02_runs_all_twice_and_stops_what_one_run_started(
    browser: Any, tmp_path: Path
) -> None:
    """After each Run All, 02's wire view shows that run's frames; the button stops one run."""

    def wire_view_shows_the_frames(learner: Learner) -> None:
        view = learner.page.locator(".wslib-inspector").last
        expect(view).to_contain_text("Hi Bob, can you see my mask?")
        expect(view).to_contain_text("Received message from peer: No, the ser…")
        assert learner.lab.kernel_processes() == []  # 02 starts servers in the kernel only

    walk(browser, tmp_path, "02-under-the-hood.ipynb", wire_view_shows_the_frames, panes=[])


def test_notebook_06_panes_chat_after_each_run_all_and_one_server_process_runs(
    browser: Any, tmp_path: Path
) -> None:
    """After each Run All, 06's two panes chat through the one ``wslib serve`` child process
    the kernel runs; the button stops it and the panes, and no child process is left."""

    def panes_chat(learner: Learner) -> None:
        (server,) = wait_for_processes(
            learner.lab,
            lambda found: len(found) == 1,  # Bob and the service have ended; one server runs
            "06 should leave one wslib serve running",
        )
        assert re.search(r"-m wslib serve --port 0 --until-stdin-closes", server), server
        check_panes_chat_both_ways(learner.page, "Ann", "Cleo", relay=False)

    walk(browser, tmp_path, "06-scripts-and-terminal.ipynb", panes_chat, panes=["Ann", "Cleo"])


def test_notebook_07_panes_chat_across_servers_after_each_run_all(
    browser: Any, tmp_path: Path
) -> None:
    """After each Run All, Ann on server A and Ben on server B chat through one throw-away
    redis-server; the button stops the servers, the panes and Redis, and nothing is left."""
    require("redis-server", "notebook 07 in the browser")

    def panes_chat(learner: Learner) -> None:
        wait_for_processes(
            learner.lab,  # the crashed server C was killed in its cell
            lambda found: len(found) == 2 and sum("redis-server" in c for c in found) == 1,
            "07 should leave one redis-server and its watchdog running",
        )
        check_panes_chat_both_ways(learner.page, "Ann", "Ben", relay=False)

    walk(browser, tmp_path, "07-scaling-out.ipynb", panes_chat, panes=["Ann", "Ben"])
