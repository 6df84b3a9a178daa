"""Summarise benchmark runs: medians, ranges and ratios to the baselines."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from servers import Server

__all__ = ["BASELINES", "BOUND", "LOADGEN_BOUND", "Case", "against_relay", "summary", "table"]

# The strongest first: Node's ws corked per turn, and Bun (uWebSockets).
BASELINES = ("node-corked", "bun", "node-quiet", "websockets-broadcast")

# A load generator this busy (CPU seconds per wall second) is the bottleneck, not the server.
LOADGEN_BOUND = 0.9
BOUND = "LOAD GENERATOR BOUND"


@dataclass
class Case:
    """One scenario setting; ``measure`` runs it once against a started server."""

    scenario: str
    label: str
    metric: str  # name of the figure that is compared across servers
    unit: str
    measure: Callable[[Server], dict[str, float]]
    results: dict[str, list[dict[str, float]]] = field(default_factory=dict)


def median(case: Case, variant: str, key: str) -> float | None:
    """Return the median of ``key`` over the runs of ``variant``, if any."""
    values = [r[key] for r in case.results.get(variant, []) if key in r]
    return statistics.median(values) if values else None


def fmt(value: float | None) -> str:
    """Format a figure with about three significant digits."""
    if value is None:
        return "-"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def ratios(case: Case, variant: str) -> list[str]:
    """Return this variant's median over each baseline's median, as ``0.77x``."""
    mine = median(case, variant, case.metric)
    cells = []
    for base in BASELINES:
        theirs = median(case, base, case.metric)
        cells.append(f"{mine / theirs:.2f}x" if mine is not None and theirs else "-")
    return cells


def per_cpu(case: Case, variant: str) -> str:
    """Return the deliveries per server CPU-second, with ratios to the two strongest baselines."""
    mine = median(case, variant, "per_cpu_s")
    shown = []
    for base in BASELINES[:2]:
        theirs = median(case, base, "per_cpu_s")
        if base != variant and mine is not None and theirs:
            shown.append(f"{mine / theirs:.2f}x {base}")
    return f"{fmt(mine)} per server CPU-s" + (f" ({', '.join(shown)})" if shown else "")


def bound(case: Case, variant: str) -> str:
    """Return how many runs had the load generator as the bottleneck, if any."""
    busy = [r for r in case.results.get(variant, []) if r.get("loadgen_cpu", 0) >= LOADGEN_BOUND]
    return f", {BOUND} in {len(busy)} of {len(case.results[variant])} runs" if busy else ""


def details(case: Case, variant: str) -> str:
    """Return the secondary figures of a row."""

    def m(key: str) -> str:
        return fmt(median(case, variant, key))

    cpu = f"server CPU {m('server_cpu')}, load generator CPU {m('loadgen_cpu')}"
    if case.scenario == "fan-out":
        return f"{per_cpu(case, variant)}; {cpu}{bound(case, variant)}"
    if case.scenario in ("senders", "chat"):
        return (
            f"p50 {m('p50_ms')} ms, p99 {m('p99_ms')} ms; {per_cpu(case, variant)}; "
            f"last delivery at {m('elapsed_s')} s; {cpu}{bound(case, variant)}"
        )
    if case.scenario == "latency":
        return (
            f"p50 {m('p50_ms')} ms, max {m('max_ms')} ms; first byte out p50 "
            f"{m('first_p50_ms')} ms, p99 {m('first_p99_ms')} ms; last delivery at "
            f"{m('elapsed_s')} s; {cpu}{bound(case, variant)}"
        )
    return (
        f"open {m('open_s')} s (server CPU {m('open_cpu_us')} µs per connection), "
        f"RSS {m('rss_mb')} MB, one broadcast to all {m('broadcast_s')} s"
    )


def table(done: list[Case]) -> str:
    """Return a markdown table of every case and variant."""
    head = ["scenario", "setting", "server", "median", "min-max", "runs"]
    head += [f"x {b}" for b in BASELINES] + ["also"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for case in done:
        for variant, runs in case.results.items():
            values = [r[case.metric] for r in runs]
            row = [
                case.scenario,
                case.label,
                variant,
                f"{fmt(median(case, variant, case.metric))} {case.unit}",
                f"{fmt(min(values))}-{fmt(max(values))}",
                str(len(values)),
            ]
            lines.append(
                "| " + " | ".join(row + ratios(case, variant) + [details(case, variant)]) + " |"
            )
    return "\n".join(lines)


def against_relay(done: list[Case]) -> str:
    """Return a note comparing each chat row with the relay's many-senders row of the run.

    No other server speaks the chat's protocol, so the relay at the same setting is its
    reference: the same fan-out (``Fanout``) with no JSON, no acks and no room. The chat
    sends each message to its sender too: C deliveries a message, not C - 1, and every
    client gets the same bytes, where the relay leaves each sender's own messages out.
    """
    relay = {c.label: c for c in done if c.scenario == "senders"}
    lines = []
    for case in (c for c in done if c.scenario == "chat"):
        for variant in case.results:
            base = relay.get(case.label)
            mine = {k: median(case, variant, k) for k in ("deliveries_per_s", "per_cpu_s")}
            line = (
                f"- chat {case.label}, {variant}: {fmt(mine['deliveries_per_s'])} deliveries/s, "
                f"p99 {fmt(median(case, variant, 'p99_ms'))} ms, "
                f"{fmt(mine['per_cpu_s'])} per server CPU-s{bound(case, variant)}"
            )
            if base is None or variant not in base.results:
                lines.append(line + "; the relay's many-senders did not run for it here.")
                continue
            theirs = {k: median(base, variant, k) for k in ("deliveries_per_s", "per_cpu_s")}
            shares = [
                f"{m / t:.2f}x its {what}"
                for k, what in (("deliveries_per_s", "deliveries/s"), ("per_cpu_s", "per CPU-s"))
                if (m := mine[k]) is not None and (t := theirs[k])
            ]
            lines.append(
                f"{line}; the relay in this run: {fmt(theirs['deliveries_per_s'])} "
                f"deliveries/s, p99 {fmt(median(base, variant, 'p99_ms'))} ms, "
                f"{fmt(theirs['per_cpu_s'])} per server CPU-s{bound(base, variant)}: "
                f"the chat did {', '.join(shares) or 'no comparable figure'}."
            )
    if not lines:
        return ""
    head = (
        "The chat against the relay's many-senders at the same setting (no other server "
        "speaks the chat's protocol; the relay does the same fan-out without JSON, acks or "
        "the room; a chat message also goes back to its sender: C deliveries where the "
        "relay makes C - 1, the same bytes to every client):"
    )
    return "\n".join([head, *lines])


def summary(case: Case) -> str:
    """Return one line: each variant's median and its ratios to the baselines."""
    parts = []
    for variant in case.results:
        shown = [
            f"{c} {b}"
            for c, b in zip(ratios(case, variant), BASELINES, strict=True)
            if b != variant and c != "-"
        ]
        extra = f" ({', '.join(shown)})" if shown else ""
        parts.append(f"{variant} {fmt(median(case, variant, case.metric))}{extra}")
    return f"{case.scenario} {case.label} {case.unit}, median: " + "; ".join(parts)
