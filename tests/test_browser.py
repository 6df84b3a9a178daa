"""Notebook 01 as a learner meets it: JupyterLab in headless Chromium, panes typed into.

The test works on a temporary copy of notebooks/ (JupyterLab autosaves) and checks, in one
kernel:

1. Opened, it shows its saved outputs and no broken widget.
2. First run, up to the last cell (which stops everything): typing in Alice's pane and
   clicking Send shows the message in Bob's pane, and the flow diagram draws the step:
   Alice to the server, then the server to Bob and to Carol, none back to Alice. Enter in
   Bob's shows it in Alice's, and the diagram draws that step too.
3. Second run, Run All: no error anywhere, and the last cell stops exactly what one run
   starts, so nothing of the first run (server, panes) was left behind.

Screenshots go to artifacts/ (git ignores it). Chromium comes from the system
(``CHROMIUM``, default ``/usr/bin/chromium``); the test skips without it unless
``WSLIB_REQUIRE_ALL=1``.
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
from pathlib import Path
from typing import Any

import pytest
from jupyter import ERRORS, KERNEL_READY, LAB_SETTINGS, SLOW, JupyterLab, output_texts, wait_for_run
from support import CHROME_FLAGS, TIMEOUT, chromium

pytestmark = [pytest.mark.browser, pytest.mark.slow]

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = "01-websockets-in-ten-minutes.ipynb"
ARTIFACTS = ROOT / "artifacts"


def column_x(diagram: Any) -> dict[str, float]:
    """Return the x of each column of the flow diagram, by its label."""
    found: dict[str, float] = diagram.locator("svg text.column").evaluate_all(
        "texts => Object.fromEntries(texts.map(t => [t.textContent, Number(t.getAttribute('x'))]))"
    )
    return found


def check_fan_out(diagram: Any, text: str, sender: str, others: list[str]) -> None:
    """The diagram drew the step of ``text``: sender to server, then server to each other lane.

    The step's annotation carries its number; its arrows are the lines with that number.
    """
    label = diagram.locator("svg text.label", has_text=text)
    expect(label).to_have_count(1)
    arrows = diagram.locator(f"svg line.arrow[data-seq='{label.get_attribute('data-seq')}']")
    expect(arrows).to_have_count(1 + len(others))
    ends = arrows.evaluate_all(
        "lines => lines.map(l => [Number(l.getAttribute('x1')), Number(l.getAttribute('x2'))])"
    )
    x = column_x(diagram)
    assert ends[0] == [x[sender], x["server"] + 4]
    # In the order the server wrote to them: the order they (re)connected in.
    assert sorted(ends[1:]) == sorted([x["server"], x[name] - 4] for name in others)


def around(*locators: Any) -> dict[str, float]:
    """Return the smallest page rectangle that holds every element given, for a screenshot."""
    boxes = [locator.bounding_box() for locator in locators]
    left, top = min(b["x"] for b in boxes), min(b["y"] for b in boxes)
    right = max(b["x"] + b["width"] for b in boxes)
    bottom = max(b["y"] + b["height"] for b in boxes)
    return {"x": left, "y": top, "width": right - left, "height": bottom - top}


def check_no_errors(page: Any, console: list[str]) -> None:
    """No error or stderr output, no broken widget, no dialog, no error in the console."""
    expect(page.locator(ERRORS)).to_have_count(0)
    assert not [text for text in output_texts(page) if "Error displaying widget" in text]
    expect(page.locator(".jp-Dialog")).to_have_count(0)
    assert console == []


def test_notebook_01_chats_in_a_real_browser_and_runs_twice(tmp_path: Path) -> None:
    """Panes chat both ways in Chromium, and a second Run All is clean and leaves nothing old."""
    executable = chromium("the browser test")
    root = tmp_path / "notebooks"
    shutil.copytree(ROOT / "notebooks", root, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    saved = json.loads((root / NOTEBOOK).read_text())
    code_cells = [cell for cell in saved["cells"] if cell["cell_type"] == "code"]
    # The last cell shows a Stop everything button with what one run of the notebook starts.
    running = "".join(code_cells[-1]["outputs"][0]["data"]["text/plain"])
    one_run = re.fullmatch(r"StopButton\(running: (.*)\)", running)
    assert one_run is not None, running
    ARTIFACTS.mkdir(exist_ok=True)
    console: list[str] = []

    with (
        JupyterLab(root, tmp_path, LAB_SETTINGS) as lab,
        playwright_api.sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(executable_path=executable, args=CHROME_FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(3 * TIMEOUT * 1000)
        expect.set_options(timeout=3 * TIMEOUT * 1000)
        page.on("console", lambda message: message.type == "error" and console.append(message.text))
        page.on("pageerror", lambda error: console.append(f"page error: {error}"))
        try:
            page.goto(lab.url(f"lab/tree/{NOTEBOOK}"), timeout=SLOW)
            # The toolbar says idle before a kernel is attached; wait for a real kernel name.
            page.wait_for_function(KERNEL_READY, timeout=SLOW)
            lab.remember_children()
            cells = page.locator(".jp-NotebookPanel .jp-Notebook .jp-Cell")
            expect(cells).to_have_count(len(saved["cells"]))

            # 1. Before anything runs, the saved outputs show and no widget is broken. (A
            # notebook from a fresh clone is not trusted, so the panes show as their text.)
            expect(page.get_by_text("PaneRow(ChatPane(name='Alice'")).to_be_visible()
            check_no_errors(page, console)
            alice, bob = page.locator(".chat-pane-Alice"), page.locator(".chat-pane-Bob")
            diagram = page.locator(".wslib-flow-view")

            # 2. Run All, as the notebook's first cell suggests: the panes stay open.
            wait_for_run(page, "Run All Cells")
            check_no_errors(page, console)
            tag = secrets.token_hex(3)
            alice_box = alice.locator(".chat-input input")
            alice_box.click()
            alice_box.press_sequentially(f"typed by Alice {tag}")  # real keys, no delay
            alice.locator("button.chat-send").click()
            expect(bob.locator(".chat-line", has_text=f"typed by Alice {tag}")).to_have_text(
                f"← Received message from peer: typed by Alice {tag}"
            )
            expect(alice.locator(".chat-local", has_text=tag)).to_be_visible()
            expect(alice_box).to_have_value("")
            check_fan_out(diagram, f"typed by Alice {tag}", "Alice", ["Bob", "Carol"])
            bob_box = bob.locator(".chat-input input")
            bob_box.click()
            bob_box.press_sequentially(f"Bob answers {tag}")
            bob_box.press("Enter")  # Enter right after the last key
            expect(alice.locator(".chat-line", has_text=f"Bob answers {tag}")).to_have_text(
                f"← Received message from peer: Bob answers {tag}"
            )
            expect(cells).to_have_count(len(saved["cells"]))  # typing ran no shortcut
            check_fan_out(diagram, f"Bob answers {tag}", "Bob", ["Alice", "Carol"])
            check_no_errors(page, console)
            row = page.locator(".chat-panes")
            row.scroll_into_view_if_needed()
            row.screenshot(path=str(ARTIFACTS / "panes.png"))
            page.screenshot(path=str(ARTIFACTS / "notebook-01.png"))
            # For the README: the three panes in a row and the diagram under them.
            page.set_viewport_size({"width": 1700, "height": 1400})
            row.evaluate("element => element.scrollIntoView({block: 'start'})")
            expect(diagram).to_be_in_viewport(ratio=1)
            page.screenshot(path=str(ARTIFACTS / "flow.png"), clip=around(row, diagram))
            page.set_viewport_size({"width": 1280, "height": 900})
            lab.remember_children()

            # 3. Run All again, in the same kernel: it replaces the first run's server and
            # panes, so the button counts what one run starts, no more; the panes are open.
            # Pressed, it stops exactly that, and the panes close.
            wait_for_run(page, "Run All Cells")
            check_no_errors(page, console)
            last_output = cells.last.locator(".jp-OutputArea-output")
            expect(last_output).to_contain_text(f"running: {one_run[1]}")
            expect(alice.locator(".chat-status")).to_have_text("open")
            stopped = sum(int(n) for n in re.findall(r"\d+", one_run[1]))
            last_output.get_by_role("button", name="Stop everything").click()
            expect(last_output).to_contain_text(f"stopped {stopped}: {one_run[1]}")
            expect(alice.locator(".chat-status")).to_have_text("closed (1000)")
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "notebook-01-failure.png"))
            print("JupyterLab log:\n" + lab.log_tail())
            print("outputs:", output_texts(page))
            raise
        finally:
            browser.close()
