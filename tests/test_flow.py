"""Tests for wslib.core.flow: the bounded recorder behind the flow diagram, with no sockets."""

from __future__ import annotations

import sys

import pytest

from wslib.core.flow import HUB, MAX_LABEL, Arrow, Flow, server_end

SERVER = server_end(0)


def three_lanes() -> Flow:
    """Return a flow where alice, bob and carol (lanes 1, 2, 3) have opened, named by address."""
    flow = Flow()
    for n, key in enumerate(("alice", "bob", "carol"), start=1):
        flow.opened("srv", key, f"127.0.0.1:{5000 + n}")
    flow.name_peers({"127.0.0.1:5001": "Alice", "127.0.0.1:5002": "Bob", "127.0.0.1:5003": "Carol"})
    return flow


def test_a_relayed_message_is_one_arrow_in_and_one_out_to_every_recipient() -> None:
    """The sender's arrow reaches the server, which sends to each recipient in order."""
    flow = three_lanes()
    flow.relayed("srv", "alice", ["bob", "carol"], "hi")
    step = flow.steps[-1]
    assert step.arrows == (
        Arrow(1, (SERVER,), "message", "hi"),
        Arrow(SERVER, (2, 3), "message", "hi"),
    )
    assert 1 not in step.arrows[1].targets


def test_opening_and_closing_draw_arrows_with_the_code_and_the_side_that_closed() -> None:
    """An open goes from the lane to the server; a close goes from the side that closed."""
    flow = three_lanes()
    flow.closed("srv", "carol", 1013, by_server=True)
    flow.closed("srv", "bob", 1000, by_server=False)
    flow.closed("srv", "alice", None)
    opens, closes = flow.steps[:3], flow.steps[3:]
    assert [step.arrows[0] for step in opens] == [
        Arrow(n, (SERVER,), "open", "relay") for n in (1, 2, 3)
    ]
    assert [step.arrows[0] for step in closes] == [
        Arrow(SERVER, (3,), "close", code=1013),
        Arrow(2, (SERVER,), "close", code=1000),
        Arrow(1, (SERVER,), "close", code=1006),
    ]
    assert all(lane.closed for lane in flow.lanes)


def test_lanes_are_named_by_address_now_and_when_they_open_later() -> None:
    """name_peers names open lanes at once and a lane that opens from that address later."""
    flow = three_lanes()
    flow.name_peers({"127.0.0.1:6000": "Dave"})
    flow.opened("srv", "dave", "127.0.0.1:6000")
    names = {lane.id: lane.name for lane in flow.lanes}
    assert names == {1: "Alice", 2: "Bob", 3: "Carol", 4: "Dave"}
    assert [lane.rank for lane in flow.lanes] == [0, 1, 2, 3]


def test_chat_frames_and_events_have_kinds_and_a_welcome_names_the_lane() -> None:
    """Messages, private messages, typing and notices are told apart; welcome gives the name."""
    flow = Flow()
    flow.opened("srv", 7, "127.0.0.1:5001", "chat")
    flow.opened("srv", 8, "127.0.0.1:5002", "chat")
    flow.received("srv", 7, '{"type": "join", "name": "Ann"}')
    flow.delivered("srv", [7], {"type": "welcome", "name": "Ann"})
    flow.received("srv", 7, '{"type": "typing"}')
    flow.delivered("srv", [8], {"type": "typing", "name": "Ann"})
    flow.received("srv", 7, '{"type": "send", "cid": "1", "text": "psst", "to": "Ben"}')
    flow.delivered("srv", [7, 8], {"type": "message", "name": "Ann", "text": "psst", "to": "Ben"})
    flow.received("srv", 7, "not json")
    kinds = [(arrow.kind, arrow.label) for step in flow.steps[2:] for arrow in step.arrows]
    assert kinds == [
        ("notice", "join as Ann"),
        ("notice", "welcome Ann"),
        ("typing", "Ann is typing"),
        ("typing", "Ann is typing"),
        ("private", "Ann to Ben: psst"),
        ("private", "Ann to Ben: psst"),
        ("notice", "a frame the chat refuses"),
    ]
    assert flow.lanes[0].name == "Ann"


def test_nothing_delivered_to_no_one_is_recorded() -> None:
    """A chat event for no connection of this server adds no step."""
    flow = Flow()
    flow.delivered("srv", [], {"type": "message", "name": "Ann", "text": "x"})
    assert flow.recorded == 0


def test_two_servers_and_the_hop_through_the_backplane() -> None:
    """A relay with hop goes on to the hub; the other server takes it from the hub to its lane."""
    flow = Flow()
    flow.opened("a", "ann", "127.0.0.1:5001")
    flow.opened("b", "ben", "127.0.0.1:5002")
    flow.relayed("a", "ann", [], "across", hop=True)
    flow.relayed_in("b", ["ben"], "across")
    flow.received("a", "ann", '{"type": "send", "cid": "1", "text": "hi"}', hop=True)
    flow.delivered("b", ["ben"], {"type": "message", "name": "?", "text": "hi"}, hop=True)
    flow.delivered("b", ["ben"], {"type": "error", "code": "x"}, hop=True)
    b = server_end(1)
    assert [step.arrows for step in flow.steps[2:]] == [
        (Arrow(1, (SERVER,), "message", "across"), Arrow(SERVER, (HUB,), "hop", "across")),
        (Arrow(HUB, (b,), "hop", "across"), Arrow(b, (2,), "message", "across")),
        (Arrow(1, (SERVER,), "message", "?: hi"), Arrow(SERVER, (HUB,), "hop", "?: hi")),
        (Arrow(HUB, (b,), "hop", "?: hi"), Arrow(b, (2,), "message", "?: hi")),
        (Arrow(b, (2,), "notice", "error x"),),
    ]
    assert flow.servers == ["A", "B"]
    flow.name_server("a", "server A")
    assert flow.servers == ["server A", "B"]


def test_connections_from_before_the_flow_was_attached_get_lanes() -> None:
    """A sender or recipient the flow never saw open gets a lane of its own, once."""
    flow = Flow()
    flow.relayed("srv", "x", ["y", "z"], "hello")
    flow.relayed("srv", "y", ["x", "z"], "again")
    assert [lane.id for lane in flow.lanes] == [1, 2, 3]
    assert flow.steps[-1].arrows[1].targets == (1, 3)


def test_labels_are_cut_and_binary_is_described() -> None:
    """A long text keeps MAX_LABEL characters; a binary message is shown by its size."""
    flow = three_lanes()
    flow.relayed("srv", "alice", ["bob"], "x" * 10_000)
    flow.relayed("srv", "alice", ["bob"], b"\x00\x01")
    assert len(flow.steps[-2].arrows[0].label) == MAX_LABEL
    assert flow.steps[-1].arrows[0].label == "<2 bytes>"


def test_under_load_only_the_last_steps_and_some_recipients_are_kept() -> None:
    """keep bounds the steps, fan bounds the recipients of one step; the rest are counted."""
    flow = Flow(keep=10, fan=4)
    keys = [f"c{n}" for n in range(100)]
    for key in keys:
        flow.opened("srv", key)
    for n in range(1_000):
        flow.relayed("srv", keys[0], keys[1:], f"message {n}")
    assert flow.recorded == 1_100
    assert len(flow.steps) == 10
    snapshot = flow.snapshot()
    assert snapshot.earlier == 1_090
    out = flow.steps[-1].arrows[1]
    assert (len(out.targets), out.more) == (4, 95)


def test_memory_stays_bounded_however_many_connections_come_and_go() -> None:
    """Closed lanes beyond closed_lanes are forgotten, and so are the keys of closed ones."""
    flow = Flow(keep=50, closed_lanes=20)
    for n in range(5_000):
        flow.opened("srv", n, f"127.0.0.1:{n}")
        flow.relayed("srv", n, [], "hi")
        flow.closed("srv", n, 1000, by_server=False)
    assert len(flow.lanes) == 20
    assert len(flow._ids) == 0
    assert sys.getsizeof(flow._steps) < 10_000


def test_a_snapshot_can_take_the_last_steps_or_those_since_a_seq() -> None:
    """snapshot(last=) and snapshot(since=) pick steps and say how many came before."""
    flow = three_lanes()
    for n in range(5):
        flow.relayed("srv", "alice", ["bob"], str(n))
    assert [step.seq for step in flow.snapshot(last=2).steps] == [7, 8]
    assert flow.snapshot(last=2).earlier == 6
    since = flow.snapshot(since=6)
    assert [step.seq for step in since.steps] == [7, 8]
    assert since.earlier == 0
    assert flow.snapshot(last=0).steps == ()


def test_bounds_must_be_positive() -> None:
    """A Flow that could keep nothing is refused."""
    with pytest.raises(ValueError, match="at least 1"):
        Flow(keep=0)
