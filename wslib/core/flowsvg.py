"""Draw a laid-out flow diagram (``wslib.core.flowchart.Chart``) as a standalone SVG.

The same picture serves the notebook widget (an ipywidgets ``HTML`` holding it), the
README (a file that the notebook view writes) and readers on GitHub, who see SVG files drawn.
Every text comes from ``printable`` and is XML-escaped, so a name such as
``<img src=x onerror=alert(1)>`` is drawn as those characters. Each arrow is one
``<line class="arrow KIND">`` with a ``<title>`` (its tooltip), which tests count.
"""

from __future__ import annotations

import html

from .display import printable
from .flow import Kind
from .flowchart import Chart

__all__ = ["COLOURS", "render_svg"]

#: The colour of each kind of arrow.
COLOURS: dict[Kind, str] = {
    "open": "#2e7d32",
    "close": "#c62828",
    "message": "#1f5fa8",
    "private": "#8e24aa",
    "typing": "#9e9e9e",
    "notice": "#616161",
    "hop": "#ef6c00",
}
_DASH: dict[Kind, str] = {"open": "4 3", "close": "4 3", "typing": "2 3"}
_WIDTH: dict[Kind, str] = {"hop": "2.5", "message": "1.6", "private": "1.6"}
_COLUMN, _ROW, _TOP, _MARGIN = 96, 22, 46, 12


def _text(value: str, limit: int) -> str:
    value = printable(value)
    if len(value) > limit:
        value = value[: limit - 1] + "…"
    return html.escape(value, quote=True)


def render_svg(chart: Chart, *, label_width: int = 40) -> str:
    """Return ``chart`` as the text of an SVG document.

    Args:
        chart: A layout from ``wslib.core.flowchart.layout``.
        label_width: The characters of each arrow's annotation that are drawn (the
            tooltip has up to 200).
    """
    columns = len(chart.columns)
    x = [_MARGIN + i * _COLUMN + _COLUMN // 2 for i in range(columns)]
    summary = _TOP if chart.earlier else _TOP - 16
    top = summary + 8

    def y(n: int) -> int:
        return top + _ROW * n + _ROW // 2

    width = _MARGIN * 2 + columns * _COLUMN + label_width * 7
    height = y(len(chart.rows)) + _MARGIN
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="wslib-flow" width="{width}"'
        f' height="{height}" viewBox="0 0 {width} {height}"'
        ' font-family="DejaVu Sans Mono, Menlo, Consolas, monospace" font-size="12">',
        "<defs>",
        *(
            f'<marker id="wslib-flow-{kind}" viewBox="0 0 10 10" refX="9" refY="5"'
            ' markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
            f'<path d="M0,0 L10,5 L0,10 z" fill="{colour}"/></marker>'
            for kind, colour in COLOURS.items()
        ),
        "</defs>",
        f'<rect width="{width}" height="{height}" fill="white"/>',
    ]
    if chart.earlier:
        parts.append(
            f'<text class="earlier" x="{_MARGIN}" y="16" fill="#616161">{chart.summary}</text>'
        )
    shade, previous = False, None
    for n, row in enumerate(chart.rows):  # every other step on a light band
        if row.seq != previous:
            shade, previous = not shade, row.seq
        if shade:
            parts.append(
                f'<rect class="step" x="0" y="{y(n) - _ROW // 2}" width="{width}"'
                f' height="{_ROW}" fill="#f3f6fb"/>'
            )
    for i, column in enumerate(chart.columns):
        bold = ' font-weight="bold"' if column.role in ("server", "hub") else ""
        colour = COLOURS["hop"] if column.role == "hub" else "#212121"
        parts.append(
            f'<text class="column {column.role}" x="{x[i]}" y="{summary}" text-anchor="middle"'
            f' fill="{colour}"{bold}>{_text(column.label, 12)}</text>'
        )
        start, end = chart.lifelines[i]
        stroke = "#424242" if column.role == "server" else "#bdbdbd"
        weight = 3 if column.role in ("server", "hub") else 1
        parts.append(
            f'<line class="lifeline" x1="{x[i]}" y1="{y(start) - _ROW // 2}" x2="{x[i]}"'
            f' y2="{y(end) + _ROW // 2}" stroke="{stroke}" stroke-width="{weight}"/>'
        )
    labels_x = _MARGIN + columns * _COLUMN + 4
    for n, row in enumerate(chart.rows):
        a = x[row.source]
        b = x[row.target] - (4 if x[row.target] > a else -4)  # the head stops short of the line
        colour = COLOURS[row.kind]
        dash = f' stroke-dasharray="{_DASH[row.kind]}"' if row.kind in _DASH else ""
        thickness = _WIDTH.get(row.kind, "1.2")
        parts.append(
            f'<line class="arrow {row.kind}" data-seq="{row.seq}" x1="{a}" y1="{y(n)}"'
            f' x2="{b}" y2="{y(n)}" stroke="{colour}" stroke-width="{thickness}"{dash}'
            f' marker-end="url(#wslib-flow-{row.kind})"><title>{_text(row.label, 200)}</title>'
            "</line>"
        )
        parts.append(f'<circle cx="{x[row.source]}" cy="{y(n)}" r="2.5" fill="{colour}"/>')
        if row.label:
            parts.append(
                f'<text class="label {row.kind}" data-seq="{row.seq}" x="{labels_x}" y="{y(n) + 4}"'
                f' fill="{colour}">{_text(row.label, label_width)}</text>'
            )
    parts.append("</svg>")
    return "\n".join(parts)
