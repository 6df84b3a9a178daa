"""The checker for notebook 03's exercise: predict a WebSocket's bytes, then measure them.

The learner writes ``websocket_bytes(texts) -> int``: how many bytes cross the wire after
the opening handshake when a server pushes ``texts``, one frame each, and the connection
then closes. Probes with chosen texts judge each part of the rule (RFC 6455, section 5.2);
then the kit's byte meter measures a real run (``wslib.teaching.polling.measure``) and the
prediction must match it to the byte.

Usage in notebook 03::

    print(check_prediction(websocket_bytes))
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ..sync import runtime
from .exercises import Report, Verdict
from .polling import measure, schedule

__all__ = ["PROBES", "PredictionRun", "check_prediction", "prediction_verdicts", "run_prediction"]

Predict = Callable[[list[str]], object]
CLOSES = (2 + 2) + (6 + 2)  # the server's close frame with its code; the client's, masked

#: Each probe: what it tries, the texts, the right count, and what to say when it is wrong.
PROBES: dict[str, tuple[list[str], int, str]] = {
    "no messages": (
        [],
        CLOSES,
        "the close frames still cross: 4 bytes from the server (2 + the code), 8 from the"
        " client (masked)",
    ),
    "'héllo'": (
        ["héllo"],
        CLOSES + 2 + 6,
        "'héllo' is 5 characters but 6 bytes in UTF-8: count len(text.encode())",
    ),
    "200 bytes": (
        ["x" * 200],
        CLOSES + 4 + 200,
        "a frame of 126 to 65,535 bytes has a 4-byte header: 126, then 2 length bytes",
    ),
    "70,000 bytes": (
        ["y" * 70000],
        CLOSES + 10 + 70000,
        "a frame of 65,536 bytes or more has a 10-byte header: 127, then 8 length bytes",
    ),
}


@dataclass
class PredictionRun:
    """What ``websocket_bytes`` predicted for each probe and for a real run, and the meter.

    Attributes:
        probes: The prediction for each of ``PROBES``.
        predicted: The prediction for the real run's texts.
        measured: The bytes the meter counted after the handshake in that run.
        errors: For each probe (or ``"20 quotes"``) where ``websocket_bytes`` raised, what.
    """

    probes: dict[str, object] = field(default_factory=dict)
    predicted: object = None
    measured: int = 0
    errors: dict[str, str] = field(default_factory=dict)


def prediction_verdicts(run: PredictionRun) -> list[Verdict]:
    """Judge a prediction probe by probe, then against the meter.

    A probe with messages is judged by what the messages add to the "no messages" count,
    so that a missing close frame is reported once, not in every probe.
    """
    verdicts: list[Verdict] = []
    empty = run.probes.get("no messages")
    base = empty if isinstance(empty, int) else 0
    for name, (texts, right, hint) in PROBES.items():
        got = run.probes.get(name)
        if name in run.errors:
            verdicts.append(Verdict(False, f"{name}: websocket_bytes raised {run.errors[name]}"))
        elif not isinstance(got, int):
            verdicts.append(Verdict(False, f"{name}: websocket_bytes returned {got!r}, no int"))
        elif not texts:
            verdicts.append(
                Verdict(True, f"{name}: {right} bytes, the two close frames")
                if got == right
                else Verdict(False, f"{name}: you count {got:,}, not {right}; {hint}")
            )
        elif got - base == right - CLOSES:
            verdicts.append(Verdict(True, f"{name}: {right - CLOSES:,} bytes for the frame, right"))
        else:
            verdicts.append(
                Verdict(
                    False,
                    f"{name}: the frame adds {got - base:,} bytes in your count, not"
                    f" {right - CLOSES:,}; {hint}",
                )
            )
    if run.predicted == run.measured:
        verdicts.append(
            Verdict(True, f"20 quotes: you predict {run.measured:,} bytes and the meter agrees")
        )
    else:
        verdicts.append(
            Verdict(
                False,
                f"20 quotes: you predict {run.predicted!r}, the meter counted {run.measured:,}",
            )
        )
    return verdicts


def _call(predict: Predict, texts: Sequence[str], name: str, run: PredictionRun) -> object:
    try:
        return predict(list(texts))
    except Exception as exc:  # the rules report it
        run.errors[name] = f"{type(exc).__name__}: {exc}"
        return None


def run_prediction(predict: Predict) -> PredictionRun:
    """Ask ``predict`` about each probe, then measure a real WebSocket run with the meter."""
    run = PredictionRun()
    for name, (texts, _, _) in PROBES.items():
        run.probes[name] = _call(predict, texts, name, run)
    stream = schedule(count=20)
    measured = runtime.run(measure("websocket", stream), 60.0)
    run.measured = measured.total - measured.handshake
    run.predicted = _call(predict, [text for _, text in stream], "20 quotes", run)
    return run


def check_prediction(predict: Predict) -> Report:
    """Run notebook 03's "predict the bytes" exercise and judge it, rule by rule.

    Usage in notebook 03::

        print(check_prediction(websocket_bytes))
    """
    return Report("predict the bytes", tuple(prediction_verdicts(run_prediction(predict))))
