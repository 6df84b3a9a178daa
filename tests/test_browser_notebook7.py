"""The playground in Notebook 7 (``jupyter notebook``), as in JupyterLab: headless Chromium.

Notebook 7 is built from JupyterLab's components but is its own page (``/notebooks/<path>``,
one notebook per tab, its own shell and menus). The test writes a small notebook that starts
the kit's server, shows a Python pane and a playground holding notebook 08's "send and
receive" script, runs its cells one by one with the keyboard, presses Run in the frame, and
reads the frame's console: the page opens, its message reaches the Python pane, the pane's
answer reaches the page and goes back. The last cell stops the kit's server; the Notebook
server, with its kernel, stops when the test ends.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat
import pytest
from jupyter import ERRORS, KERNEL_READY, LAB_SETTINGS, SLOW, JupyterLab, run_cell
from support import CHROME_FLAGS, TIMEOUT, chromium

pytestmark = [pytest.mark.browser, pytest.mark.slow]

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect
pytest.importorskip("notebook", reason="Notebook 7 is in the test extra: pip install notebook")

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "artifacts"
NOTEBOOK = "playground-in-notebook-7.ipynb"

# Notebook 7.6's own page throws this while it loads its settings (the keyboard shortcuts
# plugin), on an empty notebook without the kit too; it is not the playground's doing.
NOTEBOOK_OWN_ERROR = "Cannot read properties of undefined (reading 'schema')"

# Notebook 08's step 3: the page greets the Python pane and sends back what it is told.
ANSWER = '''answer = """
const ws = new WebSocket(RELAY);
ws.onopen = () => ws.send("hello from the browser");
ws.onmessage = (event) => {
  const text = event.data.replace("Received message from peer: ", "");
  ws.send("the browser got: " + text);
  ws.close(1000, "answered");
};
"""
wslib.Playground(server, answer, title="send and receive")'''

CELLS = [
    "import wslib\n\nserver = wslib.start(port=0)\n"
    'python = wslib.ChatPane(server, "Python")\npython',
    ANSWER,
    'python.send("hello, browser")',
    "python.stop()\nserver.stop()\nprint(server.running)",
]


def write_notebook(root: Path) -> None:
    """Write the test's notebook, with the kit's Python kernel, into ``root``."""
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in CELLS]
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
    }
    nbformat.write(notebook, root / NOTEBOOK)


def watch(page: Any) -> list[str]:
    """Record the page's uncaught errors and console errors, but Notebook 7's own one."""
    errors: list[str] = []

    def on_error(error: Any) -> None:
        stack = getattr(error, "stack", "") or ""
        if not (str(error) == NOTEBOOK_OWN_ERROR and "/static/notebook/" in stack):
            errors.append(f"page error: {error}")

    def on_console(message: Any) -> None:
        if message.type == "error":
            errors.append(f"console: {message.text}")

    page.on("pageerror", on_error)
    page.on("console", on_console)
    return errors


def test_playground_runs_in_notebook_7(tmp_path: Path) -> None:
    """In Notebook 7 the frame loads in the notebook's light theme (the browser prefers dark),
    Run opens RELAY, and messages cross to Python and back."""
    executable = chromium("the Notebook 7 browser test")
    root = tmp_path / "notebooks"
    root.mkdir()
    write_notebook(root)
    ARTIFACTS.mkdir(exist_ok=True)
    with (
        JupyterLab(root, tmp_path, LAB_SETTINGS, app="notebook") as jupyter,
        playwright_api.sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(executable_path=executable, args=CHROME_FLAGS)
        # The browser prefers dark; Notebook 7 shows its light theme, which the frame takes.
        page = browser.new_page(viewport={"width": 1280, "height": 900}, color_scheme="dark")
        page.set_default_timeout(3 * TIMEOUT * 1000)
        expect.set_options(timeout=3 * TIMEOUT * 1000)
        errors = watch(page)
        try:
            page.goto(jupyter.url(f"notebooks/{NOTEBOOK}"), timeout=SLOW)
            page.wait_for_function(KERNEL_READY, timeout=SLOW)
            jupyter.remember_children()
            cells = page.locator(".jp-NotebookPanel .jp-Notebook .jp-Cell")
            expect(cells).to_have_count(len(CELLS))

            run_cell(page, cells.nth(0))
            jupyter.remember_children()
            pane = page.locator(".chat-pane-Python")
            expect(pane).to_have_count(1)  # the widget manager renders the pane

            run_cell(page, cells.nth(1))
            frames = page.locator(".jp-NotebookPanel iframe.wslib-playground")
            expect(frames).to_have_count(1)
            frame = frames.first.content_frame.locator("iframe").content_frame
            expect(frame.locator("#run")).to_be_visible(timeout=SLOW)
            expect(page.locator("body")).to_have_attribute("data-jp-theme-light", "true")
            expect(frame.locator("html")).to_have_attribute("data-theme", "light")
            expect(frame.locator("body")).to_have_css("background-color", "rgb(255, 255, 255)")
            frame.locator("#run").click()
            lines = frame.locator("#console .text")
            expect(lines).to_have_text(["run", "ws1 open"])
            expect(pane.locator(".chat-line").last).to_have_text(
                "← Received message from peer: hello from the browser"
            )

            run_cell(page, cells.nth(2))
            expect(lines).to_have_text(
                [
                    "run",
                    "ws1 open",
                    'ws1 message "Received message from peer: hello, browser"',
                    'ws1 close code=1000 reason="answered" wasClean=true',
                ]
            )
            expect(pane.locator(".chat-line").last).to_have_text(
                "← Received message from peer: the browser got: hello, browser"
            )

            run_cell(page, cells.nth(3))
            expect(cells.nth(3).locator(".jp-OutputArea-output")).to_have_text("False")
            expect(page.locator(ERRORS)).to_have_count(0)
            page.screenshot(path=str(ARTIFACTS / "notebook-7-playground.png"), full_page=True)
            assert errors == []
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "notebook-7-playground-failure.png"))
            print(f"Notebook 7 log:\n{jupyter.log_tail()}")
            raise
        finally:
            browser.close()
