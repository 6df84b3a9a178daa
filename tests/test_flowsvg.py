"""Tests for wslib.core.flowsvg: the flow diagram as SVG, parsed back as XML."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from wslib.core.flow import Flow
from wslib.core.flowchart import layout
from wslib.core.flowsvg import COLOURS, render_svg

SVG = "{http://www.w3.org/2000/svg}"
HOSTILE = "<img src=x onerror=alert(1)>"


def parse(flow: Flow, **options: int) -> ET.Element:
    """Return the SVG of ``flow`` parsed as XML (which fails on anything unescaped)."""
    return ET.fromstring(render_svg(layout(flow.snapshot(), **options)))


def arrows(svg: ET.Element) -> list[ET.Element]:
    return [line for line in svg.iter(f"{SVG}line") if "arrow" in line.get("class", "").split()]


def fan_out() -> Flow:
    flow = Flow()
    for n, key in enumerate(("alice", "bob", "carol"), start=1):
        flow.opened("srv", key, f"127.0.0.1:{5000 + n}")
    flow.name_peers({"127.0.0.1:5001": "Alice", "127.0.0.1:5002": "Bob", "127.0.0.1:5003": "Carol"})
    flow.relayed("srv", "alice", ["bob", "carol"], "Hi Bob and Carol!")
    return flow


def test_each_arrow_is_one_line_element_with_its_kind_and_step() -> None:
    """Three opens and a fan-out to two make six arrows, the last three of step 4."""
    svg = parse(fan_out())
    drawn = arrows(svg)
    assert [line.get("class") for line in drawn] == ["arrow open"] * 3 + ["arrow message"] * 3
    assert [line.get("data-seq") for line in drawn[3:]] == ["4", "4", "4"]
    assert {line.get("stroke") for line in drawn[3:]} == {COLOURS["message"]}


def test_columns_are_labelled_and_arrows_run_between_their_lines() -> None:
    """Each lane gets a labelled column; the fan-out starts at the server's x."""
    svg = parse(fan_out())
    labels = {
        text.text: float(text.get("x", "0"))
        for text in svg.iter(f"{SVG}text")
        if "column" in text.get("class", "")
    }
    assert list(labels) == ["server", "Alice", "Bob", "Carol"]
    inbound, to_bob, to_carol = arrows(svg)[3:]
    assert float(inbound.get("x1", "0")) == labels["Alice"]
    assert float(to_bob.get("x1", "0")) == float(to_carol.get("x1", "0")) == labels["server"]
    assert float(to_bob.get("x2", "0")) < labels["Bob"] < float(to_carol.get("x2", "0"))


def test_hostile_text_is_drawn_as_text() -> None:
    """A name or message holding markup is escaped: the SVG has no img element, only text."""
    flow = fan_out()
    flow.name_peers({"127.0.0.1:5002": HOSTILE})
    flow.relayed("srv", "bob", ["alice"], HOSTILE + "\x1b[2J")
    document = render_svg(layout(flow.snapshot()))
    assert "<img" not in document
    svg = ET.fromstring(document)
    assert not list(svg.iter("img"))
    assert not list(svg.iter(f"{SVG}img"))
    texts = [text.text for text in svg.iter(f"{SVG}text")]
    assert HOSTILE[:11] + "…" in texts  # the column label, cut to fit
    assert HOSTILE + "\\x1b[2J" in texts


def test_the_summary_says_how_many_steps_are_not_drawn() -> None:
    """Under load the SVG draws the last rows and says how many steps came before."""
    flow = fan_out()
    for n in range(1_246):
        flow.relayed("srv", "alice", ["bob", "carol"], str(n))
    svg = parse(flow, max_rows=9)
    assert len(arrows(svg)) == 9
    earlier = [text.text for text in svg.iter(f"{SVG}text") if text.get("class") == "earlier"]
    assert earlier == ["+ 1,247 earlier steps not shown"]
