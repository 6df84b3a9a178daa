"""Tests for wslib.teaching.pagecheck: the reconnect exercise's rules, and its trial on a port.

The rules are judged from records, one per kind of answer; the trial runs with a kit client
standing in for the page (the browser runs it in tests/test_playground_browser.py).
"""

from __future__ import annotations

import socket
import threading

from support import TIMEOUT

import wslib
from wslib.teaching.exercises import Report, Verdict
from wslib.teaching.pagecheck import (
    ReconnectRecord,
    ReconnectTiming,
    ReconnectTrial,
    driver,
    reconnect_verdicts,
)

LINES = [f"line {n}" for n in range(1, 13)]


def record(connections: list[int], before: list[str], after: list[str]) -> ReconnectRecord:
    """Return what a trial of 12 lines, restarted after 3, would have recorded."""
    arrived = [(0, text) for text in before] + [(1, text) for text in after]
    return ReconnectRecord(12, 3, connections, arrived, restarted=bool(before[:3] == LINES[:3]))


def assert_port_free(port: int) -> None:
    """A new server could listen on ``port`` (as servers do, despite closed connections)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", port))
        probe.listen()


def texts(verdicts: list[Verdict]) -> list[str]:
    return [str(verdict) for verdict in verdicts]


def test_a_page_that_reconnects_and_resends_passes_every_rule() -> None:
    """Connected, first lines out, back after the restart, all lines once and in order."""
    verdicts = reconnect_verdicts(record([0, 1], LINES[:3], LINES[3:]))
    assert texts(verdicts) == [
        "✓ the page connected",
        "✓ line 1 to line 3, typed while connected, went straight out",
        "✓ after the restart (close code 1001) it connected again",
        "✓ all 12 lines arrived, those typed while it was down too",
        "✓ each line arrived once, in the order typed",
    ]
    report = Report("reconnect and resend", tuple(verdicts))
    assert report.passed
    assert str(report).endswith("All 5 checks pass: reconnect and resend is done.")


def test_the_unchanged_scaffold_is_told_to_reconnect_and_to_resend() -> None:
    """No new connection after the restart: two failures, each saying what to write."""
    verdicts = reconnect_verdicts(record([0], LINES[:3], []))
    assert texts(verdicts)[2:] == [
        "✗ after the restart (close code 1001) the page never connected again: in onclose,"
        " call connect() again after a delay that doubles each try",
        "✗ 9 of the 12 lines never arrived (line 4 to line 12): keep each line typed while"
        " the socket is not open, and send them in onopen",
    ]
    assert str(Report("x", tuple(verdicts))).endswith("2 of 4 checks fail; try again.")


def test_reconnecting_without_resending_loses_the_lines_typed_meanwhile() -> None:
    """Back after the restart, but the lines typed while down never went out."""
    verdicts = reconnect_verdicts(record([0, 1], LINES[:3], LINES[8:]))
    assert [v.passed for v in verdicts] == [True, True, True, False]
    assert "5 of the 12 lines never arrived (line 4 to line 8)" in verdicts[3].text


def test_lines_sent_twice_or_out_of_order_are_named() -> None:
    """A waiting line sent twice, or the waiting lines sent newest first, fail the last rule."""
    twice = reconnect_verdicts(record([0, 1], LINES[:3], [*LINES[3:6], "line 5", *LINES[6:]]))
    assert str(twice[-1]) == (
        "✗ line 5 arrived more than once: send each waiting line once, then empty the list"
    )
    backwards = reconnect_verdicts(record([0, 1], LINES[:3], [*LINES[3:6][::-1], *LINES[6:]]))
    assert str(backwards[-1]) == (
        "✗ lines arrived out of order: send the waiting lines oldest first"
    )


def test_no_page_or_no_lines_stops_the_verdict_early() -> None:
    """Without a page the check says a browser must run it; without lines, how to send."""
    assert texts(reconnect_verdicts(record([], [], [])))[0].startswith(
        "✗ no page connected: the check runs your script in the frame above"
    )
    silent = reconnect_verdicts(record([0], [], []))
    assert texts(silent) == [
        "✓ the page connected",
        "✗ line 1 to line 3 never arrived while the connection was open: in type(text),"
        " send the line when the socket is open",
    ]
    failed = ReconnectRecord(12, 3, error="the check could not restart its server")
    assert texts(reconnect_verdicts(failed)) == ["✗ the check could not restart its server"]


def test_the_driver_types_numbered_lines_through_the_scripts_type() -> None:
    """The appended JavaScript calls type("line N") every `every` seconds, `lines` times."""
    script = driver(ReconnectTiming(lines=5, every=0.1))
    assert 'type("line " + typed);' in script
    assert "if (typed === 5)" in script
    assert "}, 100);" in script


def test_a_trial_restarts_its_server_once_and_reports_what_arrived() -> None:
    """A client that sends 3 lines, reconnects after the 1001 and sends the rest passes."""
    trial = ReconnectTrial(ReconnectTiming(lines=6, restart_after=3, down=0.2, settle=TIMEOUT))
    reports: list[Report] = []
    done = threading.Event()
    trial.start(lambda report: (reports.append(report), done.set()))
    page = wslib.SyncClient(f"ws://127.0.0.1:{trial.port}/", timeout=TIMEOUT)
    try:
        for line in LINES[:3]:
            page.send(line)
        assert trial.wait_until(lambda: len(trial.record.connections) == 2, 3 * TIMEOUT)
        page.wait_for(lambda: page.status.state == "open", TIMEOUT)
        for line in LINES[3:6]:
            page.send(line)
        assert done.wait(2 * TIMEOUT)
    finally:
        page.stop()
    assert trial.record.connections == [0, 1]
    assert trial.record.arrived == [(0, t) for t in LINES[:3]] + [(1, t) for t in LINES[3:6]]
    assert reports == [trial.report]
    assert reports[0].passed, str(reports[0])
    assert_port_free(trial.port)


def test_a_trial_stopped_early_reports_nothing_and_frees_its_port() -> None:
    """stop() before any page came ends the trial at once, with no report."""
    trial = ReconnectTrial()
    reports: list[Report] = []
    trial.start(reports.append)
    trial.stop()
    trial.stop()
    assert reports == []
    assert trial.report is None
    assert_port_free(trial.port)


def test_a_trial_without_a_page_says_so() -> None:
    """With no page within wait_page, the report says a browser must run the script."""
    trial = ReconnectTrial(ReconnectTiming(wait_page=0.1))
    done = threading.Event()
    trial.start(lambda _report: done.set())
    assert done.wait(TIMEOUT)
    assert trial.report is not None
    assert not trial.report.passed
    assert trial.report.verdicts[0].text.startswith("no page connected")
