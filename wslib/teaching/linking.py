"""The checker for notebook 07's exercise: start two servers that share one chat.

The learner writes ``start_pair(link) -> (a, b)``: two servers from ``wslib.start``, each
under a name of its own, both linked the same way (``**link``: a Redis URL or a
backplane). The runner calls it with a link, joins Ann on A and Ben on B,
and records what they see; I/O-free rules judge that (see ``wslib.teaching.exercises``).
The notebook passes the link to use (this layer does not import the server's backplanes).

Usage in notebook 07::

    print(check_pair(start_pair, {"backplane": LocalBackplane()}))
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..sync.background import BackgroundServer
from ..sync.blocking import SyncChatClient
from .exercises import Report, Verdict

__all__ = ["PairRun", "check_pair", "pair_verdicts", "run_pair"]

StartPair = Callable[[dict[str, Any]], Any]


@dataclass
class PairRun:
    """What two servers from ``start_pair`` did for Ann (on A) and Ben (on B).

    Attributes:
        returned: A description of what ``start_pair`` returned, when it was not two servers.
        running: Whether A and B were both running once both had started.
        same_port: Whether A and B had the same port.
        ann_online: Who Ann saw online, once Ben had joined.
        ben_got: The texts Ben received from the chat.
        error: What ``start_pair`` raised, if it did.
    """

    returned: str | None = None
    running: tuple[bool, bool] = (False, False)
    same_port: bool = False
    ann_online: list[str] = field(default_factory=list)
    ben_got: list[str] = field(default_factory=list)
    error: str | None = None


def pair_verdicts(run: PairRun) -> list[Verdict]:
    """Judge a pair of servers: both run, presence and messages cross between them."""
    if run.error is not None:
        return [Verdict(False, f"start_pair raised {run.error}")]
    if run.returned is not None:
        return [Verdict(False, f"start_pair returned {run.returned}: return the two servers")]
    verdicts: list[Verdict] = []
    if run.running == (True, True) and not run.same_port:
        verdicts.append(Verdict(True, "both servers run, each on its own port"))
    elif run.running[0] is False:
        verdicts.append(
            Verdict(False, "server A stopped when B started: give each server a name of its own")
        )
    else:
        verdicts.append(Verdict(False, "the two servers do not both run on ports of their own"))
    if "Ben" in run.ann_online:
        verdicts.append(Verdict(True, "Ann, on server A, sees Ben, on server B, online"))
    else:
        verdicts.append(
            Verdict(False, "Ann on server A does not see Ben on server B: link both with **link")
        )
    if "hello from server A" in run.ben_got:
        verdicts.append(Verdict(True, "Ann's message reached Ben across the two servers"))
    else:
        verdicts.append(Verdict(False, "Ben, on server B, never received Ann's message"))
    return verdicts


def run_pair(start_pair: StartPair, link: dict[str, Any], *, wait: float = 2.0) -> PairRun:
    """Start the learner's pair with ``link``; Ann joins A, Ben joins B, Ann speaks."""
    run = PairRun()
    try:
        pair = start_pair(link)
    except Exception as exc:  # the rules report it
        run.error = f"{type(exc).__name__}: {exc}"
        return run
    servers = list(pair) if isinstance(pair, tuple | list) else []
    if len(servers) != 2 or not all(isinstance(s, BackgroundServer) for s in servers):
        run.returned = repr(pair)
        return run
    a, b = servers
    try:
        run.running = (a.running, b.running)
        run.same_port = a.port == b.port
        if not all(run.running):
            return run
        with (
            SyncChatClient(a.chat_url, "Ann") as ann,
            SyncChatClient(b.chat_url, "Ben") as ben,
        ):
            with contextlib.suppress(TimeoutError):
                ann.wait_for(lambda: "Ben" in ann.online, wait)
            run.ann_online = ann.online
            ann.send("hello from server A")
            with contextlib.suppress(TimeoutError):
                ben.wait_for(lambda: any(m.get("name") == "Ann" for m in ben.messages), wait)
            run.ben_got = [str(m.get("text")) for m in ben.messages]
    finally:
        b.stop()
        a.stop()
    return run


def check_pair(start_pair: StartPair, link: dict[str, Any], *, wait: float = 2.0) -> Report:
    """Run notebook 07's "two servers, one chat" exercise for real and judge it.

    Args:
        start_pair: The learner's function.
        link: What to pass it, e.g. ``{"backplane": LocalBackplane()}`` or ``{"redis": url}``.
        wait: How long to wait for what a right answer would make happen, in seconds.

    Usage in notebook 07::

        print(check_pair(start_pair, {"backplane": LocalBackplane()}))
    """
    verdicts = pair_verdicts(run_pair(start_pair, link, wait=wait))
    return Report("two servers, one chat", tuple(verdicts))
