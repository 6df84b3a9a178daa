"""Tests for wslib.core.flowchart: the layout of a flow diagram and its plain-text drawing."""

from __future__ import annotations

from wslib.core.flow import Flow
from wslib.core.flowchart import layout, render_text

HOSTILE = "<img src=x onerror=alert(1)>"


def fan_out() -> Flow:
    """Return a flow in which Alice's message went to Bob and Carol."""
    flow = Flow()
    for n, key in enumerate(("alice", "bob", "carol"), start=1):
        flow.opened("srv", key, f"127.0.0.1:{5000 + n}")
    flow.name_peers({"127.0.0.1:5001": "Alice", "127.0.0.1:5002": "Bob", "127.0.0.1:5003": "Carol"})
    flow.relayed("srv", "alice", ["bob", "carol"], "Hi Bob and Carol!")
    return flow


def test_one_column_per_lane_after_the_server_and_one_row_per_arrow() -> None:
    """A fan-out to two draws three arrows: Alice to the server, then to Bob and to Carol."""
    chart = layout(fan_out().snapshot(last=1))
    assert [column.label for column in chart.columns] == ["server", "Alice", "Bob", "Carol"]
    assert chart.arrows == 3
    assert [(row.source, row.target) for row in chart.rows] == [(1, 0), (0, 2), (0, 3)]
    assert chart.earlier == 3


def test_the_text_shows_the_fan_out_and_no_arrow_back_to_the_sender() -> None:
    """The text has the header, an arrow into the server and one to each other lane."""
    text = render_text(layout(fan_out().snapshot(last=1)))
    assert text == "\n".join(
        [
            "+ 3 earlier steps not shown",
            "  server      Alice       Bob       Carol",
            "     │◄─────────┤          │          │       Hi Bob and Carol!",
            "     ├────────────────────►│          │",
            "     ├───────────────────────────────►│",
        ]
    )
    assert "├─────────►│" not in text  # nothing goes from the server to Alice


def test_a_lane_starts_at_its_open_and_ends_at_its_close() -> None:
    """Carol's line begins at her open arrow and stops at her close, which shows the code."""
    flow = fan_out()
    flow.closed("srv", "carol", 1013, by_server=True)
    flow.relayed("srv", "alice", ["bob"], "still here")
    chart = layout(flow.snapshot())
    carol = [column.label for column in chart.columns].index("Carol")
    assert chart.lifelines[carol] == (2, 6)
    lines = render_text(chart).splitlines()
    assert lines[7].endswith("►│       close 1013 (too slow, try again later)")
    assert lines[-1] == "     ├────────────────────►│"  # Bob still gets them; Carol's line ended


def test_peer_text_goes_through_printable() -> None:
    """Control and bidi characters from a peer are written as escapes in the text."""
    flow = fan_out()
    flow.name_peers({"127.0.0.1:5002": "evil\u202egnp.exe"})
    flow.relayed("srv", "alice", ["bob"], "\x1b[2J" + HOSTILE)
    text = render_text(layout(flow.snapshot()))
    assert "evil\\u202e" in text
    assert "\\x1b[2J<img src=x onerror=alert(1)>" in text
    assert "\x1b" not in text
    assert "\u202e" not in text


def test_lanes_past_the_limit_share_one_column_that_counts_them() -> None:
    """With more lanes than max_lanes, the rest fold into '+N' and a fan-out row says how many."""
    flow = Flow(fan=8)
    for n in range(20):
        flow.opened("srv", n)
    flow.relayed("srv", 0, list(range(1, 20)), "to all")
    chart = layout(flow.snapshot(last=1), max_lanes=3)
    assert [column.label for column in chart.columns] == ["server", "#1", "#2", "#3", "+17"]
    assert chart.folded == 17
    # Lanes 2 and 3 get their own arrow; the other 17 recipients (6 kept + 11 left out) one.
    assert chart.arrows == 4
    assert chart.rows[-1].label == "+ 17 more"


def test_max_rows_cuts_whole_steps_and_counts_them() -> None:
    """Only whole steps are drawn, newest last; the first line counts the rest, with commas."""
    flow = fan_out()
    for n in range(1_500):
        flow.relayed("srv", "bob", ["alice", "carol"], f"n{n}")
    chart = layout(flow.snapshot(), max_rows=7)
    assert chart.arrows == 6
    assert {row.seq for row in chart.rows} == {1_503, 1_504}
    assert render_text(chart).splitlines()[0] == "+ 1,502 earlier steps not shown"


def test_two_servers_stand_either_side_of_the_backplane() -> None:
    """Cluster layout: A's lanes, A, Redis, B, B's lanes; a hop is drawn through Redis."""
    flow = Flow(hub="Redis")
    flow.opened("a", "ann", "127.0.0.1:5001", "chat")
    flow.opened("b", "ben", "127.0.0.1:5002", "chat")
    flow.name_peers({"127.0.0.1:5001": "Ann", "127.0.0.1:5002": "Ben"})
    flow.received("a", "ann", '{"type": "send", "cid": "1", "text": "hi"}', hop=True)
    flow.delivered("b", ["ben"], {"type": "message", "name": "Ann", "text": "hi"}, hop=True)
    chart = layout(flow.snapshot(last=2))
    assert [column.label for column in chart.columns] == ["Ann", "A", "Redis", "B", "Ben"]
    assert [(row.source, row.target, row.kind) for row in chart.rows] == [
        (0, 1, "message"),
        (1, 2, "hop"),
        (2, 3, "hop"),
        (3, 4, "message"),
    ]
    assert [row.label for row in chart.rows] == ["Ann: hi", "via Redis", "via Redis", "Ann: hi"]


def test_typing_and_private_messages_are_drawn_with_their_own_lines() -> None:
    """A typing notice is dotted and a private message doubled, unlike a message."""
    flow = Flow()
    flow.opened("srv", 1, route="chat")
    flow.opened("srv", 2, route="chat")
    flow.delivered("srv", [1], {"type": "welcome", "name": "Cy"})
    flow.delivered("srv", [2], {"type": "welcome", "name": "Ann"})
    flow.delivered("srv", [1], {"type": "typing", "name": "Ann"})
    flow.delivered("srv", [2], {"type": "message", "name": "Cy", "text": "lunch?", "to": "Ann"})
    lines = render_text(layout(flow.snapshot(last=2))).splitlines()
    assert "·►" in lines[-2]
    assert "Ann is typing" in lines[-2]
    assert "═►" in lines[-1]
    assert "Cy to Ann: lunch?" in lines[-1]


def test_an_empty_flow_draws_just_the_server() -> None:
    """With nothing recorded, the chart has the server column and no arrow."""
    chart = layout(Flow().snapshot())
    assert [column.label for column in chart.columns] == ["server"]
    assert chart.arrows == 0
    assert render_text(chart) == "  server"


def test_a_client_that_reconnects_under_its_name_keeps_its_column() -> None:
    """Bob's new connection is drawn in Bob's column, after his old one's close."""
    flow = fan_out()
    flow.closed("srv", "bob", None)
    flow.opened("srv", "bob again", "127.0.0.1:6002")
    flow.name_peers({"127.0.0.1:6002": "Bob"})
    flow.relayed("srv", "alice", ["bob again", "carol"], "welcome back")
    chart = layout(flow.snapshot(last=3))
    assert [column.label for column in chart.columns] == ["server", "Alice", "Bob", "Carol"]
    assert [(row.kind, row.source, row.target) for row in chart.rows] == [
        ("close", 2, 0),
        ("open", 2, 0),
        ("message", 1, 0),
        ("message", 0, 2),
        ("message", 0, 3),
    ]
    assert chart.lifelines[2] == (0, 4)
