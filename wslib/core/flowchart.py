"""Lay a ``Flow`` out as a sequence diagram, and draw it as plain text.

The layout is shared by every view (this text, the SVG of ``wslib.core.flowsvg``, the
notebook widget): one column per connection (a *lane*), per server and for the backplane
between servers; one row per arrow, oldest at the top. A step that reaches several
recipients draws one arrow to each, in the order the server wrote to them, so a sender's
missing arrow stands out. With one server, the server is the first column and its lanes
follow; with several, the first server's lanes come before it, then the backplane, then
each other server followed by its own lanes::

    server    Alice     Bob       Carol
      │◄────────┤         │         │   Hi Bob and Carol!
      ├─────────────────►│         │
      ├───────────────────────────►│

A client that reconnects under the same name (a pane, a chat client) keeps its column: the
old connection's close and the new one's open are drawn in it. Bounds: at most
``max_lanes`` columns of lanes per server (named ones first); the other lanes share one
``+N`` column. At most ``max_rows`` rows are drawn, whole steps from the
newest back; the steps left out are counted in the first line. Every text a peer could have
chosen passes through ``wslib.core.display.printable`` before it is drawn.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .display import printable
from .flow import HUB, Arrow, FlowSnapshot, Kind, Lane, server_end

__all__ = ["CLOSE_NAMES", "Chart", "Column", "Row", "layout", "render_text"]

#: A short name for each close code a diagram is likely to show.
CLOSE_NAMES = {
    1000: "normal",
    1001: "going away",
    1006: "dropped, no close frame",
    1008: "policy violation",
    1009: "message too big",
    1011: "server error",
    1013: "too slow, try again later",
    4000: "replaced by a new server",
    4001: "name taken over",
}

Role = Literal["lane", "server", "hub", "more"]
_MORE = -1000  # the "+N" column of server i is _MORE - i


@dataclass(frozen=True, slots=True)
class Column:
    """One vertical line of the diagram: a lane, a server, the backplane, or ``+N`` lanes."""

    end: int
    label: str
    role: Role


@dataclass(frozen=True, slots=True)
class Row:
    """One arrow, from column ``source`` to column ``target``, with its annotation."""

    seq: int
    source: int
    target: int
    kind: Kind
    label: str
    code: int | None = None


@dataclass(frozen=True, slots=True)
class Chart:
    """A laid-out diagram: columns, rows, and how long each column's line runs.

    Attributes:
        lifelines: For each column, the first and the last row its line crosses; a lane
            starts at its ``open`` row and ends at its ``close`` row when those are shown.
        earlier: How many steps happened before the first row and are not drawn.
        folded: How many lanes share the ``+N`` columns.
    """

    columns: tuple[Column, ...]
    rows: tuple[Row, ...]
    lifelines: tuple[tuple[int, int], ...]
    earlier: int
    folded: int

    @property
    def arrows(self) -> int:
        """Return how many arrows the chart draws."""
        return len(self.rows)

    @property
    def summary(self) -> str:
        """Return the line that counts the steps not drawn, such as ``+ 1,243 earlier steps``."""
        if not self.earlier:
            return ""
        return f"+ {self.earlier:,} earlier step{'' if self.earlier == 1 else 's'} not shown"


def layout(snapshot: FlowSnapshot, *, max_lanes: int = 6, max_rows: int | None = None) -> Chart:
    """Lay out ``snapshot``: pick the columns, cut whole steps to fit ``max_rows``.

    Args:
        snapshot: What a ``Flow`` recorded (``flow.snapshot()``).
        max_lanes: How many lanes of each server get a column of their own.
        max_rows: How many arrows to draw at most; ``None`` for all.
    """
    steps = list(snapshot.steps)
    earlier = snapshot.earlier
    if max_rows is not None:
        kept, rows = 0, 0
        for step in reversed(steps):
            size = sum(max(len(arrow.targets), 1) for arrow in step.arrows)
            if kept and rows + size > max_rows:
                break
            kept, rows = kept + 1, rows + size
        earlier += len(steps) - kept
        steps = steps[len(steps) - kept :]
    arrows = [(step.seq, arrow) for step in steps for arrow in step.arrows]
    used = {end for _, arrow in arrows for end in (arrow.source, *arrow.targets)}
    lanes = [
        lane
        for lane in snapshot.lanes.values()
        if lane.id in used or lane.id in snapshot.open_lanes
    ]
    lanes.sort(key=lambda lane: (lane.rank is None, lane.rank or 0, lane.id))
    shown: dict[int, list[Lane]] = {}
    where: dict[int, int] = {}  # lane id -> the end drawn for it (its own, a namesake's, +N)
    first: dict[tuple[int, str], int] = {}  # (server, name) -> the lane whose column it is
    folded: dict[int, int] = {}
    for lane in lanes:
        if lane.name is not None and (lane.server, lane.name) in first:
            where[lane.id] = where[first[lane.server, lane.name]]  # reconnected: same column
            continue
        if lane.name is not None:
            first[lane.server, lane.name] = lane.id
        mine = shown.setdefault(lane.server, [])
        if len(mine) < max_lanes:
            mine.append(lane)
            where[lane.id] = lane.id
        else:
            folded[lane.server] = folded.get(lane.server, 0) + 1
            where[lane.id] = _MORE - lane.server
    for _, arrow in arrows:  # recipients left out of a step, and forgotten lanes, fold too
        for end in (arrow.source, *arrow.targets):
            if end > 0 and end not in where:
                server = _server_of(arrow, snapshot)
                where[end] = _MORE - server
                folded.setdefault(server, 0)
        if arrow.more:
            folded.setdefault(_server_of(arrow, snapshot), 0)

    columns = _columns(snapshot, shown, folded, hub=any(a.kind == "hop" for _, a in arrows))
    index = {column.end: i for i, column in enumerate(columns)}
    out: list[Row] = []
    said = (0, "")  # the step and text last annotated: a relayed copy is not labelled again
    for seq, arrow in arrows:
        source = index[where.get(arrow.source, arrow.source)]
        groups: dict[int, int] = {}  # target column -> how many recipients it stands for
        for end in arrow.targets:
            column = index[where.get(end, end)]
            groups[column] = groups.get(column, 0) + 1
        if arrow.more:
            column = index[_MORE - _server_of(arrow, snapshot)]
            groups[column] = groups.get(column, 0) + arrow.more
        annotation = _annotation(arrow, snapshot.hub)
        if arrow.kind != "hop":
            if (seq, arrow.label) == said:
                annotation = ""
            said = (seq, arrow.label)
        for n, (target, count) in enumerate(groups.items()):
            label = annotation if n == 0 else ""
            if columns[target].role == "more":
                label = f"{label} (+{count:,})" if label else f"+ {count:,} more"
            out.append(Row(seq, source, target, arrow.kind, label, arrow.code))
    return Chart(
        columns=tuple(columns),
        rows=tuple(out),
        lifelines=_lifelines(columns, out),
        earlier=earlier,
        folded=sum(folded.values()),
    )


def _server_of(arrow: Arrow, snapshot: FlowSnapshot) -> int:
    for end in (arrow.source, *arrow.targets):
        if end < 0:
            return -1 - end
        if end in snapshot.lanes:
            return snapshot.lanes[end].server
    return 0


def _columns(
    snapshot: FlowSnapshot, shown: dict[int, list[Lane]], folded: dict[int, int], *, hub: bool
) -> list[Column]:
    def lanes(server: int) -> list[Column]:
        columns = [Column(lane.id, _lane_label(lane), "lane") for lane in shown.get(server, [])]
        if server in folded:
            columns.append(Column(_MORE - server, f"+{folded[server]:,}", "more"))
        return columns

    servers = max(len(snapshot.servers), 1)
    name = snapshot.servers[0] if snapshot.servers else "server"
    first = [Column(server_end(0), name, "server")]
    hub_column = [Column(HUB, snapshot.hub, "hub")] if hub or servers > 1 else []
    if servers == 1:
        return [*hub_column, *first, *lanes(0)]
    columns = [*lanes(0), *first, *hub_column]
    for i in range(1, servers):
        columns += [Column(server_end(i), snapshot.servers[i], "server"), *lanes(i)]
    return columns


def _lane_label(lane: Lane) -> str:
    return lane.name if lane.name is not None else f"#{lane.id}"


def _annotation(arrow: Arrow, hub: str) -> str:
    if arrow.kind == "close":
        code = arrow.code if arrow.code is not None else 1006
        return f"close {code} ({CLOSE_NAMES[code]})" if code in CLOSE_NAMES else f"close {code}"
    if arrow.kind == "open":
        return f"open ({arrow.label})" if arrow.label else "open"
    if arrow.kind == "hop":
        return f"via {hub}"
    return arrow.label


def _lifelines(columns: list[Column], rows: list[Row]) -> tuple[tuple[int, int], ...]:
    # A lane's line starts at its open and ends at its close when they are drawn. A column
    # that a client reconnected in runs on through the gap, from the first open to the
    # last close.
    last = max(len(rows) - 1, 0)
    spans = []
    for i, column in enumerate(columns):
        start, end = 0, last
        touching = [n for n, row in enumerate(rows) if i in (row.source, row.target)]
        if column.role == "lane" and touching:
            if rows[touching[0]].kind == "open":
                start = touching[0]
            if rows[touching[-1]].kind == "close":
                end = touching[-1]
        spans.append((start, end))
    return tuple(spans)


# -- plain text ------------------------------------------------------------------------

_LINES: dict[Kind, str] = {
    "open": "╌",
    "close": "╌",
    "message": "─",
    "private": "═",
    "typing": "·",
    "notice": "─",
    "hop": "━",
}


def render_text(chart: Chart, *, width: int = 11, label_width: int = 48) -> str:
    """Draw ``chart`` as lines of text: a header of names, then one line per arrow.

    Args:
        chart: A layout from ``layout``.
        width: The characters each column takes; longer names are cut.
        label_width: The characters of each arrow's annotation that are kept.

    Returns:
        The diagram, one line per arrow after the header, with no trailing spaces.
    """
    centre = [i * width + width // 2 for i in range(len(chart.columns))]
    total = width * len(chart.columns)
    lines = []
    if chart.earlier:
        lines.append(chart.summary)
    header = [" "] * total
    for column, x in zip(chart.columns, centre, strict=True):
        name = printable(column.label)[: width - 1]
        begin = max(x - len(name) // 2, 0)
        header[begin : begin + len(name)] = name
    lines.append("".join(header).rstrip())
    for n, row in enumerate(chart.rows):
        chars = [" "] * total
        for (start, end), x in zip(chart.lifelines, centre, strict=True):
            if start <= n <= end:
                chars[x] = "│"
        a, b = centre[row.source], centre[row.target]
        step = 1 if b > a else -1
        for x in range(a + step, b, step):
            chars[x] = _LINES[row.kind]
        chars[a] = "├" if step > 0 else "┤"
        chars[b - step] = "►" if step > 0 else "◄"
        chars[b] = "│"
        label = printable(row.label)
        if len(label) > label_width:
            label = label[: label_width - 1] + "…"
        lines.append(("".join(chars) + "  " + label).rstrip())
    return "\n".join(lines)
