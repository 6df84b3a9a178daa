"""Tests for history and sqlite: both histories keep one contract, SQLite across restarts."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wslib.exceptions import StoreError
from wslib.storage.history import History, MemoryHistory
from wslib.storage.sqlite import SqliteHistory

Factory = Callable[..., History]


@pytest.fixture(params=["memory", "sqlite"])
def make(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Factory]:
    """Yield a factory for fresh stores of one kind, closing SQLite ones afterwards."""
    opened: list[SqliteHistory] = []

    def factory(limit: int = 1000, dedupe: int = 10_000) -> History:
        if request.param == "memory":
            return MemoryHistory(limit, dedupe=dedupe)
        store = SqliteHistory(tmp_path / f"h{len(opened)}.sqlite3", limit=limit, dedupe=dedupe)
        opened.append(store)
        return store

    yield factory
    for store in opened:
        store.close()


def fill(history: History, count: int, *, start: int = 0) -> list[str]:
    """Append ``count`` public messages from alice and return their ids."""
    return [
        history.append("alice", f"m{n}", float(n), identity="alice", cid=f"c{n}").id
        for n in range(start, start + count)
    ]


def texts(history: History, last_id: str) -> list[str] | None:
    """Return the texts ``since(last_id)`` gives, or None."""
    missed = history.since(last_id)
    return None if missed is None else [message.text for message in missed]


def test_ids_are_ordered_and_carry_the_epoch(make: Factory) -> None:
    """Ids are unique, sort in the order they were given, and start with the store's epoch."""
    history = make()
    ids = fill(history, 12)
    assert sorted(ids) == ids
    assert len(set(ids)) == 12
    assert all(message_id.startswith(history.epoch) for message_id in ids)


def test_epochs_differ_between_stores(make: Factory) -> None:
    """Two new stores get different epochs, so one's ids are never taken for the other's."""
    assert make().epoch != make().epoch


def test_append_stamps_the_message(make: Factory) -> None:
    """append returns the message with its id, name, text, time and recipient."""
    history = make()
    message = history.append("bob", "psst", 3.5, identity="bob", cid="c", to="alice")
    assert (message.name, message.text, message.ts, message.to) == ("bob", "psst", 3.5, "alice")


def test_recent_returns_the_newest_oldest_first(make: Factory) -> None:
    """recent(n) returns the n newest public messages in the order they were sent."""
    history = make()
    fill(history, 5)
    assert [message.text for message in history.recent(3)] == ["m2", "m3", "m4"]
    assert len(history.recent(10)) == 5
    assert history.recent(0) == []


def test_limit_drops_the_oldest(make: Factory) -> None:
    """A store keeps at most ``limit`` public messages, dropping the oldest."""
    history = make(limit=3)
    fill(history, 5)
    assert [message.text for message in history.recent(10)] == ["m2", "m3", "m4"]


def test_since_returns_exactly_the_later_messages(make: Factory) -> None:
    """since(id) returns every message after that id, and nothing for the newest id."""
    history = make()
    ids = fill(history, 5)
    assert texts(history, ids[1]) == ["m2", "m3", "m4"]
    assert texts(history, ids[-1]) == []


def test_since_refuses_a_gap_older_than_the_history(make: Factory) -> None:
    """since returns None when a message after the id was already dropped, never a part."""
    history = make(limit=3)
    ids = fill(history, 6)
    assert texts(history, ids[1]) is None
    assert texts(history, ids[2]) == ["m3", "m4", "m5"]


@pytest.mark.parametrize(
    "suffix", ["-000000000099", "-1", "-00000000000x", "", "-" + "\u0660" * 11 + "\u0661"]
)
def test_since_refuses_unknown_ids(make: Factory, suffix: str) -> None:
    """since returns None for a future, malformed or non-canonical id of this epoch."""
    history = make()
    fill(history, 3)
    assert history.since(history.epoch + suffix) is None


def test_since_refuses_another_epoch(make: Factory) -> None:
    """An id from another store (another epoch) means history was reset."""
    first, second = make(), make()
    ids = fill(first, 3)
    fill(second, 3)
    assert second.since(ids[0]) is None


def test_private_messages_take_ids_but_are_not_kept(make: Factory) -> None:
    """A private message gets the next id but never appears in recent or since."""
    history = make()
    before = fill(history, 1)
    secret = history.append("bob", "psst", 1.0, identity="bob", cid="p", to="alice")
    after = fill(history, 1, start=1)
    assert before[0] < secret.id < after[0]
    assert [message.text for message in history.recent(10)] == ["m0", "m1"]
    assert texts(history, before[0]) == ["m1"]
    assert texts(history, secret.id) == ["m1"]


def test_private_messages_do_not_hide_a_gap(make: Factory) -> None:
    """Dropping public messages is still reported when private ones came in between."""
    history = make(limit=1)
    first = fill(history, 1)
    history.append("bob", "psst", 1.0, identity="bob", cid="p", to="alice")
    fill(history, 2, start=1)
    assert history.since(first[0]) is None


def test_find_returns_the_id_of_an_earlier_send(make: Factory) -> None:
    """find(identity, cid) returns the id that send got, for public and private sends alike."""
    history = make()
    public = history.append("alice", "hi", 1.0, identity="alice", cid="c1")
    private = history.append("alice", "psst", 2.0, identity="alice", cid="c2", to="bob")
    assert history.find("alice", "c1") == public.id
    assert history.find("alice", "c2") == private.id
    assert history.find("bob", "c1") is None


def test_dedupe_forgets_the_oldest(make: Factory) -> None:
    """A store remembers only the newest ``dedupe`` (identity, cid) pairs."""
    history = make(dedupe=2)
    fill(history, 3)
    assert history.find("alice", "c0") is None
    assert history.find("alice", "c1") is not None


def test_tokens_are_replaced(make: Factory) -> None:
    """set_token makes the new token the only one for that name key."""
    history = make()
    assert history.token("alice") is None
    history.set_token("alice", "t1")
    history.set_token("alice", "t2")
    assert history.token("alice") == "t2"


@pytest.mark.parametrize(
    "build",
    [
        lambda: MemoryHistory(-1),
        lambda: MemoryHistory(dedupe=-1),
        lambda: SqliteHistory(":memory:", limit=-1),
    ],
)
def test_negative_sizes_are_refused(build: Callable[[], History]) -> None:
    """A negative limit or dedupe size is a ValueError."""
    with pytest.raises(ValueError, match="negative"):
        build()


@given(count=st.integers(0, 30), limit=st.integers(0, 10), seen=st.integers(0, 30))
def test_since_is_exact_or_none(count: int, limit: int, seen: int) -> None:
    """For any id, since gives exactly the later messages, or None only if one was dropped."""
    with SqliteHistory(":memory:", limit=limit) as sqlite:
        for history in (MemoryHistory(limit), sqlite):
            ids = fill(history, count)
            if seen < count:
                later = [f"m{n}" for n in range(seen + 1, count)]
                dropped = count - seen - 1 > limit
                assert texts(history, ids[seen]) == (None if dropped else later)


def test_sqlite_keeps_everything_across_a_restart(tmp_path: Path) -> None:
    """A reopened SQLite store has the same epoch, messages, dedupe and tokens, and goes on."""
    path = tmp_path / "chat.sqlite3"
    with SqliteHistory(path) as first:
        ids = fill(first, 3)
        first.set_token("alice", "tok")
        epoch = first.epoch
    with SqliteHistory(path) as second:
        assert second.epoch == epoch
        assert texts(second, ids[0]) == ["m1", "m2"]
        assert second.find("alice", "c2") == ids[2]
        assert second.token("alice") == "tok"
        assert fill(second, 1, start=3)[0] > ids[-1]


def test_sqlite_applies_a_smaller_limit_on_open(tmp_path: Path) -> None:
    """Reopening with a smaller limit trims the file and reports the gap it makes."""
    path = tmp_path / "chat.sqlite3"
    with SqliteHistory(path) as first:
        ids = fill(first, 5)
    with SqliteHistory(path, limit=2) as second:
        assert [message.text for message in second.recent(10)] == ["m3", "m4"]
        assert second.since(ids[1]) is None
        assert texts(second, ids[2]) == ["m3", "m4"]


def test_sqlite_refuses_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    """A file that is not SQLite raises StoreError naming it."""
    path = tmp_path / "notes.txt"
    path.write_text("not a database, just some notes\n" * 100)
    with pytest.raises(StoreError, match=r"notes\.txt"):
        SqliteHistory(path)


def test_sqlite_refuses_another_schema(tmp_path: Path) -> None:
    """A store written by an incompatible version raises StoreError instead of guessing."""
    path = tmp_path / "chat.sqlite3"
    SqliteHistory(path).close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE state SET schema = 99")
    db.close()
    with pytest.raises(StoreError, match="schema 99"):
        SqliteHistory(path)


def test_sqlite_context_manager_closes(tmp_path: Path) -> None:
    """Leaving the with block closes the database."""
    with SqliteHistory(tmp_path / "chat.sqlite3") as history:
        pass
    with pytest.raises(sqlite3.ProgrammingError):
        history.recent(1)


def test_recent_and_since_stop_at_upto(make: Factory) -> None:
    """With ``upto``, nothing newer than that id is returned: a joiner's history ends there."""
    history = make()
    ids = fill(history, 5)
    assert [m.text for m in history.recent(10, ids[2])] == ["m0", "m1", "m2"]
    missed = history.since(ids[0], ids[3])
    assert missed is not None
    assert [m.text for m in missed] == ["m1", "m2", "m3"]
    assert history.newest() == ids[-1]


def test_tokens_are_bounded_least_recently_used_first(tmp_path: Path) -> None:
    """Past ``tokens`` names, the token used longest ago is forgotten; a resume is a use."""
    now = [0.0]
    with SqliteHistory(tmp_path / "t.sqlite3", tokens=2, clock=lambda: now[0]) as sqlite:
        for history in (MemoryHistory(tokens=2, clock=lambda: now[0]), sqlite):
            for key in ("a", "b"):
                now[0] += 1
                history.set_token(key, f"t-{key}")
            now[0] += 1
            history.set_token("a", "t-a")  # a resume of a: now b is the oldest
            now[0] += 1
            history.set_token("c", "t-c")
            assert [history.token(key) for key in "abc"] == ["t-a", None, "t-c"]


def test_idle_tokens_expire(tmp_path: Path) -> None:
    """A token unused for ``token_ttl`` seconds is gone, so its name joins afresh."""
    now = [0.0]
    with SqliteHistory(tmp_path / "t.sqlite3", token_ttl=10, clock=lambda: now[0]) as sqlite:
        for history in (MemoryHistory(token_ttl=10, clock=lambda: now[0]), sqlite):
            now[0] = 100.0
            history.set_token("a", "t-a")
            now[0] = 109.0
            assert history.token("a") == "t-a"
            now[0] = 111.0
            assert history.token("a") is None


def test_a_schema_1_file_is_upgraded_in_place(tmp_path: Path) -> None:
    """A file written before dedupe by identity keeps its messages and tokens."""
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as db:
        db.executescript(
            """
            CREATE TABLE state (id INTEGER PRIMARY KEY CHECK (id = 0), schema INTEGER NOT NULL,
                epoch TEXT NOT NULL, last_seq INTEGER NOT NULL, evicted INTEGER NOT NULL);
            CREATE TABLE messages (seq INTEGER PRIMARY KEY, name TEXT NOT NULL,
                text TEXT NOT NULL, ts REAL NOT NULL);
            CREATE TABLE dedupe (name TEXT NOT NULL, cid TEXT NOT NULL, seq INTEGER NOT NULL,
                PRIMARY KEY (name, cid));
            CREATE TABLE tokens (key TEXT PRIMARY KEY, token TEXT NOT NULL);
            INSERT INTO state VALUES (0, 1, 'old', 1, 0);
            INSERT INTO messages VALUES (1, 'alice', 'hello', 1.0);
            INSERT INTO dedupe VALUES ('alice', 'c1', 1);
            INSERT INTO tokens VALUES ('alice', 'tok');
            """
        )
    db.close()
    with SqliteHistory(path) as history:
        assert [m.text for m in history.recent(5)] == ["hello"]
        assert history.token("alice") == "tok"
        assert history.find("tok", "c1") is None
        assert history.append("bob", "hi", 2.0, identity="x", cid="c1").id == "old-000000000002"


@pytest.mark.parametrize(
    ("where", "says"),
    [
        (lambda tmp: tmp, "is a folder"),
        (lambda tmp: tmp / "missing" / "chat.sqlite3", "does not exist"),
    ],
)
def test_sqlite_refuses_a_path_that_cannot_be_a_file_in_one_line(
    tmp_path: Path, where: Callable[[Path], Path], says: str
) -> None:
    """A folder, or a file in a missing folder, raises StoreError with one line naming it."""
    with pytest.raises(StoreError, match=says) as caught:
        SqliteHistory(where(tmp_path))
    assert "\n" not in str(caught.value)
    assert caught.value.__cause__ is None
