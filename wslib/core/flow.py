"""Record what a running server does, as lanes and arrows, for a message-flow diagram.

``Flow`` is the model behind the kit's flow diagram: it never touches a socket. A server
given one (``Server(..., flow=Flow())``, or ``server.flow = Flow()`` at any time) calls it
at the points where it already acts, on the loop that serves:

1. ``opened(node, key, peer, route)`` when a connection opens, ``closed(...)`` when it ends,
   with the close code and which side closed;
2. ``relayed(node, sender, recipients, message)`` for each message of the article's relay,
   and ``relayed_in(node, recipients, payload)`` for one that another server relayed;
3. ``received(node, key, data)`` for each chat frame, ``delivered(node, recipients, event)``
   for each chat event it writes.

``node`` is the server (several servers can share one ``Flow``: notebook 07) and ``key``
names a connection; both only need to be hashable. Each call becomes one ``Step``: the
arrows it drew, in order. The ``Flow`` keeps the last ``keep`` steps and counts the rest,
keeps at most ``fan`` recipients of one step (and the number left out), and forgets closed
connections beyond ``closed_lanes``; so its memory stays bounded however busy the server
is. Text from peers is kept as sent, cut to ``MAX_LABEL`` characters; the views make it
printable and escape it (``wslib.core.flowchart``).

Not thread-safe: feed and read it on the loop that serves. ``snapshot()`` copies what a
view needs in one call.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from ..exceptions import ChatError
from .display import describe_binary
from .protocol import decode

__all__ = [
    "HUB",
    "MAX_LABEL",
    "Arrow",
    "Flow",
    "FlowSnapshot",
    "Kind",
    "Lane",
    "Step",
    "server_end",
]

#: What an arrow shows: a connection opening or closing, a chat or relay message, a private
#: message, a typing notice, another chat event (welcome, ack, joined, left, error), or the
#: hop between a server and the backplane that links servers.
Kind = Literal["open", "close", "message", "private", "typing", "notice", "hop"]

#: The end of an arrow at the backplane (Redis) between servers. Lanes count from 1;
#: server ``i`` is ``server_end(i)``, a negative number.
HUB = 0
#: How many characters of a peer's text a step keeps.
MAX_LABEL = 80


def server_end(index: int) -> int:
    """Return the arrow end of the server numbered ``index`` (0 for the first)."""
    return -1 - index


@dataclass(frozen=True, slots=True)
class Arrow:
    """One arrow from ``source`` to each of ``targets``, in order.

    Attributes:
        source: A lane id (1, 2, ...), ``HUB``, or ``server_end(i)``.
        targets: Where it goes, in the order the server wrote to them.
        kind: What it carries (see ``Kind``).
        label: Its text, as sent (not yet printable), at most ``MAX_LABEL`` characters.
        more: How many further recipients were left out of ``targets``.
        code: The close code, for a ``close`` arrow.
    """

    source: int
    targets: tuple[int, ...]
    kind: Kind
    label: str = ""
    more: int = 0
    code: int | None = None


@dataclass(frozen=True, slots=True)
class Step:
    """The arrows that one event at one server drew; ``seq`` counts steps from 1."""

    seq: int
    server: int
    arrows: tuple[Arrow, ...]


@dataclass(slots=True)
class Lane:
    """One connection: its id, server, address, route, name (once known) and state."""

    id: int
    server: int
    peer: str = ""
    route: str = ""
    name: str | None = None
    rank: int | None = None  # the order in which lanes got their names, for the layout
    closed: bool = False


@dataclass(frozen=True)
class FlowSnapshot:
    """A copy of what a view draws: steps, lanes, servers, and what was left out."""

    steps: tuple[Step, ...]
    lanes: Mapping[int, Lane]
    servers: tuple[str, ...]
    hub: str
    earlier: int  # steps recorded before ``steps[0]`` and not in ``steps``
    recorded: int = 0
    open_lanes: tuple[int, ...] = field(default=())


class Flow:
    """Keep a bounded record of what one or several servers send and to whom.

    Usage::

        flow = Flow()
        flow.opened("srv", "a", "127.0.0.1:5001"); flow.opened("srv", "b", "127.0.0.1:5002")
        flow.relayed("srv", "a", ["b"], "hi")
        step = flow.steps[-1]        # a -> server, then server -> b
        flow.name_peers({"127.0.0.1:5001": "Alice"})

    Args:
        keep: How many of the latest steps to keep.
        fan: How many recipients of one step to keep; the rest are counted.
        closed_lanes: How many closed connections to remember.
        hub: The name of what links several servers, as drawn.

    Raises:
        ValueError: If a bound is smaller than 1.
    """

    def __init__(
        self, keep: int = 500, *, fan: int = 32, closed_lanes: int = 200, hub: str = "backplane"
    ) -> None:
        if min(keep, fan, closed_lanes) < 1:
            raise ValueError("keep, fan and closed_lanes must be at least 1")
        self.keep, self.fan, self.hub = keep, fan, hub
        self._steps: deque[Step] = deque(maxlen=keep)
        self._recorded = 0
        self._servers: dict[Hashable, int] = {}
        self._server_names: list[str | None] = []
        self._ids: dict[Hashable, int] = {}  # open connection -> lane id
        self._lanes: dict[int, Lane] = {}
        self._closed: deque[int] = deque()
        self._closed_limit = closed_lanes
        self._next_lane = 1
        self._ranks: dict[str, int] = {}
        self._peer_names: dict[str, str] = {}
        self._listeners: list[Callable[[], None]] = []

    # -- reading ---------------------------------------------------------------------

    @property
    def steps(self) -> list[Step]:
        """Return the kept steps, oldest first."""
        return list(self._steps)

    @property
    def recorded(self) -> int:
        """Return how many steps were recorded in all, kept or not."""
        return self._recorded

    @property
    def lanes(self) -> list[Lane]:
        """Return the lanes remembered (open ones, and recently closed), in id order."""
        return [replace(lane) for lane in self._lanes.values()]

    @property
    def servers(self) -> list[str]:
        """Return the servers' names as drawn: ``server`` alone, else ``A``, ``B``, ..."""
        alone = len(self._server_names) == 1
        return [
            name or ("server" if alone else chr(ord("A") + index % 26))
            for index, name in enumerate(self._server_names)
        ]

    def snapshot(self, last: int | None = None, since: int = 0) -> FlowSnapshot:
        """Return a copy of the latest steps and the lanes they need.

        Args:
            last: Keep only this many of the latest steps (all kept ones by default).
            since: Keep only steps whose ``seq`` is greater than this.
        """
        steps = [step for step in self._steps if step.seq > since]
        if last is not None:
            steps = steps[-last:] if last > 0 else []
        first = steps[0].seq if steps else self._recorded + 1
        return FlowSnapshot(
            steps=tuple(steps),
            lanes={lane.id: replace(lane) for lane in self._lanes.values()},
            servers=tuple(self.servers),
            hub=self.hub,
            earlier=max(first - 1 - since, 0),
            recorded=self._recorded,
            open_lanes=tuple(self._ids.values()),
        )

    def listen(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call ``listener()`` after each new step; return a function that stops it.

        It runs on the loop that feeds the flow, in the middle of the server's work: it
        should only schedule a redraw, never draw.
        """
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    # -- names -----------------------------------------------------------------------

    def name_server(self, node: Hashable, name: str) -> None:
        """Draw ``node`` as ``name`` (by default: ``server``, or ``A``, ``B``, ...)."""
        self._server_names[self._server(node)] = name

    def name_peers(self, names: Mapping[str, str]) -> None:
        """Name the connections from these addresses (``"127.0.0.1:5001"``), now and later.

        The article's relay knows a client only by its address; a view that knows which
        client has which address (a chat pane) names its lane this way. A later name for
        the same address replaces the earlier one. Names are ranked in the order given.
        """
        self._peer_names.update(names)
        if len(self._peer_names) > 4 * self._closed_limit:  # old addresses are never reused soon
            for stale in list(self._peer_names)[: len(self._peer_names) // 2]:
                del self._peer_names[stale]
        for peer, name in names.items():
            for lane_id in self._ids.values():
                lane = self._lanes[lane_id]
                if lane.peer == peer and lane.name != name:
                    self._name(lane, name)

    # -- feeding: what a server calls ----------------------------------------------------

    def opened(
        self,
        node: Hashable,
        key: Hashable,
        peer: str = "",
        route: str = "relay",
        *,
        drawn: bool = True,
    ) -> None:
        """Record that connection ``key`` from ``peer`` opened on ``route``.

        Args:
            drawn: Draw its opening; ``False`` for one that was open before the flow began.
        """
        lane = self._new_lane(self._server(node), key, peer, route)
        if drawn:
            self._add(lane.server, Arrow(lane.id, (server_end(lane.server),), "open", route))

    def closed(
        self, node: Hashable, key: Hashable, code: int | None, *, by_server: bool | None = None
    ) -> None:
        """Record that ``key`` closed with ``code`` (``None``: no close frame, 1006).

        Args:
            by_server: ``True`` if the server closed first, ``False`` if the client did,
                ``None`` if neither sent a close frame.
        """
        server = self._server(node)
        lane_id = self._ids.pop(key, None)
        if lane_id is None:
            lane_id = self._new_lane(server, None, "", "").id
        lane = self._lanes[lane_id]
        lane.closed = True
        self._closed.append(lane_id)
        while len(self._closed) > self._closed_limit:
            self._lanes.pop(self._closed.popleft(), None)
        end = server_end(server)
        source, target = (end, lane_id) if by_server else (lane_id, end)
        code = 1006 if code is None else code
        self._add(server, Arrow(source, (target,), "close", "", code=code))

    def relayed(
        self,
        node: Hashable,
        sender: Hashable,
        recipients: Sequence[Hashable],
        message: str | bytes,
        *,
        hop: bool = False,
    ) -> None:
        """Record a relay message: ``sender`` to the server, the server to ``recipients``.

        Args:
            hop: The server also passed it to the backplane, for other servers' clients.
        """
        server = self._server(node)
        end = server_end(server)
        text = _label(message)
        arrows = [Arrow(self._lane_of(server, sender), (end,), "message", text)]
        targets, more = self._targets(server, recipients)
        if targets or more:
            arrows.append(Arrow(end, targets, "message", text, more))
        if hop:
            arrows.append(Arrow(end, (HUB,), "hop", text))
        self._add(server, *arrows)

    def relayed_in(
        self, node: Hashable, recipients: Sequence[Hashable], payload: str | bytes
    ) -> None:
        """Record a message another server relayed: backplane to server to ``recipients``."""
        server = self._server(node)
        end = server_end(server)
        text = _label(payload)
        targets, more = self._targets(server, recipients)
        arrows = [Arrow(HUB, (end,), "hop", text)]
        if targets or more:
            arrows.append(Arrow(end, targets, "message", text, more))
        self._add(server, *arrows)

    def received(
        self, node: Hashable, key: Hashable, data: str | bytes, *, hop: bool = False
    ) -> None:
        """Record one chat frame from ``key``; with ``hop``, the server passed it on."""
        server = self._server(node)
        lane = self._lane_of(server, key)
        kind, label, ok = _frame(data, self._lanes[lane].name)
        arrows = [Arrow(lane, (server_end(server),), kind, label)]
        if hop and ok:
            arrows.append(Arrow(server_end(server), (HUB,), "hop", label))
        self._add(server, *arrows)

    def delivered(
        self,
        node: Hashable,
        recipients: Sequence[Hashable],
        event: Mapping[str, object],
        *,
        hop: bool = False,
    ) -> None:
        """Record one chat event the server writes to ``recipients``.

        A ``welcome`` names its recipient's lane. With ``hop``, the event came through the
        backplane.
        """
        if not recipients:
            return
        server = self._server(node)
        end = server_end(server)
        targets, more = self._targets(server, recipients)
        if event.get("type") == "welcome":
            self._name(self._lanes[targets[0]], str(event.get("name")))
        kind, label = _event(event)
        arrows = [Arrow(HUB, (end,), "hop", label)] if hop and event.get("type") != "error" else []
        arrows.append(Arrow(end, targets, kind, label, more))
        self._add(server, *arrows)

    # -- internals -------------------------------------------------------------------

    def _add(self, server: int, *arrows: Arrow) -> None:
        self._recorded += 1
        self._steps.append(Step(self._recorded, server, arrows))
        for listener in self._listeners:
            listener()

    def _server(self, node: Hashable) -> int:
        index = self._servers.get(node)
        if index is None:
            index = self._servers[node] = len(self._servers)
            self._server_names.append(None)
        return index

    def _new_lane(self, server: int, key: Hashable, peer: str, route: str) -> Lane:
        lane = Lane(self._next_lane, server, peer, route)
        self._next_lane += 1
        self._lanes[lane.id] = lane
        if key is not None:
            self._ids[key] = lane.id
        if peer in self._peer_names:
            self._name(lane, self._peer_names[peer])
        return lane

    def _lane_of(self, server: int, key: Hashable) -> int:
        lane_id = self._ids.get(key)
        if lane_id is None:  # opened before this Flow was attached
            lane_id = self._new_lane(server, key, "", "").id
        return lane_id

    def _targets(self, server: int, recipients: Sequence[Hashable]) -> tuple[tuple[int, ...], int]:
        shown = recipients[: self.fan] if len(recipients) > self.fan else recipients
        try:  # the common case runs in C: every recipient is known
            targets = tuple(map(self._ids.__getitem__, shown))
        except KeyError:
            targets = tuple(self._lane_of(server, key) for key in shown)
        return targets, len(recipients) - len(shown)

    def _name(self, lane: Lane, name: str) -> None:
        if lane.name == name:
            return
        lane.name = name
        # A name keeps its first rank: a client that reconnects keeps its place.
        if len(self._ranks) >= 4 * self._closed_limit:  # bounded: start ranking afresh
            self._ranks.clear()
        lane.rank = self._ranks.setdefault(name, len(self._ranks))


def _label(message: str | bytes) -> str:
    return message[:MAX_LABEL] if isinstance(message, str) else describe_binary(message)


def _frame(data: str | bytes, name: str | None) -> tuple[Kind, str, bool]:
    """Return the kind and label of a chat frame a client sent, and whether it looks valid."""
    try:
        obj = decode(data)
    except ChatError:  # the room answers with an error event; here it is only a label
        return "notice", "a frame the chat refuses", False
    kind, text = obj.get("type"), str(obj.get("text", ""))[:MAX_LABEL]
    who = name or "?"
    if kind == "send" and obj.get("to") is not None:
        return "private", f"{who} to {str(obj['to'])[:MAX_LABEL]}: {text}", True
    if kind == "send":
        return "message", f"{who}: {text}", True
    if kind == "typing":
        return "typing", f"{who} is typing", True
    if kind == "join":
        resume = ", resuming" if obj.get("token") is not None else ""
        return "notice", f"join as {str(obj.get('name'))[:MAX_LABEL]}{resume}", True
    return "notice", str(kind)[:MAX_LABEL], False


def _event(event: Mapping[str, object]) -> tuple[Kind, str]:
    """Return the kind and label of a chat event the server sends."""
    kind = event.get("type")
    name = str(event.get("name"))[:MAX_LABEL]
    if kind == "message":
        text = str(event.get("text"))[:MAX_LABEL]
        if event.get("to") is not None:
            return "private", f"{name} to {str(event['to'])[:MAX_LABEL]}: {text}"
        return "message", f"{name}: {text}"
    if kind == "typing":
        return "typing", f"{name} is typing"
    if kind in ("joined", "left", "welcome"):
        return "notice", f"{kind} {name}"
    if kind == "error":
        return "notice", f"error {str(event.get('code'))[:MAX_LABEL]}"
    return "notice", str(kind)[:MAX_LABEL]
