"""Notebooks 01 and 04 as a learner meets them: JupyterLab in headless Chromium.

JupyterLab starts as ``bash .ci/lab`` and ``wslib tutorial`` start it (tests/jupyter.py), on
a temporary copy of notebooks/ (JupyterLab autosaves). What the learner does, the test
does, in one kernel per notebook. Notebook 01:

1. The URL JupyterLab printed opens notebook 01 (not the launcher), with no "get Jupyter
   news?" prompt, a file browser that lists the lessons and solutions only, and the saved
   outputs with no broken widget.
2. Run All, as the notebook's first cell suggests, then back up to the panes: Tab reaches
   Alice's text box, Enter sends and the focus stays in the box; in Bob's pane the Send
   button sends. Each message arrives in the other pane, whose log is a live region, and
   the flow diagram draws the step: the sender to the server, then the server to every
   other pane, none back to the sender.
3. axe-core finds no WCAG A or AA violation in the panes and the server log, in JupyterLab's
   light theme and in its dark one (Settings > Theme); a screenshot of each.
4. Run All again, in the same kernel: no error, the panes chat both ways again, and the last
   cell's Stop everything button counts what one run starts; pressed, it stops exactly
   that, and the panes close.

Notebook 04 the same way: after each of two Run Alls, its chat panes and its chat page (in
a frame) exchange messages.

A small notebook of its own shows that a pane's log and the server log are each one live
region that lasts: the element marked before messages arrive is the one that holds them
(a screen reader announces what is added to it), a hostile line is text, a burst that
makes the widget send all its lines at once adds each line once, a second view shows the
same lines, and a pane that keeps three lines shows three.

A pane's text box keeps what is typed when the focus leaves it (a click elsewhere, Tab to
Send) and sends nothing; Enter then sends it once.

Screenshots go to artifacts/ (git ignores it); with ``WSLIB_SCREENSHOTS=docs`` the two of
the panes go to docs/ as well, where the README shows them. Chromium comes from the system
(``CHROMIUM``, default ``/usr/bin/chromium``); the test skips without it unless
``WSLIB_REQUIRE_ALL=1``.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
from pathlib import Path
from typing import Any

import nbformat
import pytest
from jupyter import (
    ERRORS,
    KERNEL_READY,
    LAB_SETTINGS,
    SLOW,
    JupyterLab,
    output_texts,
    run_cell,
    switch_theme,
    wait_for_run,
)
from support import TIMEOUT, axe_script, axe_violations

pytestmark = [pytest.mark.browser, pytest.mark.slow]

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = "01-websockets-in-ten-minutes.ipynb"
ARTIFACTS = ROOT / "artifacts"
DOCS = ROOT / "docs"
CURRENT_TAB = "#jp-main-dock-panel .lm-TabBar-tab.lm-mod-current .lm-TabBar-tabLabel"
FOCUSED_INPUT = """pane => document.activeElement !== null
    && document.activeElement.tagName === 'INPUT'
    && document.querySelector(pane).contains(document.activeElement)"""


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


class Learner:
    """A JupyterLab page in its own browser context, with console errors recorded."""

    def __init__(self, browser: Any, lab: JupyterLab) -> None:
        self.lab = lab
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.page = self.context.new_page()
        self.page.set_default_timeout(3 * TIMEOUT * 1000)
        expect.set_options(timeout=3 * TIMEOUT * 1000)
        self.console: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.console.append(m.text))
        self.page.on("pageerror", lambda error: self.console.append(f"page error: {error}"))

    def open(self, url: str) -> None:
        """Open ``url`` and wait for a real kernel: the toolbar says idle before one is there."""
        self.page.goto(url, timeout=SLOW)
        self.page.wait_for_function(KERNEL_READY, timeout=SLOW)
        self.lab.remember_children()

    def run_all(self) -> None:
        """Run > Run All Cells, and return once every cell has run."""
        wait_for_run(self.page, "Run All Cells")
        self.lab.remember_children()

    def check_no_errors(self) -> None:
        """No error or stderr output, no broken widget, no dialog, no error in the console."""
        expect(self.page.locator(ERRORS)).to_have_count(0)
        assert not [text for text in output_texts(self.page) if "Error displaying widget" in text]
        expect(self.page.locator(".jp-Dialog")).to_have_count(0)
        assert self.console == []

    def switch_theme(self, theme: str) -> None:
        """Settings > Theme > ``theme``, and wait until JupyterLab has applied it."""
        switch_theme(self.page, theme)
        expect(self.page.locator("body")).to_have_attribute("data-jp-theme-name", theme)

    def screenshot(self, locator: Any, name: str) -> None:
        """Save a screenshot of ``locator`` to artifacts/ (and to docs/ when asked)."""
        locator.scroll_into_view_if_needed()
        locator.screenshot(path=str(ARTIFACTS / name))
        if os.environ.get("WSLIB_SCREENSHOTS") == "docs":
            shutil.copy(ARTIFACTS / name, DOCS / name)

    def failed(self, name: str) -> None:
        """Keep what explains a failure: a screenshot, JupyterLab's log, the outputs."""
        self.page.screenshot(path=str(ARTIFACTS / f"{name}-failure.png"))
        print("JupyterLab log:\n" + self.lab.log_tail())
        print("outputs:", output_texts(self.page))


def copy_of_notebooks(tmp_path: Path) -> Path:
    """Return a copy of notebooks/ that JupyterLab may autosave into."""
    root = tmp_path / "notebooks"
    shutil.copytree(ROOT / "notebooks", root, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    ARTIFACTS.mkdir(exist_ok=True)
    return root


def pane(page: Any, name: str) -> Any:
    """Return the pane of ``name`` (the first, should a notebook show it twice)."""
    return page.locator(f".chat-pane-{name}").first


def type_and_enter(page: Any, sender: str, text: str) -> None:
    """Reach ``sender``'s text box with Tab, type ``text``, press Enter; focus stays there."""
    box = pane(page, sender).locator(".chat-input input")
    pane(page, sender).locator(".chat-header").click()  # a place to Tab on from
    for _ in range(3):  # the log may take a Tab first: a scrolling region is focusable
        page.keyboard.press("Tab")
        if page.evaluate(FOCUSED_INPUT, f".chat-pane-{sender}"):
            break
    assert page.evaluate(FOCUSED_INPUT, f".chat-pane-{sender}"), f"Tab never reached {sender}"
    page.keyboard.type(text)  # real keys, no delay
    page.keyboard.press("Enter")  # Enter right after the last key
    expect(box).to_have_value("")
    assert page.evaluate(FOCUSED_INPUT, f".chat-pane-{sender}"), "the focus left the box"


def type_and_click_send(page: Any, sender: str, text: str) -> None:
    """Click ``sender``'s text box, type ``text`` and click its Send button."""
    box = pane(page, sender).locator(".chat-input input")
    box.click()
    box.press_sequentially(text)
    pane(page, sender).locator("button.chat-send").click()
    expect(box).to_have_value("")


def check_panes_chat_both_ways(page: Any, first: str, second: str, *, relay: bool) -> str:
    """Enter in ``first``'s pane, Send in ``second``'s: each message reaches the other.

    Returns:
        The tag both messages carry: ``{first} typed {tag}``, ``{second} answers {tag}``.
    """
    tag = secrets.token_hex(3)
    type_and_enter(page, first, f"{first} typed {tag}")
    arrived = pane(page, second).locator(".chat-line", has_text=f"{first} typed {tag}")
    if relay:  # the article's relay says where a message came from
        expect(arrived).to_have_text(f"← Received message from peer: {first} typed {tag}")
    else:
        expect(arrived).to_be_visible()
    type_and_click_send(page, second, f"{second} answers {tag}")
    answer = pane(page, first).locator(".chat-line", has_text=f"{second} answers {tag}")
    expect(answer).to_be_visible()
    for name in (first, second):  # a screen reader hears new lines
        expect(pane(page, name).locator(".chat-log")).to_have_attribute("aria-live", "polite")
    return tag


def test_notebook_01_as_a_learner_meets_it(browser: Any, tmp_path: Path) -> None:
    """The printed URL opens 01; after each Run All, Alice and Bob chat by keyboard and by
    button; the panes pass axe-core in light and dark; Stop everything stops one run."""
    axe_script()  # skip (or fail under WSLIB_REQUIRE_ALL) before starting anything
    root = copy_of_notebooks(tmp_path)
    saved = json.loads((root / NOTEBOOK).read_text())
    code_cells = [cell for cell in saved["cells"] if cell["cell_type"] == "code"]
    # The last cell shows a Stop everything button with what one run of the notebook starts.
    running = "".join(code_cells[-1]["outputs"][0]["data"]["text/plain"])
    one_run = re.fullmatch(r"StopButton\(running: (.*)\)", running)
    assert one_run is not None, running

    with JupyterLab(root, tmp_path, LAB_SETTINGS) as lab:
        learner = Learner(browser, lab)
        page = learner.page
        try:
            # 1. The printed URL: notebook 01, lessons only, no news prompt, saved outputs.
            learner.open(lab.printed_url())
            expect(page.locator(CURRENT_TAB)).to_have_text(NOTEBOOK)
            listed = page.locator(".jp-DirListing-itemName").all_text_contents()
            assert NOTEBOOK in listed
            assert [name for name in listed if not re.fullmatch(r".+\.ipynb|solutions", name)] == []
            cells = page.locator(".jp-NotebookPanel .jp-Notebook .jp-Cell")
            expect(cells).to_have_count(len(saved["cells"]))
            # A notebook from a fresh clone is not trusted, so the panes show as their text.
            expect(page.get_by_text("PaneRow(ChatPane(name='Alice'")).to_be_visible()
            learner.check_no_errors()

            # 2. Run All; the panes stay open and chat, by keyboard and by button.
            learner.run_all()
            learner.check_no_errors()
            tag = check_panes_chat_both_ways(page, "Alice", "Bob", relay=True)
            expect(cells).to_have_count(len(saved["cells"]))  # typing ran no shortcut
            diagram = page.locator(".wslib-flow-view")
            check_fan_out(diagram, f"Alice typed {tag}", "Alice", ["Bob", "Carol"])
            check_fan_out(diagram, f"Bob answers {tag}", "Bob", ["Alice", "Carol"])
            learner.check_no_errors()
            # For the README: the panes in a row and the diagram under them.
            row = page.locator(".chat-panes").first
            page.set_viewport_size({"width": 1700, "height": 1400})
            row.evaluate("element => element.scrollIntoView({block: 'start'})")
            expect(diagram).to_be_in_viewport(ratio=1)
            page.screenshot(path=str(ARTIFACTS / "flow.png"), clip=around(row, diagram))
            page.set_viewport_size({"width": 1280, "height": 900})

            # 3. axe-core on the panes and the server log, light and dark.
            views = [".chat-panes", ".server-log"]
            assert axe_violations(page, views) == []
            learner.screenshot(page.locator(".chat-panes").first, "panes-light.png")
            learner.switch_theme("JupyterLab Dark")
            assert axe_violations(page, views) == []
            learner.screenshot(page.locator(".chat-panes").first, "panes-dark.png")
            learner.switch_theme("JupyterLab Light")

            # 4. Run All again, in the same kernel: it replaces the first run's server and
            # panes, which chat again; the button counts what one run starts, no more.
            # Pressed, it stops exactly that, and the panes close.
            learner.run_all()
            learner.check_no_errors()
            check_panes_chat_both_ways(page, "Alice", "Bob", relay=True)
            last_output = cells.last.locator(".jp-OutputArea-output")
            expect(last_output).to_contain_text(f"running: {one_run[1]}")
            stopped = sum(int(n) for n in re.findall(r"\d+", one_run[1]))
            last_output.get_by_role("button", name="Stop everything").click()
            expect(last_output).to_contain_text(f"stopped {stopped}: {one_run[1]}")
            expect(pane(page, "Alice").locator(".chat-status")).to_have_text("closed (1000)")
            learner.check_no_errors()
            assert page.get_by_text(re.compile("Jupyter news")).count() == 0
        except Exception:
            learner.failed("notebook-01")
            raise
        finally:
            learner.context.close()


def test_notebook_04_panes_and_page_chat_after_each_run_all(browser: Any, tmp_path: Path) -> None:
    """After each of two Run Alls, 04's panes chat by keyboard and by button, and its chat
    page, in a frame, exchanges messages with them."""
    root = copy_of_notebooks(tmp_path)
    with JupyterLab(root, tmp_path, LAB_SETTINGS) as lab:
        learner = Learner(browser, lab)
        page = learner.page
        try:
            learner.open(lab.url("lab/tree/04-a-real-chat.ipynb"))
            for run in range(2):
                learner.run_all()
                learner.check_no_errors()
                check_panes_chat_both_ways(page, "Ann", "Ben", relay=False)
                # The chat page, inside the frame's loader (wslib.notebook.loader).
                loader = page.frame_locator(".jp-NotebookPanel iframe.wslib-page").first
                frame = loader.frame_locator("iframe")
                frame.locator("#name").fill(f"Eve{run}")
                frame.locator("#join").click()
                expect(frame.locator("#status")).to_have_text(f"joined as Eve{run}")
                tag = secrets.token_hex(3)
                frame.locator("#text").fill(f"from the page {tag}")
                frame.locator("#text").press("Enter")
                from_page = pane(page, "Ann").locator(".chat-line", has_text=f"from the page {tag}")
                expect(from_page).to_be_visible()
                type_and_click_send(page, "Ben", f"to the page {tag}")
                expect(frame.locator("#messages .message").last).to_have_text(
                    f"Ben:to the page {tag}"
                )
                learner.check_no_errors()
        except Exception:
            learner.failed("notebook-04")
            raise
        finally:
            learner.context.close()


# The notebook of the live-region test: panes, a server log, then cells that add lines.
LIVE_CELLS = [
    "import wslib\n"
    "server = wslib.start(port=0, name='livelog')\n"
    "panes = wslib.chat_panes(server, 'Alice', 'Bob')\n"
    "alice, bob = panes\n"
    "panes",
    "log = wslib.ServerLog(server)\nlog",
    # More than ROLL (64) lines: the widget sends all its lines at once on the way.
    "for n in range(70):\n    alice.send(f'many {n}')\nbob.wait_for_line('many 69')\nlog.refresh()",
    "panes",  # a second view of the same panes
    "carol = wslib.ChatPane(server, 'Carol', keep=3)\ncarol",
    "for n in range(5):\n    alice.send(f'burst {n}')\ncarol.wait_for_line('burst 4');",
]
# What a region looks like from a script: is it still in the page, still the marked one,
# its attributes, and its lines' texts.
REGION = """region => ({
    connected: region.isConnected,
    mark: region.wslibMark ?? null,
    role: region.getAttribute('role'),
    live: region.getAttribute('aria-live'),
    label: region.getAttribute('aria-label'),
    images: region.querySelectorAll('img').length,
    first: region.querySelector('.chat-line, .log-line')?.wslibMark ?? null,
    lines: Array.from(region.querySelectorAll('.chat-line, .log-line'), line => line.textContent),
})"""
HOSTILE = "<img src=x onerror=window.wslibPwned=1>"


def scratch_notebook(tmp_path: Path, name: str, cells: list[str]) -> Path:
    """Write a notebook of ``cells`` (on the python3 kernel) as ``name`` in a new folder;
    return the folder, for JupyterLab to open."""
    root = tmp_path / "notebooks"
    root.mkdir()
    notebook = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(source) for source in cells],
        metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
    )
    nbformat.write(notebook, root / name)
    ARTIFACTS.mkdir(exist_ok=True)
    return root


def test_a_log_is_one_live_region_that_lasts(browser: Any, tmp_path: Path) -> None:
    """The live region marked before messages arrive is the one that holds them, as text."""
    root = scratch_notebook(tmp_path, "livelog.ipynb", LIVE_CELLS)
    with JupyterLab(root, tmp_path, LAB_SETTINGS) as lab:
        learner = Learner(browser, lab)
        page = learner.page
        cells = page.locator(".jp-NotebookPanel .jp-Notebook .jp-Cell")
        try:
            learner.open(lab.url("lab/tree/livelog.ipynb"))
            run_cell(page, cells.nth(0))
            run_cell(page, cells.nth(1))
            regions = {
                "Bob": pane(page, "Bob").locator("[role=log]"),
                "server": page.locator(".server-log [role=log]"),
            }
            for name, region in regions.items():
                expect(region).to_have_count(1)  # one region, not one inside another
                region.evaluate("(region, name) => { region.wslibMark = name; }", name)
            handles = {name: region.element_handle() for name, region in regions.items()}
            # Its first line too: new lines are appended to it, the old ones stay as they are.
            first = regions["Bob"].locator(".chat-line").first
            expect(first).to_have_text("· open")
            first.evaluate("line => { line.wslibMark = 'first'; }")

            tag = secrets.token_hex(3)
            type_and_enter(page, "Alice", f"hello {tag}")
            type_and_enter(page, "Alice", HOSTILE)
            lines = regions["Bob"].locator(".chat-line")
            expect(lines.last).to_have_text(f"← Received message from peer: {HOSTILE}")
            bob = handles["Bob"].evaluate(REGION)
            assert (bob["connected"], bob["mark"]) == (True, "Bob")
            assert (bob["role"], bob["live"], bob["label"]) == ("log", "polite", "Bob's messages")
            assert bob["lines"][-2] == f"← Received message from peer: hello {tag}"
            assert bob["first"] == "first"
            assert bob["images"] == 0
            assert page.evaluate("() => window.wslibPwned") is None
            expect(regions["server"]).to_contain_text(f"Received message: {HOSTILE}")
            server = handles["server"].evaluate(REGION)
            assert (server["connected"], server["mark"]) == (True, "server")
            assert (server["live"], server["label"]) == ("polite", "Server log")
            assert f"Received message: hello {tag}" in server["lines"]

            # A burst past ROLL: every line once, in order, in the same element.
            run_cell(page, cells.nth(2))
            expect(lines.last).to_have_text("← Received message from peer: many 69")
            bob = handles["Bob"].evaluate(REGION)
            assert (bob["connected"], bob["mark"]) == (True, "Bob")
            assert bob["first"] == "first"
            many = [line for line in bob["lines"] if "many" in line]
            assert many == [f"← Received message from peer: many {n}" for n in range(70)]
            expect(regions["server"]).to_contain_text("Received message: many 69")
            assert handles["server"].evaluate(REGION)["mark"] == "server"

            # A second view of the same pane starts from everything the pane holds.
            run_cell(page, cells.nth(3))
            views = page.locator(".chat-pane-Bob [role=log]")
            expect(views).to_have_count(2)
            expect(views.nth(1).locator(".chat-line")).to_have_text(bob["lines"])
            assert handles["Bob"].evaluate(REGION)["mark"] == "Bob"

            # A pane that keeps three lines shows the newest three, trimming the others.
            run_cell(page, cells.nth(4))
            carol = pane(page, "Carol").locator("[role=log]")
            expect(carol.locator(".chat-line")).to_have_text(["· open"])
            carol.evaluate("region => { region.wslibMark = 'Carol'; }")
            run_cell(page, cells.nth(5))
            expect(carol.locator(".chat-line")).to_have_text(
                [f"← Received message from peer: burst {n}" for n in (2, 3, 4)]
            )
            assert carol.evaluate("region => region.wslibMark") == "Carol"
            learner.check_no_errors()
        except Exception:
            learner.failed("live-region")
            raise
        finally:
            learner.context.close()


def focused_in(page: Any, selector: str) -> bool:
    """Return whether the element that has the focus matches ``selector``."""
    found: bool = page.evaluate(
        "selector => document.activeElement?.matches(selector) ?? false", selector
    )
    return found


def test_leaving_a_box_keeps_its_text_and_enter_sends_it_once(browser: Any, tmp_path: Path) -> None:
    """Half-typed text stays in Bob's box, unsent, when the focus goes to Alice's box or to
    Send; Enter then sends it, once, and empties the box with the focus still in it."""
    root = scratch_notebook(tmp_path, "focus.ipynb", LIVE_CELLS[:1])
    with JupyterLab(root, tmp_path, LAB_SETTINGS) as lab:
        learner = Learner(browser, lab)
        page = learner.page
        try:
            learner.open(lab.url("lab/tree/focus.ipynb"))
            run_cell(page, page.locator(".jp-NotebookPanel .jp-Notebook .jp-Cell").first)
            bob_box = pane(page, "Bob").locator(".chat-input input")
            expect(bob_box).to_have_attribute("aria-label", "Message from Bob")
            expect(pane(page, "Bob").locator("button.chat-send")).to_have_attribute(
                "aria-label", "Send message from Bob"
            )
            bob_box.click()
            page.keyboard.type("half-typed")
            pane(page, "Alice").locator(".chat-input input").click()  # the focus leaves
            # Alice's message reaches Bob through the kernel after anything his box sent.
            tag = secrets.token_hex(3)
            type_and_enter(page, "Alice", f"after the click {tag}")
            expect(pane(page, "Bob").locator(".chat-line", has_text=tag)).to_be_visible()
            expect(bob_box).to_have_value("half-typed")

            bob_box.click()
            page.keyboard.press("Tab")  # on to Send: the focus leaves again
            assert focused_in(page, ".chat-pane-Bob button.chat-send")
            page.keyboard.press("Shift+Tab")
            assert focused_in(page, ".chat-pane-Bob .chat-input input")
            expect(bob_box).to_have_value("half-typed")
            page.keyboard.press("Enter")
            expect(bob_box).to_have_value("")
            assert focused_in(page, ".chat-pane-Bob .chat-input input")
            page.keyboard.type(f"then {tag}")
            page.keyboard.press("Enter")

            # Bob's connection delivers in order: a text sent on leaving would come first.
            alice_lines = pane(page, "Alice").locator(".chat-line")
            expect(alice_lines.filter(has_text=f"then {tag}")).to_have_count(1)
            expect(alice_lines.filter(has_text="half-typed")).to_have_text(
                ["← Received message from peer: half-typed"]
            )
            bob_sent = pane(page, "Bob").locator(".chat-line.chat-local")
            expect(bob_sent).to_have_text(["→ half-typed", f"→ then {tag}"])
            learner.check_no_errors()
        except Exception:
            learner.failed("leaving-a-box")
            raise
        finally:
            learner.context.close()
