"""Tests for wslib.client.transcript: a pane's state with no widgets and no sockets."""

from __future__ import annotations

import threading

import pytest
from support import TIMEOUT

from wslib.client.client import Status
from wslib.client.transcript import Line, Transcript


def test_status_changes_set_the_status_line_and_log_a_system_line() -> None:
    """A Status sets the status line; every state but 'connecting' is also logged."""
    transcript = Transcript("Alice")
    transcript.record(Status("connecting"))
    assert transcript.status == "connecting"
    assert transcript.lines == []
    transcript.record(Status("open"))
    transcript.record(Status("closed", 1000, "done"))
    assert transcript.status == "closed (1000 done)"
    assert transcript.lines == [
        Line("system", "open"),
        Line("system", "closed (1000 done)"),
    ]


def test_relay_text_and_binary_become_peer_lines() -> None:
    """A relayed text is kept as it came; a binary message is described by its size."""
    transcript = Transcript("Bob")
    transcript.record("Received message from peer: hi")
    transcript.record(b"\x00\x01\x02")
    assert transcript.lines == [
        Line("peer", "Received message from peer: hi"),
        Line("peer", "<3 bytes>"),
    ]


def test_chat_messages_are_local_when_they_carry_our_name() -> None:
    """In chat mode the server's copy of our own message is local; others' are peer lines."""
    transcript = Transcript("alice")
    transcript.record({"type": "message", "id": "e-1", "name": "alice", "text": "hi", "ts": 1})
    transcript.record({"type": "message", "id": "e-2", "name": "bob", "text": "yo", "ts": 2})
    transcript.record({"type": "message", "name": "bob", "text": "psst", "to": "alice"})
    transcript.record({"type": "message", "name": "alice", "text": "ok", "to": "bob"})
    assert transcript.lines == [
        Line("local", "hi"),
        Line("peer", "bob: yo"),
        Line("peer", "bob (to you): psst"),
        Line("local", "(to bob) ok"),
    ]


def test_chat_room_events_become_system_and_error_lines() -> None:
    """Welcome, joins, leaves and errors are shown; acks and typing notes are not."""
    transcript = Transcript("alice")
    transcript.record({"type": "welcome", "name": "alice", "online": ["alice"], "reset": True})
    transcript.record({"type": "joined", "name": "bob"})
    transcript.record({"type": "ack", "cid": "c1", "id": "e-1", "duplicate": False})
    transcript.record({"type": "typing", "name": "bob"})
    transcript.record({"type": "left", "name": "bob"})
    transcript.record({"type": "error", "code": "too_long", "detail": "Text is too long."})
    transcript.record({"type": "surprise"})
    assert [str(line) for line in transcript.lines] == [
        "· joined as alice; online: alice",
        "· history reset: messages from before may be missing",
        "· bob joined",
        "· bob left",
        "! too_long: Text is too long.",
        "· (unknown event 'surprise')",
    ]


def test_welcome_adopts_the_servers_spelling_of_the_name() -> None:
    """After the welcome, messages under the server's spelling of our name are local."""
    transcript = Transcript("Alice ")
    transcript.record({"type": "welcome", "name": "Alice", "online": ["Alice"]})
    transcript.record({"type": "message", "name": "Alice", "text": "me"})
    assert transcript.name == "Alice"
    assert transcript.lines[-1] == Line("local", "me")


def test_control_and_bidi_characters_are_escaped_on_the_way_in() -> None:
    """Terminal escapes, NUL and bidi overrides are stored escaped, never raw."""
    transcript = Transcript("Bob")
    transcript.peer("\x1b[31mred\x00 \u202eevil")
    transcript.set_status("closed (1000 \x07bell)")
    assert transcript.texts() == ["\\x1b[31mred\\x00 \\u202eevil"]
    assert transcript.status == "closed (1000 \\x07bell)"


def test_only_the_last_lines_are_kept() -> None:
    """With keep=3, the oldest lines are dropped first."""
    transcript = Transcript("Bob", keep=3)
    for n in range(5):
        transcript.system(f"line {n}")
    assert transcript.texts() == ["line 2", "line 3", "line 4"]
    with pytest.raises(ValueError, match="keep"):
        Transcript("Bob", keep=0)


def test_text_form_has_the_name_status_and_marked_lines() -> None:
    """str() gives the name and status, then one marked line per entry."""
    transcript = Transcript("Alice")
    transcript.record(Status("open"))
    transcript.local("hi Bob")
    transcript.peer("Received message from peer: hi Alice")
    transcript.error("not sent")
    assert str(transcript) == (
        "Alice: open\n· open\n→ hi Bob\n← Received message from peer: hi Alice\n! not sent"
    )


def test_find_and_texts_filter_by_kind() -> None:
    """find() and texts() can look at one kind of line only."""
    transcript = Transcript("Alice")
    transcript.local("hello")
    transcript.peer("Received message from peer: hello")
    assert transcript.find("hello") == Line("local", "hello")
    assert transcript.find("hello", "peer") == Line("peer", "Received message from peer: hello")
    assert transcript.find("bye") is None
    assert transcript.texts("local") == ["hello"]


def test_listeners_hear_every_change_until_they_unsubscribe() -> None:
    """A listener is called after each change and not after it unsubscribes."""
    transcript = Transcript("Alice")
    seen: list[int] = []
    unsubscribe = transcript.subscribe(lambda: seen.append(transcript.version))
    transcript.system("one")
    transcript.set_status("open")
    unsubscribe()
    transcript.system("two")
    assert seen == [1, 2]
    unsubscribe()  # a second call does nothing


def test_a_listener_may_read_the_transcript() -> None:
    """Listeners run after the change is made and with no lock held."""
    transcript = Transcript("Alice")
    snapshots: list[str] = []
    transcript.subscribe(lambda: snapshots.append(str(transcript)))
    transcript.peer("hi")
    assert snapshots == ["Alice: connecting\n← hi"]


def test_wait_for_line_returns_when_another_thread_adds_it() -> None:
    """A thread blocked in wait_for_line wakes up when another thread adds the line."""
    transcript = Transcript("Bob")
    waiting = threading.Event()
    found: list[Line] = []

    def waiter() -> None:
        waiting.set()
        found.append(transcript.wait_for_line("hello", "peer", timeout=TIMEOUT))

    thread = threading.Thread(target=waiter)
    thread.start()
    assert waiting.wait(TIMEOUT)
    transcript.system("hello, but not from a peer")
    transcript.peer("Received message from peer: hello")
    thread.join(TIMEOUT)
    assert not thread.is_alive()
    assert found == [Line("peer", "Received message from peer: hello")]


def test_wait_for_gives_up_with_the_last_lines_in_the_message() -> None:
    """wait_for raises TimeoutError naming the pane, its status and its last lines."""
    transcript = Transcript("Bob")
    transcript.system("open")
    with pytest.raises(TimeoutError, match=r"Bob: still waiting .*status connecting.*· open"):
        transcript.wait_for(lambda: False, timeout=TIMEOUT / 500)


def test_wait_for_returns_at_once_when_the_predicate_already_holds() -> None:
    """A predicate that is already true does not wait at all, even with no timeout."""
    transcript = Transcript("Bob")
    transcript.peer("there")
    # On a thread, so that a wait that never ends fails here instead of hanging the run.
    waiter = threading.Thread(
        target=transcript.wait_for,
        args=(lambda: transcript.find("there") is not None, None),
        daemon=True,
    )
    waiter.start()
    waiter.join(TIMEOUT)
    assert not waiter.is_alive()


def test_unexpected_events_are_reported_not_dropped() -> None:
    """Something that is neither a status, a message nor an event becomes an error line."""
    transcript = Transcript("Bob")
    transcript.record(42)
    assert transcript.lines == [Line("error", "unexpected event int")]


def test_a_final_close_code_says_the_pane_will_not_reconnect() -> None:
    """A close with the kit's 4000 adds a 'closed for good' note in the same change."""
    transcript = Transcript("Erin")
    versions: list[int] = []
    transcript.subscribe(lambda: versions.append(transcript.version))
    transcript.record(Status("closed", 4000, "replaced"))
    assert versions == [1]
    assert transcript.texts() == [
        "closed (4000 replaced)",
        "closed for good: this pane will not reconnect",
    ]


def test_a_thread_waiting_for_a_status_also_sees_its_line() -> None:
    """The status and its system line change together, so a waiter never sees one alone."""
    transcript = Transcript("Carol")
    seen: list[str] = []

    def waiter() -> None:
        transcript.wait_for(lambda: transcript.status.startswith("closed"), timeout=TIMEOUT)
        seen.append(str(transcript))

    thread = threading.Thread(target=waiter)
    thread.start()
    transcript.record(Status("closed", 1000))
    thread.join(TIMEOUT)
    assert seen == ["Carol: closed (1000)\n· closed (1000)"]


def test_added_counts_every_line_even_those_no_longer_kept() -> None:
    """``added`` grows by each line, status notes included, and keeps growing past ``keep``."""
    transcript = Transcript("Dan", keep=2)
    transcript.record(Status("open"))
    transcript.record(Status("connecting"))  # a new status with no note adds no line
    for text in ("a", "b", "c"):
        transcript.peer(text)
    status, lines, version, added = transcript.snapshot()
    assert (status, added, transcript.added) == ("connecting", 4, 4)
    assert [line.text for line in lines] == ["b", "c"]  # lines numbered 2 and 3
    assert version == 5
