"""Tests for wslib.storage.sqlite under faults: a real server on port 0, a real second process.

A database locked by another process, or a file that cannot be a database, must never stall
the event loop or crash the server: the sender gets ``unavailable``, the others chat on, the
server recovers when the storage does, and bad paths fail at start in one line.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from support import (
    HOLD_LOCK,
    TIMEOUT,
    Child,
    child_env,
    http_get,
    recv_json,
    require,
    run_async,
    spawn,
)
from websockets.asyncio.client import ClientConnection, connect

from wslib import Backoff, ChatClient, Server
from wslib.cli import main
from wslib.core.codes import CLOSE_TRY_AGAIN_LATER
from wslib.storage.sqlite import SqliteHistory


async def join(connection: ClientConnection, name: str) -> dict[str, Any]:
    """Join as ``name`` and return the welcome (history replay is read and dropped)."""
    await connection.send(json.dumps({"type": "join", "name": name, "v": 2}))
    welcome: dict[str, Any] = await recv_json(connection)
    for _ in range(welcome["replay"]):
        await recv_json(connection)
    return welcome


async def say(connection: ClientConnection, cid: str, text: str) -> None:
    """Send ``text`` with client id ``cid``."""
    await connection.send(json.dumps({"type": "send", "cid": cid, "text": text}))


def test_a_database_locked_by_another_process_refuses_only_that_send(tmp_path: Path) -> None:
    """While another process locks the file: unavailable to the sender, the loop stays free."""
    path = tmp_path / "chat.sqlite3"

    async def body() -> None:
        async with (
            Server(port=0, history_db=str(path)) as server,
            connect(server.chat_url) as alice,
            connect(server.chat_url) as bob,
        ):
            await join(alice, "alice")
            await join(bob, "bob")
            assert (await recv_json(alice))["type"] == "joined"
            await say(alice, "a1", "before the lock")
            assert (await recv_json(alice))["type"] == "ack"
            assert (await recv_json(alice))["text"] == "before the lock"
            assert (await recv_json(bob))["text"] == "before the lock"

            with spawn("-c", HOLD_LOCK, str(path)) as holder:
                assert holder.line() == "locked"
                await say(alice, "a2", "during the lock")
                # The send waits on the worker thread; the loop answers everything else.
                assert (await http_get(server.port, "/healthz")).status == 200
                await bob.send('{"type": "typing"}')
                assert await recv_json(alice) == {"type": "typing", "name": "bob"}
                error = await recv_json(alice)
                assert (error["type"], error["code"], error["cid"]) == (
                    "error",
                    "unavailable",
                    "a2",
                )
                assert holder.proc.stdin is not None
                holder.proc.stdin.close()  # let go of the lock
                assert holder.wait() == 0

            await say(alice, "a2", "during the lock")  # the client's retry, same cid
            ack = await recv_json(alice)
            assert (ack["type"], ack["duplicate"]) == ("ack", False)
            assert (await recv_json(bob))["text"] == "during the lock"

        async with Server(port=0, history_db=str(path)) as again, connect(again.chat_url) as carol:
            await carol.send(json.dumps({"type": "join", "name": "carol"}))
            welcome = await recv_json(carol)
            texts = [(await recv_json(carol))["text"] for _ in range(welcome["replay"])]
            assert texts == ["before the lock", "during the lock"]  # nothing acked was lost

    run_async(body())


def as_plain_user(args: list[str]) -> list[str]:
    """Return ``args`` to run so that read-only permissions hold, even when this is root.

    Root writes through read-only permissions by its capabilities CAP_DAC_OVERRIDE and
    CAP_DAC_READ_SEARCH; ``setpriv`` (util-linux) starts the process without them.
    """
    if os.geteuid() != 0:
        return args
    setpriv = require("setpriv", "it lets root meet read-only permissions as a user does")
    caps = "-dac_override,-dac_read_search"
    return [setpriv, f"--inh-caps={caps}", f"--bounding-set={caps}", *args]


def test_a_read_only_folder_refuses_sends_until_it_is_writable_again(tmp_path: Path) -> None:
    """With the folder made read-only while serving, sends get unavailable, then work again."""
    folder = tmp_path / "data"
    folder.mkdir()
    path = folder / "chat.sqlite3"
    serve = [sys.executable, "-m", "wslib", "serve", "--port", "0", "--history-db", str(path)]
    server = Child(as_plain_user(serve), child_env())

    async def body(chat_url: str) -> None:
        async with connect(chat_url) as alice, connect(chat_url) as bob:
            await join(alice, "alice")
            await join(bob, "bob")
            assert (await recv_json(alice))["type"] == "joined"
            os.chmod(folder, stat.S_IRUSR | stat.S_IXUSR)
            os.chmod(path, stat.S_IRUSR)
            try:
                await say(alice, "a1", "refused")
                error = await recv_json(alice)
                assert (error["code"], error["cid"]) == ("unavailable", "a1")
                await say(bob, "b1", "also refused")  # the server is still serving
                assert (await recv_json(bob))["code"] == "unavailable"
            finally:
                os.chmod(folder, stat.S_IRWXU)
                os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)
            await say(alice, "a1", "accepted")
            assert (await recv_json(alice))["type"] == "ack"
            assert (await recv_json(bob))["text"] == "accepted"

    try:
        run_async(body(server.line() + "chat"))
    finally:
        server.close()


def corrupt(tmp_path: Path) -> Path:
    """Return a file that is not a database."""
    path = tmp_path / "notes.sqlite3"
    path.write_text("these are notes, not a database\n" * 100)
    return path


def read_only(tmp_path: Path) -> Path:
    """Return a database file that may not be written."""
    path = tmp_path / "ro.sqlite3"
    SqliteHistory(path).close()
    os.chmod(path, stat.S_IRUSR)
    return path


@pytest.mark.parametrize(
    ("where", "says"),
    [
        (lambda tmp: tmp, "is a folder"),
        (lambda tmp: tmp / "missing" / "chat.sqlite3", "does not exist"),
        (corrupt, "file is not a database"),
    ],
    ids=["folder", "missing folder", "corrupt"],
)
def test_serve_with_a_bad_history_db_fails_at_start_in_one_line(
    tmp_path: Path, where: Any, says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """``wslib serve --history-db`` with an unusable path exits 1 with one line, no traceback."""
    path = where(tmp_path)
    code = main(["serve", "--port", "0", "--history-db", str(path)])
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith(f"wslib: {path}")
    assert says in err
    assert len(err.splitlines()) == 1


def test_a_disk_error_refuses_sends_and_the_chat_recovers_when_it_clears(tmp_path: Path) -> None:
    """When SQLite cannot write its journal, sends get unavailable; once it can, they pass."""
    path = tmp_path / "chat.sqlite3"
    journal = tmp_path / "chat.sqlite3-journal"

    async def body() -> None:
        async with (
            Server(port=0, history_db=str(path)) as server,
            connect(server.chat_url) as alice,
            connect(server.chat_url) as bob,
        ):
            await join(alice, "alice")
            await join(bob, "bob")
            assert (await recv_json(alice))["type"] == "joined"
            journal.mkdir()  # a folder where the journal file must go: every write fails
            try:
                await say(alice, "a1", "refused")
                error = await recv_json(alice)
                assert (error["code"], error["cid"]) == ("unavailable", "a1")
                await bob.send('{"type": "typing"}')  # the others are not affected
                assert await recv_json(alice) == {"type": "typing", "name": "bob"}
            finally:
                journal.rmdir()
            await say(alice, "a1", "accepted")
            assert (await recv_json(alice))["type"] == "ack"
            assert (await recv_json(bob))["text"] == "accepted"

    run_async(body())


def test_a_join_refused_while_the_database_is_locked_is_retried_until_it_joins(
    tmp_path: Path,
) -> None:
    """A join the store cannot record closes with 1013; the kit's client rejoins once it can."""
    path = tmp_path / "chat.sqlite3"

    async def body() -> None:
        async with Server(port=0, history_db=str(path)) as server, connect(server.chat_url) as bob:
            await join(bob, "bob")
            with spawn("-c", HOLD_LOCK, str(path)) as holder:
                assert holder.line() == "locked"
                quick = Backoff(initial=0.2, minimum=0.1, maximum=0.5)
                carol = ChatClient(server.chat_url, "carol", reconnect=quick)
                await carol.start(2 * TIMEOUT)
                refused = lambda: carol.status.code == CLOSE_TRY_AGAIN_LATER  # noqa: E731
                await carol.wait_for(refused, 4 * TIMEOUT)
                assert carol.status.state == "reconnecting"
                assert [e["code"] for e in carol.errors][:1] == ["unavailable"]
                assert not carol.joined
                assert holder.proc.stdin is not None
                holder.proc.stdin.close()  # the storage comes back
                assert holder.wait() == 0
            try:
                await carol.wait_for(lambda: carol.joined, 4 * TIMEOUT)
                assert await recv_json(bob) == {"type": "joined", "name": "carol"}
                cid = await carol.send("made it")
                await carol.wait_for(lambda: cid not in carol.pending, 2 * TIMEOUT)
                assert (await recv_json(bob))["text"] == "made it"
            finally:
                await carol.stop()

    run_async(body())


def test_serve_with_a_read_only_history_db_fails_at_start_in_one_line(tmp_path: Path) -> None:
    """A database file that may not be written: exit 1 and one line, as a user meets it."""
    path = read_only(tmp_path)
    serve = [sys.executable, "-m", "wslib", "serve", "--port", "0", "--history-db", str(path)]
    done = subprocess.run(
        as_plain_user(serve),
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=4 * TIMEOUT,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.startswith(f"wslib: {path}")
    assert "readonly" in done.stderr
    assert len(done.stderr.splitlines()) == 1
