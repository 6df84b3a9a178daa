"""The checker for notebook 06's exercise: a health check, as a service manager runs one.

The learner writes ``is_healthy(http_url) -> bool``: ``True`` only when ``GET healthz``
answers 200 with ``{"status": "ok"}``, ``False`` for anything else, without raising.
The runner tries it on a real kit server, on a port where nothing listens, and on a small
HTTP server that answers 503; I/O-free rules judge the answers (see
``wslib.teaching.exercises``).

Usage in notebook 06::

    print(check_health(is_healthy))
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from ..sync.background import start
from .exercises import Report, Verdict

__all__ = ["CASES", "HealthRun", "check_health", "health_verdicts", "run_health"]

Probe = Callable[[str], object]

#: Each case: what the learner's function should say, and what to tell them if it does not.
CASES: dict[str, tuple[bool, str]] = {
    "a running kit server": (True, "it answers 200 with status 'ok'"),
    "a port where nothing listens": (
        False,
        "catch the OSError that urlopen raises when nothing answers, and return False",
    ),
    "a server answering 503": (
        False,
        "urlopen raises HTTPError (an OSError) for a 503: catch it, and return False",
    ),
}


@dataclass
class HealthRun:
    """What ``is_healthy`` returned (or raised, as text) for each of ``CASES``."""

    answers: dict[str, object] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


def health_verdicts(run: HealthRun) -> list[Verdict]:
    """Judge a health check: healthy only when the server says so, never an exception."""
    verdicts: list[Verdict] = []
    for case, (right, hint) in CASES.items():
        if case in run.errors:
            verdicts.append(Verdict(False, f"{case}: is_healthy raised {run.errors[case]}; {hint}"))
        elif run.answers.get(case) is right:
            verdicts.append(Verdict(True, f"{case}: {right}, right"))
        else:
            got = run.answers.get(case)
            verdicts.append(Verdict(False, f"{case}: you say {got!r}, not {right}; {hint}"))
    return verdicts


class _Unavailable(BaseHTTPRequestHandler):
    """Answer every GET with 503 and a JSON body, as a server that is shutting down might."""

    def do_GET(self) -> None:
        body = json.dumps({"status": "draining"}).encode()
        self.send_response(503)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Print nothing: a notebook cell would show it as stderr."""


def run_health(probe: Probe) -> HealthRun:
    """Call ``probe`` on a live kit server, on a closed port and on a server answering 503."""
    run = HealthRun()
    server = start(port=0, name="exercise: health")
    unavailable = ThreadingHTTPServer(("127.0.0.1", 0), _Unavailable)
    thread = threading.Thread(target=unavailable.serve_forever, daemon=True)
    thread.start()
    # Bound but never listening, for the whole run: connections to it are refused, and no
    # other socket can take the port meanwhile (a probe's own, as a TCP self-connect, neither).
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    urls = {
        "a running kit server": server.http_url,
        "a port where nothing listens": f"http://127.0.0.1:{closed.getsockname()[1]}/",
        "a server answering 503": f"http://127.0.0.1:{unavailable.server_address[1]}/",
    }
    try:
        for case, url in urls.items():
            try:
                run.answers[case] = probe(url)
            except Exception as exc:  # the rules report it
                run.errors[case] = f"{type(exc).__name__}: {exc}"
    finally:
        closed.close()
        unavailable.shutdown()
        unavailable.server_close()
        thread.join()
        server.stop()
    return run


def check_health(probe: Probe) -> Report:
    """Run notebook 06's "a health check" exercise for real and judge it, case by case.

    Usage in notebook 06::

        print(check_health(is_healthy))
    """
    return Report("a health check", tuple(health_verdicts(run_health(probe))))
