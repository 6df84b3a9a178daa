"""pytest settings for the notebooks: skip those that need a missing program; check clean-up.

It sits at the top of the repository, not in ``notebooks/``, so that a learner's file
browser shows lessons only; pytest reads it for every run started in the repository.

Notebook 07's committed outputs show servers linked through Redis. Without
``redis-server`` the notebook still runs for a learner (it falls back to one process), but
its outputs differ, so nbval skips it here with the reason, unless ``WSLIB_REQUIRE_ALL=1``
(set by CI), where the run goes ahead and the differing output fails it.

A notebook leaves its servers and panes running after its last cell, so that a learner who
pressed *Run All* can scroll up and chat; its last cell shows a "Stop everything" button.
So that nbval still proves nothing is left behind, each notebook gets one more test item
after its last cell: in the same kernel it calls ``wslib.stop_all()``, then fails if
anything is still registered with the kit or any child process of the kernel still runs.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from queue import Empty
from typing import Any

import pytest

NOTEBOOKS = Path(__file__).resolve().parent / "notebooks"
NEEDS = {"07-scaling-out.ipynb": "redis-server"}

# Runs in the notebook's kernel. It prints one line of JSON: how many things stop_all
# stopped, what the kit still has registered, and which child processes outlived a grace.
_CLEAN_UP = """
def _wslib_clean_up():
    import json
    import psutil
    from wslib.sync import runtime
    stopped = runtime.stop_all()
    left = [repr(item) for item in runtime.running()]
    children = psutil.Process().children(recursive=True)
    _, alive = psutil.wait_procs(children, timeout=10)
    alive = [" ".join(p.cmdline()) for p in alive]
    print(json.dumps({"stopped": stopped, "left": left, "children": alive}))
_wslib_clean_up()
del _wslib_clean_up
"""


class NothingLeftRunning(pytest.Item):
    """Stop everything in a notebook's kernel after its last cell; fail if something stays."""

    def runtest(self) -> None:
        kernel: Any = self.parent.kernel  # type: ignore[union-attr]
        if kernel is None or not kernel.is_alive():
            pytest.skip("the notebook's kernel is not running")
        msg_id = kernel.execute_cell_input(_CLEAN_UP, allow_stdin=False)
        kernel.await_reply(msg_id, timeout=60)
        text, errors = "", []
        while True:
            try:
                msg = kernel.get_message(stream="iopub", timeout=10)
            except Empty:
                break
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "stream":
                text += msg["content"]["text"]
            elif msg["msg_type"] == "error":
                errors.append(f"{msg['content']['ename']}: {msg['content']['evalue']}")
            elif msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                break
        assert not errors, f"stopping everything failed: {errors}"
        report = json.loads(text.strip().splitlines()[-1])
        assert report["left"] == [], f"still registered after stop_all: {report['left']}"
        assert report["children"] == [], f"child processes still running: {report['children']}"

    def reportinfo(self) -> tuple[Any, int, str]:
        return self.path, 0, f"{self.path.name}: nothing left running after stop_all"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Add the clean-up check after each notebook's last cell; skip what needs a program."""
    last: dict[Any, int] = {}
    for index, item in enumerate(items):
        if type(item).__name__ == "IPyNbCell":
            last[item.parent] = index
    for parent, index in sorted(last.items(), key=lambda pair: -pair[1]):
        items.insert(index + 1, NothingLeftRunning.from_parent(parent, name="nothing left running"))
    if os.environ.get("WSLIB_REQUIRE_ALL") == "1":
        return
    for item in items:
        if item.path.parent != NOTEBOOKS:
            continue
        program = NEEDS.get(item.path.name)
        if program is not None and shutil.which(program) is None:
            item.add_marker(pytest.mark.skip(reason=f"{program} not found: {item.path.name}"))
