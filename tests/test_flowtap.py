"""Tests for wslib.server.flowtap: a real server feeding a Flow, on sockets on port 0."""

from __future__ import annotations

import asyncio
import json
import socket

from rawclient import RawClient, until
from support import TIMEOUT, recv, recv_json, run_async
from websockets.asyncio.client import ClientConnection, connect

from wslib import LocalBackplane, Server
from wslib.core.flow import HUB, Arrow, Flow, server_end
from wslib.core.flowchart import layout, render_text
from wslib.core.settings import Limits

SERVER = server_end(0)
KIB = 1024


def lane_of(flow: Flow, client: ClientConnection) -> int:
    """Return the lane id of ``client``, found by its address as the server saw it."""
    host, port = client.local_address[:2]
    (lane,) = [lane.id for lane in flow.lanes if lane.peer == f"{host}:{port}"]
    return lane


def kinds(flow: Flow) -> list[str]:
    return [arrow.kind for step in flow.steps for arrow in step.arrows]


async def join(url: str, name: str) -> ClientConnection:
    """Open a chat connection, join as ``name`` and read the welcome."""
    client = await connect(url)
    await client.send(json.dumps({"type": "join", "name": name}))
    assert (await recv_json(client))["type"] == "welcome"
    return client


def test_a_server_has_no_flow_unless_given_one() -> None:
    """Recording is off by default: Server.flow is None."""
    assert Server(port=0).flow is None


def test_the_relay_records_each_message_from_its_sender_to_every_other_client() -> None:
    """Alice's message is one arrow to the server and one to Bob and to Carol, none back."""
    flow = Flow()

    async def body() -> None:
        async with (
            Server(port=0, flow=flow) as server,
            connect(server.url) as alice,
            connect(server.url) as bob,
            connect(server.url) as carol,
        ):
            await until(lambda: len(flow.lanes) == 3)
            await alice.send("hi both")
            assert await recv(bob) == "Received message from peer: hi both"
            assert await recv(carol) == "Received message from peer: hi both"
            a, b, c = (lane_of(flow, client) for client in (alice, bob, carol))
            assert flow.steps[-1].arrows == (
                Arrow(a, (SERVER,), "message", "hi both"),
                Arrow(SERVER, (b, c), "message", "hi both"),
            )
            assert {lane.route for lane in flow.lanes} == {"relay"}
            await bob.close()
            await until(lambda: flow.steps[-1].arrows[0].kind == "close")
            assert flow.steps[-1].arrows == (Arrow(b, (SERVER,), "close", code=1000),)

    run_async(body())
    assert kinds(flow).count("open") == 3
    closes = [step.arrows[0] for step in flow.steps if step.arrows[0].kind == "close"]
    assert [arrow.code for arrow in closes] == [1000] * 3  # each client closed itself
    assert SERVER not in {arrow.source for arrow in closes}


def test_a_message_too_big_closes_its_sender_with_1009_drawn_from_the_server() -> None:
    """The oversized message reaches no one; the close arrow says 1009."""
    flow = Flow()

    async def body() -> None:
        limits = Limits(max_size=1024, max_fragment=1024)
        async with Server(port=0, flow=flow, limits=limits) as server:
            async with connect(server.url) as big:
                await big.send("y" * 2048)
                await big.wait_closed()
                lane = lane_of(flow, big)
            await until(lambda: kinds(flow)[-1] == "close")
            assert flow.steps[-1].arrows == (Arrow(SERVER, (lane,), "close", code=1009),)
            assert "message" not in kinds(flow)

    run_async(body())


def test_a_stuck_reader_is_dropped_with_1013_and_then_left_out_of_the_arrows() -> None:
    """Once the server drops a client that stopped reading, arrows go only to the others."""
    flow = Flow(keep=1000)
    count, size = 120, 16 * KIB

    async def body() -> None:
        limits = Limits(write_limit=64 * KIB, drop_grace=TIMEOUT / 10)
        async with Server(port=0, flow=flow, limits=limits) as server:
            stuck = await RawClient.connect(server.port, rcvbuf=4 * KIB, limit=KIB)
            try:
                async with connect(server.url) as alice, connect(server.url) as bob:
                    await until(lambda: len(flow.lanes) == 3)
                    slow_network(server, stuck.writer.get_extra_info("sockname")[1])
                    reader = asyncio.create_task(read(bob, count))
                    for i in range(count):
                        await alice.send(f"{i:04d}" + "x" * size)
                    await asyncio.wait_for(reader, TIMEOUT)
                    await until(lambda: "close" in kinds(flow))
                    a, b = lane_of(flow, alice), lane_of(flow, bob)
            finally:
                await stuck.close()
            arrows = [arrow for step in flow.steps for arrow in step.arrows]
            (dropped,) = [arrow for arrow in arrows if arrow.code == 1013]
            assert dropped.source == SERVER
            (gone,) = dropped.targets
            relayed = [step.arrows[1].targets for step in flow.steps if len(step.arrows) == 2]
            assert len(relayed) == count
            assert relayed[0] == (b, gone) or relayed[0] == (gone, b)
            assert relayed[-1] == (b,)  # after the drop, Bob alone
            assert all(a not in targets for targets in relayed)

    run_async(body())


def slow_network(server: Server, client_port: int) -> None:
    """Shrink the server's send buffer for the client at ``client_port``, as on a slow link.

    Linux grows loopback buffers to megabytes; with 4 KiB the backlog builds up at once.
    """
    assert server._server is not None
    for connection in server._server.connections:
        if connection.remote_address[1] == client_port:
            sock = connection.transport.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 * KIB)


async def read(connection: ClientConnection, count: int) -> None:
    for _ in range(count):
        await connection.recv()


def test_the_chat_names_lanes_and_tells_private_messages_and_typing_apart() -> None:
    """A welcome names the lane; a private message reaches two lanes, typing only the others."""
    flow = Flow()

    async def body() -> None:
        async with Server(port=0, flow=flow) as server:
            ann, ben, cy = [await join(server.chat_url, name) for name in ("Ann", "Ben", "Cy")]
            names = {lane.name: lane.id for lane in flow.lanes}
            assert set(names) == {"Ann", "Ben", "Cy"}
            await cy.send(json.dumps({"type": "typing"}))
            await cy.send(json.dumps({"type": "send", "cid": "1", "text": "lunch?", "to": "Ann"}))
            while (await recv_json(ann))["type"] != "message":
                pass
            arrows = [arrow for step in flow.steps[-4:] for arrow in step.arrows]
            assert (
                arrows
                == [
                    Arrow(names["Cy"], (SERVER,), "typing", "Cy is typing"),
                    Arrow(SERVER, (names["Ann"], names["Ben"]), "typing", "Cy is typing"),
                    Arrow(names["Cy"], (SERVER,), "private", "Cy to Ann: lunch?"),
                    Arrow(SERVER, (names["Cy"],), "notice", "ack"),
                    Arrow(SERVER, (names["Ann"], names["Cy"]), "private", "Cy to Ann: lunch?"),
                ][-len(arrows) :]
            )
            for client in (ann, ben, cy):
                await client.close()

    run_async(body())


def test_a_flow_set_later_takes_the_open_connections_as_lanes() -> None:
    """Connections open before server.flow was set become lanes without an open arrow."""

    async def body() -> None:
        async with (
            Server(port=0) as server,
            connect(server.url) as alice,
            connect(server.url) as bob,
        ):
            await alice.send("before")
            await recv(bob)
            flow = server.flow = Flow()
            assert len(flow.lanes) == 2
            await alice.send("after")
            await recv(bob)
            assert kinds(flow) == ["message", "message"]
            assert flow.steps[0].arrows[1].targets == (lane_of(flow, bob),)
            server.flow = None
            await alice.send("not recorded")
            await recv(bob)
            assert flow.recorded == 1

    run_async(body())


def test_two_linked_servers_draw_the_hop_through_the_backplane() -> None:
    """A relay message from server A's client reaches server B's through the hub."""
    flow = Flow()
    hub = LocalBackplane()

    async def body() -> None:
        async with (
            Server(port=0, flow=flow, backplane=hub) as a,
            Server(port=0, flow=flow, backplane=hub) as b,
            connect(a.url) as ann,
            connect(b.url) as ben,
        ):
            await until(lambda: len(flow.lanes) == 2)
            await ann.send("across")
            assert await recv(ben) == "Received message from peer: across"
            server_b = server_end(1)
            ann_lane, ben_lane = lane_of(flow, ann), lane_of(flow, ben)
            assert [step.arrows for step in flow.steps[-2:]] == [
                (
                    Arrow(ann_lane, (SERVER,), "message", "across"),
                    Arrow(SERVER, (HUB,), "hop", "across"),
                ),
                (
                    Arrow(HUB, (server_b,), "hop", "Received message from peer: across"),
                    Arrow(server_b, (ben_lane,), "message", "Received message from peer: across"),
                ),
            ]
            text = render_text(layout(flow.snapshot(last=2)))
            assert text.splitlines()[1].split() == ["#1", "A", "backplane", "B", "#2"] or (
                text.splitlines()[1].split() == ["#2", "A", "backplane", "B", "#1"]
            )

    run_async(body())


def test_a_dropped_connection_is_recorded_as_1006() -> None:
    """A client that vanishes without a close frame gets a close arrow with 1006."""
    flow = Flow()

    async def body() -> None:
        async with Server(port=0, flow=flow) as server:
            raw = await RawClient.connect(server.port)
            await until(lambda: len(flow.lanes) == 1)
            raw.writer.transport.abort()
            await until(lambda: kinds(flow)[-1] == "close")
            assert flow.steps[-1].arrows[0].code == 1006

    run_async(body())
